//! Python exceptions for the core's errors. `TokenError.reason` is the
//! core's `VerifyError::kind()`; each reason has a subclass, so
//! `except Expired:` works. `AuthError` covers what the handler refuses
//! before or after the token check (`missing`, `session_too_old`, ...).

use encapsulated_token::VerifyError;
use encapsulated_token::handler::AuthError as CoreAuthError;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

create_exception!(
    encapsulated_token,
    AuthError,
    PyException,
    "A request was not authenticated; `.reason` says why."
);
create_exception!(
    encapsulated_token,
    TokenError,
    AuthError,
    "A token was refused; `.reason` is the core's reason string."
);
create_exception!(encapsulated_token, TooLong, TokenError, "reason `too_long`");
create_exception!(
    encapsulated_token,
    Malformed,
    TokenError,
    "reason `malformed`"
);
create_exception!(
    encapsulated_token,
    UnsupportedVersion,
    TokenError,
    "reason `unsupported_version`"
);
create_exception!(
    encapsulated_token,
    UnknownKeyId,
    TokenError,
    "reason `unknown_key_id`"
);
create_exception!(encapsulated_token, BadTag, TokenError, "reason `bad_tag`");
create_exception!(encapsulated_token, Expired, TokenError, "reason `expired`");
create_exception!(
    encapsulated_token,
    NotYetValid,
    TokenError,
    "reason `not_yet_valid`"
);
create_exception!(
    encapsulated_token,
    WrongAudience,
    TokenError,
    "reason `wrong_audience`"
);
create_exception!(
    encapsulated_token,
    KeyDirError,
    PyValueError,
    "A key directory or ring document could not be loaded."
);

/// Every reason with its subclass, as the core names them.
fn reasons(py: Python<'_>) -> [(&'static str, Bound<'_, pyo3::types::PyType>); 8] {
    [
        ("too_long", py.get_type::<TooLong>()),
        ("malformed", py.get_type::<Malformed>()),
        ("unsupported_version", py.get_type::<UnsupportedVersion>()),
        ("unknown_key_id", py.get_type::<UnknownKeyId>()),
        ("bad_tag", py.get_type::<BadTag>()),
        ("expired", py.get_type::<Expired>()),
        ("not_yet_valid", py.get_type::<NotYetValid>()),
        ("wrong_audience", py.get_type::<WrongAudience>()),
    ]
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    for (name, class) in [
        ("AuthError", py.get_type::<AuthError>()),
        ("TokenError", py.get_type::<TokenError>()),
        ("KeyDirError", py.get_type::<KeyDirError>()),
    ] {
        class.setattr("__module__", "encapsulated_token")?;
        m.add(name, class)?;
    }
    py.get_type::<AuthError>().setattr("reason", py.None())?;
    // The character a `malformed` token goes wrong at; None for the others.
    py.get_type::<TokenError>().setattr("position", py.None())?;
    for (reason, class) in reasons(py) {
        class.setattr("reason", reason)?;
        class.setattr("__module__", "encapsulated_token")?;
        m.add(class.name()?.to_string(), class)?;
    }
    Ok(())
}

/// The `TokenError` subclass for `error`, its message the core's; a
/// `malformed` one also carries the `position`.
pub(crate) fn token_error(py: Python<'_>, error: &VerifyError) -> PyErr {
    let kind = error.kind();
    let class = reasons(py)
        .into_iter()
        .find(|(reason, _)| *reason == kind)
        .map(|(_, class)| class)
        .unwrap_or_else(|| py.get_type::<TokenError>());
    let raised = with_reason(py, PyErr::from_type(class, error.to_string()), kind);
    if let VerifyError::Malformed { position, .. } = error {
        let _ = raised.value(py).setattr("position", position);
    }
    raised
}

/// A refusal of the handler: a token's as `token_error`, others an
/// `AuthError` carrying the handler's reason.
pub(crate) fn auth_error(py: Python<'_>, error: &CoreAuthError) -> PyErr {
    match error {
        CoreAuthError::Token(e) => token_error(py, e),
        other => with_reason(py, AuthError::new_err(other.to_string()), other.kind()),
    }
}

fn with_reason(py: Python<'_>, error: PyErr, reason: &'static str) -> PyErr {
    // Setting an attribute on a fresh exception cannot fail; if it did, the
    // class attribute (or None) would still answer `.reason`.
    let _ = error.value(py).setattr("reason", reason);
    error
}
