//! `Claims`: what a verified token says, as Python values. Times are Unix
//! seconds (int), ids lowercase hex, attributes a fresh `dict` per access.

use std::collections::BTreeMap;

use encapsulated_token::{KeyId, TokenId, VerifiedToken};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The claims of a verified token.
#[pyclass(frozen, module = "encapsulated_token")]
pub(crate) struct Claims {
    #[pyo3(get)]
    subject: String,
    #[pyo3(get)]
    issued_at: i64,
    #[pyo3(get)]
    expires_at: i64,
    #[pyo3(get)]
    session_started_at: i64,
    token_id: TokenId,
    key_id: KeyId,
    #[pyo3(get)]
    audience: Option<String>,
    attributes: BTreeMap<String, String>,
}

impl Claims {
    pub(crate) fn of<B: std::borrow::Borrow<encapsulated_token::TokenBuffer>>(
        token: &VerifiedToken<B>,
    ) -> Self {
        Self {
            subject: token.subject().to_owned(),
            issued_at: token.issued_at().unix_timestamp(),
            expires_at: token.expires_at().unix_timestamp(),
            session_started_at: token.session_started_at().unix_timestamp(),
            token_id: token.token_id(),
            key_id: token.key_id(),
            audience: token.audience().map(str::to_owned),
            attributes: token
                .attributes()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
        }
    }

    pub(crate) fn subject_text(&self) -> &str {
        &self.subject
    }

    pub(crate) fn from_identity(identity: &encapsulated_token::handler::Identity) -> Self {
        Self {
            subject: identity.subject.clone(),
            issued_at: identity.issued_at.unix_timestamp(),
            expires_at: identity.expires_at.unix_timestamp(),
            session_started_at: identity.session_started_at.unix_timestamp(),
            token_id: identity.token_id,
            key_id: identity.key_id,
            audience: identity.audience.clone(),
            attributes: identity.attributes.clone(),
        }
    }
}

#[pymethods]
impl Claims {
    /// The token's id: 32 lowercase hex digits.
    #[getter]
    fn token_id(&self) -> String {
        self.token_id.to_string()
    }

    /// The id of the key that signed the token: 8 lowercase hex digits.
    #[getter]
    fn key_id(&self) -> String {
        self.key_id.to_string()
    }

    /// The attributes, a new dict on every access.
    #[getter]
    fn attributes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in &self.attributes {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    /// The claims as `etoken verify` prints them (less `verified`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("subject", &self.subject)?;
        dict.set_item("issued_at", self.issued_at)?;
        dict.set_item("expires_at", self.expires_at)?;
        dict.set_item("session_started_at", self.session_started_at)?;
        dict.set_item("token_id", self.token_id())?;
        dict.set_item("key_id", self.key_id())?;
        dict.set_item("audience", &self.audience)?;
        dict.set_item("attributes", self.attributes(py)?)?;
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        format!(
            "Claims(subject={:?}, issued_at={}, expires_at={}, session_started_at={}, \
             token_id='{}', key_id='{}', audience={}, attributes={:?})",
            self.subject,
            self.issued_at,
            self.expires_at,
            self.session_started_at,
            self.token_id,
            self.key_id,
            crate::verifier::python_repr(self.audience.clone()),
            self.attributes,
        )
    }
}
