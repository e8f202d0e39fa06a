//! `ngx_http_etoken_module`: nginx verifies encapsulated tokens in-process
//! with the core's [`encapsulated_token::Verifier`], the same code as
//! `etoken serve`. Directives, variables and a config are in `README.md`.
//!
//! Every `unsafe` line is in [`ffi`]; the decision is safe Rust in
//! [`guard`] and [`users`], tested without nginx.
#![deny(unsafe_code)]

// Not in unit tests: they run without nginx to link against.
#[cfg(not(test))]
#[allow(unsafe_code)]
mod ffi;
pub mod guard;
pub mod refresh;
pub mod users;
