//! What an operator types: one module per noun, each with its clap
//! subcommands and what they do.

pub mod directory;
pub mod keys;
pub mod service_store;
pub mod services;
pub mod tokens;
pub mod users;
