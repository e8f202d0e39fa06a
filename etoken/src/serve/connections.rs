//! Accepting connections, so that slow or idle clients cannot hold the
//! server: hyper's HTTP/1 connection with its header read timeout (which
//! also closes a kept-alive connection idle that long), a cap on
//! connections at once, and hyper-util's graceful shutdown. axum::serve
//! exposes none of these settings.

use std::future::Future;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use clap::Args;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::commands::tokens::parse_ttl;

/// Open files kept free of connections: key and users files, the log.
const RESERVED_FILES: u64 = 128;

/// Connections the kernel holds for us until accepted. std's 128 overflows
/// within milliseconds of a burst of connects (a slow-client attack), and a
/// dropped SYN costs the next honest client a one-second retransmit; the
/// kernel caps it at `net.core.somaxconn`.
const BACKLOG: u32 = 1024;

/// Listens on `addr` with [`BACKLOG`], address reuse on as std has it.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// How clients are held to account, as flags of `etoken serve`.
#[derive(Args, Clone)]
pub struct Limits {
    /// How long a client may take to send a request's headers, and how long
    /// a kept-alive connection may sit idle waiting for the next request;
    /// then the connection is closed. A request body that stalls this long
    /// is cut off too.
    #[arg(long, value_name = "PERIOD", default_value = "10s", value_parser = parse_ttl)]
    pub header_read_timeout: Duration,
    /// At most N connections at once; more clients wait in the listen
    /// backlog until a connection closes [default: the open-file limit less
    /// 128].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: Option<u32>,
}

impl Limits {
    /// `--max-connections`, or what the process's open-file limit allows.
    pub fn max_connections(&self) -> usize {
        match self.max_connections {
            Some(n) => n as usize,
            None => {
                let files = rustix::process::getrlimit(rustix::process::Resource::Nofile)
                    .current
                    .unwrap_or(u64::MAX);
                let spare = files.saturating_sub(RESERVED_FILES).max(16);
                usize::try_from(spare)
                    .unwrap_or(usize::MAX)
                    .min(Semaphore::MAX_PERMITS)
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops
/// accepting and waits for the connections to finish their requests.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections()));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        // A free slot first: at the cap, new clients wait in the backlog
        // and those in progress are not disturbed.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    pause_after(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The peer's address, for `ConnectInfo` (login throttling).
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // A header timeout, a reset, a malformed request: the
                // client's doing, not worth more than a debug line.
                tracing::debug!("connection from {peer}: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// After a failed accept: a connection the client gave up on costs
/// nothing; anything else (out of file descriptors) is logged and waited
/// out for a moment instead of spinning.
async fn pause_after(error: &std::io::Error) {
    if matches!(
        error.kind(),
        ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset | ErrorKind::Interrupted
    ) {
        return;
    }
    tracing::warn!("cannot accept a connection: {error}; retrying in 1s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
