//! `etoken serve`: the publish-tier auth server. It logs users in against
//! this instance's users file, sets the `login-token` cookie, answers nginx
//! `auth_request` subrequests on `/auth`, and follows the key directory as
//! operators rotate keys, without a restart.

mod app;
mod auth;
mod client;
mod connections;
mod data;
mod developer;
mod directory;
mod exchange;
mod farm;
mod form;
mod guard;
mod health;
mod logging;
mod login;
mod metrics;
mod page;
mod redirect;
mod reload;
mod settings;
pub(crate) mod sso;
mod throttle;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use encapsulated_token::directory::Stateful;
use encapsulated_token::handler::{Authenticator, DEFAULT_COOKIE_NAME};
use tokio::signal::unix::{SignalKind, signal};
use tracing::Instrument;
use url::Url;

use crate::commands::tokens::parse_ttl;
use crate::grants::TokenSettings;
use crate::keydir::{describe, open_ring};
use crate::services::Services;
use crate::users::Users;
use client::TrustedProxies;
use directory::{Directory, LateUsers, LiveServices};
use etoken::public_url::PublicUrl;
use reload::{LiveUsers, ReloadHealth, Watcher};
use settings::Cookies;
use throttle::Throttle;

/// `etoken serve`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").args(["users", "directory"])))]
pub struct ServeArgs {
    /// The key directory. Without --keys, the embedded default
    /// ./etoken-data/ is used, and made on first start.
    #[arg(long, value_name = "DIR", env = "ETOKEN_KEYS", requires = "source")]
    keys: Option<PathBuf>,
    /// The users file: who may log in, and who exists, on this instance.
    #[arg(long, value_name = "FILE", env = "ETOKEN_USERS", requires = "keys")]
    users: Option<PathBuf>,
    /// The farm-wide directory instead of --users and --services:
    /// redis://HOST:PORT/DB. Every instance holds a snapshot in memory and
    /// follows changes at once; requests never wait on Redis.
    #[arg(
        long,
        value_name = "URL",
        env = "ETOKEN_DIRECTORY",
        requires = "keys",
        conflicts_with_all = ["users", "services"]
    )]
    directory: Option<String>,
    /// encapsulated: sessions live in the cookie only. stateful: each login
    /// is also recorded in the --directory's Redis and checked on every
    /// request (logout ends it at once; Redis down answers 503).
    #[arg(long, value_enum, default_value = "encapsulated")]
    mode: Mode,
    /// The services file: the technical accounts that may exchange
    /// credentials for access tokens here (`etoken service create`).
    /// Without it no account exists, except under the embedded default,
    /// which keeps ./etoken-data/services.json (made empty when missing).
    #[arg(long, value_name = "FILE", env = "ETOKEN_SERVICES")]
    services: Option<PathBuf>,
    /// The URL clients reach the farm at, e.g. the load balancer's
    /// (repeatable): what JWT assertions' audience and metascopes name
    /// [default: http://localhost:PORT and http://127.0.0.1:PORT].
    #[arg(long = "public-url", value_name = "URL")]
    public_urls: Vec<PublicUrl>,
    /// The lifetime of access tokens from the token endpoints and of
    /// local development tokens.
    #[arg(long, value_name = "TTL", default_value = "24h", value_parser = parse_ttl)]
    access_token_ttl: Duration,
    /// The address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// This instance's name, sent in the X-Instance header of every
    /// response [default: HOSTNAME:PORT].
    #[arg(long, value_name = "NAME")]
    instance: Option<String>,
    /// The audience tokens are minted for and checked against: 1 to 64
    /// bytes of text (an empty one is refused; omit the flag for none).
    #[arg(long, value_name = "A")]
    audience: Option<String>,
    /// The lifetime of a login token: 12h, 30m, 3600s; at most 400 days.
    #[arg(long, value_name = "TTL", default_value = "12h", value_parser = parse_ttl)]
    ttl: Duration,
    /// The absolute lifetime of a session, counted from the login however
    /// often its cookie is refreshed (the idle timeout is --ttl).
    #[arg(long, value_name = "PERIOD", default_value = "7d", value_parser = parse_ttl)]
    max_session: Duration,
    /// Requests under this path prefix are authenticated but never refresh
    /// the cookie (background polling); repeatable. Requests with
    /// `X-Token-Refresh: skip` never refresh either.
    #[arg(long = "no-refresh-path", value_name = "PREFIX")]
    no_refresh_paths: Vec<String>,
    /// Login attempts per account: N at once, then one more per PERIOD
    /// (a success starts the account afresh). Past it: 429, no hashing.
    #[arg(long, value_name = "N/PERIOD", default_value = "5/1m", value_parser = throttle::parse_limit)]
    login_limit_account: throttle::Limit,
    /// Login attempts per client address: N at once, then one more per PERIOD.
    #[arg(long, value_name = "N/PERIOD", default_value = "30/10s", value_parser = throttle::parse_limit)]
    login_limit_address: throttle::Limit,
    /// A proxy (address or network) whose X-Forwarded-For names the client,
    /// for login throttling; repeatable. Without it, the peer is the client.
    #[arg(long = "trusted-proxy", value_name = "ADDR")]
    trusted_proxies: Vec<String>,
    /// How often the key directory and users file are checked for changes
    /// (SIGHUP checks at once).
    #[arg(long, value_name = "PERIOD", default_value = "2s", value_parser = parse_ttl)]
    reload_interval: Duration,
    /// Cookies without the Secure attribute, for plain-http local
    /// development only. On by default for the embedded default when it
    /// listens on loopback (127.0.0.0/8, ::1).
    #[arg(long)]
    insecure_cookies: bool,
    /// The login cookie's name. Behind HTTPS, __Host-login-token keeps
    /// sibling subdomains and plain-http pages from planting or overwriting
    /// it (a __Host- name needs Secure cookies).
    #[arg(long, value_name = "NAME", default_value = DEFAULT_COOKIE_NAME)]
    cookie_name: String,
    /// Serve Prometheus metrics on GET /metrics at this address, apart
    /// from the public one (e.g. 0.0.0.0:9090 for a scraper in the
    /// cluster). Without it nothing is timed or served.
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// How log lines on stderr are written: text for people, json for a
    /// log pipeline (one object per line).
    #[arg(long, value_name = "FORMAT", value_enum, default_value_t)]
    log_format: logging::LogFormat,
    #[command(flatten)]
    limits: connections::Limits,
    #[command(flatten)]
    sso: sso::settings::SsoArgs,
    /// FOR TESTS ONLY: shift this instance's token clock by SECONDS
    /// (negative = behind), to simulate clock skew in a farm; at most 400
    /// days either way.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 0,
        allow_negative_numbers = true
    )]
    clock_offset: i64,
}

/// Whether sessions are checked in a store per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The token is the session: verified offline, nothing per request.
    Encapsulated,
    /// The classic handler's behaviour: each session recorded in Redis.
    Stateful,
}

/// Runs the server until SIGTERM or SIGINT.
pub fn run(args: ServeArgs) -> Result<(), String> {
    logging::init(args.log_format);
    let embedded = args.keys.is_none();
    if args.keys.is_some() && args.users.is_none() && args.directory.is_none() {
        return Err("cannot start: --keys needs --users FILE or --directory URL".into());
    }
    if args.audience.as_deref() == Some(sso::state::AUDIENCE) {
        return Err(format!(
            "cannot start: --audience: {:?} is the single sign-on state cookie's",
            sso::state::AUDIENCE
        ));
    }
    if args.mode == Mode::Stateful && args.directory.is_none() {
        return Err(
            "cannot start: --mode stateful records sessions in Redis: pass --directory URL".into(),
        );
    }
    // Settings first: a start refused for a flag leaves nothing behind.
    let cookies = Cookies::decide(args.insecure_cookies, embedded, args.listen.ip());
    let config = settings::auth_config(&args, cookies)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let (keys, users_file, services_file) = match (args.keys.clone(), args.users.clone()) {
        (Some(keys), users) => (keys, users, args.services.clone()),
        (None, _) => {
            let data = PathBuf::from(data::DATA_DIR);
            if let Some(password) = data::bootstrap(&data)? {
                println!(
                    "created ./{}/ with a new key and user {}; its password, shown only now: {password}",
                    data::DATA_DIR,
                    data::ADMIN
                );
            }
            let (keys, users) = data::paths(&data);
            let services = match args.services.clone() {
                Some(services) => services,
                None => data::ensure_services(&data)?,
            };
            (keys, Some(users), Some(services))
        }
    };
    let ring = open_ring(&keys).map_err(|e| format!("cannot start: {e}"))?;
    let users = match &users_file {
        Some(path) => Users::load(path).map_err(|e| format!("cannot start: {e}"))?,
        None => Users::default(),
    };
    let services = match &services_file {
        Some(path) => Services::load(path).map_err(|e| format!("cannot start: {e}"))?,
        None => Services::default(),
    };
    let live_users = LiveUsers::new(&users);
    let live_services = LiveServices::new(services, services_file.clone());
    let (source, follower) = match (&args.directory, &users_file) {
        (Some(url), _) => {
            let (source, follower) = runtime
                .block_on(farm::connect(url, args.mode, &live_users, &live_services))
                .map_err(|e| format!("cannot start: --directory: {e}"))?;
            (source, Some(follower))
        }
        (None, Some(users_file)) => (
            farm::Source::Files {
                users_file: users_file.clone(),
            },
            None,
        ),
        (None, None) => {
            return Err("cannot start: --keys needs --users FILE or --directory URL".into());
        }
    };
    let directory = Directory {
        users: live_users.clone(),
        services: live_services.clone(),
        late: match &source {
            farm::Source::Redis { writer, .. } => Some(LateUsers::new(writer.clone())),
            farm::Source::Files { .. } => None,
        },
    };
    let auth = match source.sessions() {
        Some(sessions) => Authenticator::new(
            ring.clone(),
            config,
            Stateful::new(directory, sessions.clone()),
        ),
        None => Authenticator::new(ring.clone(), config, directory),
    }
    .map_err(|e| settings::refusal(&e))?;
    settings::probe(&auth)?;
    let metrics = metrics::Metrics::new();
    if args.metrics_listen.is_some() {
        metrics.observe(&auth)?;
    }
    let origins: Vec<Url> = args
        .public_urls
        .iter()
        .filter_map(|url| Url::parse(url.as_str()).ok())
        .collect();
    let guard = guard::Guard::new(&origins, cookies.secure(), args.limits.header_read_timeout);

    runtime.block_on(async move {
        let listener = connections::bind(args.listen)
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let bound = listener
            .local_addr()
            .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let instance = args
            .instance
            .clone()
            .unwrap_or_else(|| format!("{}:{}", hostname(), bound.port()));
        let public_urls = if args.public_urls.is_empty() {
            default_public_urls(bound.port())?
        } else {
            args.public_urls.clone()
        };
        let tokens = TokenSettings {
            public_urls,
            access_token_ttl: args.access_token_ttl,
        };
        // Before the first log line, so a refused name is the only line.
        let reloads = ReloadHealth::counted(metrics.clone());
        let logins = app::Logins {
            throttle: Throttle::new(args.login_limit_address, args.login_limit_account),
            proxies: TrustedProxies::parse(&args.trusted_proxies)
                .map_err(|e| format!("cannot start: {e}"))?,
        };
        let directories = app::Directories {
            users: live_users.clone(),
            services: live_services.clone(),
            source,
            reloads: reloads.clone(),
        };
        let sso = args
            .sso
            .start(&tokens.public_urls[0], cookies.secure())
            .await?;
        if let Some(sso) = &sso {
            tracing::info!(
                "single sign-on at {}; redirect URI {}, back-channel logout URI {}",
                sso.provider.issuer().as_str(),
                sso.redirect_uri,
                sso.redirect_uri
                    .join("backchannel-logout")
                    .map(|u| u.to_string())
                    .unwrap_or_default()
            );
        }
        let app = app::App::new(auth.clone(), directories, logins, tokens, &instance)?
            .with_metrics(metrics.clone())
            .with_sso(sso, args.sso.password_login == sso::settings::Switch::On);
        tracing::info!(
            instance,
            "keys from {}: {}",
            keys.display(),
            describe(&ring)
        );
        if args.clock_offset != 0 {
            tracing::warn!(
                "token clock shifted by {}s (--clock-offset, for tests only)",
                args.clock_offset
            );
        }
        cookies.log(bound.ip());
        match &services_file {
            Some(path) => tracing::info!(
                "services from {}; token endpoints for {}",
                path.display(),
                app.tokens
                    .public_urls
                    .iter()
                    .map(PublicUrl::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            None if args.directory.is_some() => tracing::info!(
                "directory in Redis ({:?} mode): users and services follow it",
                args.mode
            ),
            None => tracing::info!("no --services: the token endpoints know no account"),
        }

        let shutdown = shutdown_signal()?;
        let hangups = signal(SignalKind::hangup())
            .map_err(|e| format!("cannot install a SIGHUP handler: {e}"))?;
        let watcher = Watcher {
            hangups,
            keys,
            users_file,
            interval: args.reload_interval,
            auth: auth.clone(),
            users: live_users.clone(),
            ring,
            health: reloads.clone(),
            services: live_services.clone(),
        };
        let watching = tokio::spawn(
            watcher
                .run()
                .instrument(tracing::info_span!("reload", instance)),
        );
        let metrics_server = match args.metrics_listen {
            Some(addr) => {
                let listener = connections::bind(addr)
                    .map_err(|e| format!("cannot listen on --metrics-listen {addr}: {e}"))?;
                let bound = listener
                    .local_addr()
                    .map_err(|e| format!("cannot listen on --metrics-listen {addr}: {e}"))?;
                println!("metrics on http://{bound}/metrics");
                tracing::info!("metrics on http://{bound}/metrics");
                let routes = metrics::router(metrics.clone(), auth.clone());
                let limits = args.limits.clone();
                Some(tokio::spawn(async move {
                    connections::serve(listener, routes, &limits, std::future::pending()).await
                }))
            }
            None => None,
        };
        let following = follower.map(|follower| tokio::spawn(follower.run()));
        let observing = app::Observing {
            timing: args.metrics_listen.map(|_| metrics.clone()),
            request_spans: args.log_format == logging::LogFormat::Json,
        };
        let app = app::router(app, &guard, observing);
        // The line tests and scripts wait for: the address actually bound.
        println!("listening on http://{bound} as {instance}");
        tracing::info!("listening on http://{bound}");
        connections::serve(listener, app, &args.limits, shutdown).await;
        watching.abort();
        if let Some(following) = following {
            following.abort();
        }
        if let Some(server) = metrics_server {
            server.abort();
        }
        tracing::info!("stopped");
        Ok(())
    })
}

/// Resolves on SIGTERM or SIGINT; requests in flight then finish. The
/// handlers are installed before the server announces itself, so a signal
/// sent right after the listening line is never fatal.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>, String> {
    let handler =
        |kind, name| signal(kind).map_err(|e| format!("cannot install a {name} handler: {e}"));
    let mut terminate = handler(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = handler(SignalKind::interrupt(), "SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("SIGTERM: shutting down gracefully"),
            _ = interrupt.recv() => tracing::info!("SIGINT: shutting down gracefully"),
        }
    })
}

/// The public URLs of an instance nobody named any for: itself on loopback.
fn default_public_urls(port: u16) -> Result<Vec<PublicUrl>, String> {
    ["localhost", "127.0.0.1"]
        .iter()
        .map(|host| format!("http://{host}:{port}").parse())
        .collect()
}

/// The machine's name, for the default instance name.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "etoken".into())
}
