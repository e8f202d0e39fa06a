//! `etoken serve`: the publish-tier auth server.

use clap::Args;

/// `etoken serve`.
#[derive(Args)]
pub struct ServeArgs {}

/// Runs the server until SIGTERM or SIGINT.
pub fn run(_args: ServeArgs) -> Result<(), String> {
    Err("serve: not built yet".into())
}
