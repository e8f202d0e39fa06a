//! An actix-web service behind the authentication handler: `GET /whoami`
//! answers the subject of a valid token (the `login-token` cookie or
//! `Authorization: Bearer`) as text, and 401 without one. Cookies past half
//! their life come back renewed, as `etoken serve` renews them (12 h idle
//! timeout, 7 days at most from the login).
//!
//! ```text
//! etoken key init --dir ./keys
//! cargo run --example actix_app --features actix -- --keys ./keys --listen 127.0.0.1:8080 --user alice
//! curl -i -H "Authorization: Bearer $(etoken mint --keys ./keys --user alice)" http://127.0.0.1:8080/whoami
//! ```
//!
//! Every instance of a farm loads the same key directory, so a token minted
//! by any of them (or by `etoken serve` at login) is accepted by all.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;

use actix_web::{App, HttpServer, web};
use clap::Parser;
use encapsulated_token::KeyRing;
use encapsulated_token::handler::{AuthConfig, Authenticator, Identity};

/// `GET /whoami` behind the encapsulated-token middleware.
#[derive(Parser)]
struct Args {
    /// The key directory the farm shares (`etoken key init`).
    #[arg(long, value_name = "DIR")]
    keys: PathBuf,
    /// Where to listen; port 0 picks a free one (printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// A user of this instance; repeat for more. Valid tokens of anyone
    /// else are refused: the user must exist where the request lands.
    #[arg(long = "user", value_name = "NAME", required = true)]
    users: Vec<String>,
    /// The audience tokens must be minted for, if any.
    #[arg(long, value_name = "A")]
    audience: Option<String>,
}

async fn whoami(identity: Identity) -> String {
    identity.subject
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();
    let args = Args::parse();
    let ring = KeyRing::load(&args.keys)
        .map_err(|e| format!("cannot load the keys in {}: {e}", args.keys.display()))?;
    let mut config = AuthConfig::new();
    if let Some(audience) = args.audience {
        config = config.with_audience(audience);
    }
    let users: HashSet<String> = args.users.into_iter().collect();
    let auth = Authenticator::new(ring, config, users)?;

    let server = HttpServer::new(move || {
        App::new()
            .wrap(auth.middleware())
            .route("/whoami", web::get().to(whoami))
    })
    .bind(args.listen)?;
    for address in server.addrs() {
        println!("listening on http://{address}");
    }
    server.run().await?;
    Ok(())
}
