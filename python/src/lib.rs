//! `encapsulated_token._native`: the core crate's verifier, minter and key
//! directory, called from Python. Nothing here re-implements the format:
//! every check is the core's; this crate converts types and errors.
//!
//! The pure-Python package around it (`encapsulated_token/`) re-exports
//! these classes and holds the framework glue.
#![forbid(unsafe_code)]

mod authenticator;
mod claims;
mod errors;
mod key_source;
mod minter;
mod verifier;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<claims::Claims>()?;
    m.add_class::<verifier::Verifier>()?;
    m.add_class::<minter::Minter>()?;
    m.add_class::<authenticator::Authenticator>()?;
    m.add_class::<authenticator::Authentication>()?;
    m.add(
        "DEFAULT_COOKIE_NAME",
        encapsulated_token::handler::DEFAULT_COOKIE_NAME,
    )?;
    m.add("MAX_TOKEN_LEN", encapsulated_token::MAX_TOKEN_LEN)?;
    Ok(())
}
