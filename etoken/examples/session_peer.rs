//! The peer of the end-to-end benchmark (benches/e2e, row 5): what a Rust
//! team would pick instead of encapsulated tokens, a minimal axum app with
//! `tower-sessions` and `tower-sessions-redis-store` checking the session
//! in Redis on every request. Dev-only.
//!
//! ```text
//! cargo run --release -p etoken --example session_peer -- 127.0.0.1:8093 redis://127.0.0.1:6390/0
//! curl -c jar http://127.0.0.1:8093/login; curl -b jar http://127.0.0.1:8093/auth
//! ```

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower_sessions::{Session, SessionManagerLayer};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{
    ClientLike, Config, ConnectionConfig, PerformanceConfig, Pool, ReconnectPolicy,
};

/// Sets `user` in a new session (the cookie comes back).
async fn login(session: Session) -> StatusCode {
    match session.insert("user", "alice").await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// 200 when the request's session names a user: one Redis read.
async fn auth(session: Session) -> StatusCode {
    match session.get::<String>("user").await {
        Ok(Some(_)) => StatusCode::OK,
        Ok(None) => StatusCode::UNAUTHORIZED,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(listen), Some(url)) = (args.next(), args.next()) else {
        return Err("usage: session_peer LISTEN_ADDR REDIS_URL".into());
    };
    // Configured as a team would for production, and as `etoken serve`
    // talks to Redis: a command fails after 500 ms instead of hanging,
    // and the pool reconnects every 100 ms after an outage.
    let timeout = std::time::Duration::from_millis(500);
    let performance = PerformanceConfig {
        default_command_timeout: timeout,
        ..Default::default()
    };
    let connection = ConnectionConfig {
        connection_timeout: timeout,
        ..Default::default()
    };
    let reconnect = ReconnectPolicy::new_constant(0, 100);
    let pool = Pool::new(
        Config::from_url(&url)?,
        Some(performance),
        Some(connection),
        Some(reconnect),
        4,
    )?;
    pool.init().await?;
    let sessions = SessionManagerLayer::new(RedisStore::new(pool)).with_secure(false);
    let app = Router::new()
        .route("/login", get(login))
        .route("/auth", get(auth))
        .layer(sessions);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
