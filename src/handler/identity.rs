//! Who a request is from, once its token verified and its user was found.

use std::borrow::Borrow;
use std::collections::BTreeMap;

use time::OffsetDateTime;

use crate::claims::TokenId;
use crate::keys::KeyId;
use crate::verify::{TokenBuffer, VerifiedToken};

/// Where the credential of a request came from.
///
/// ```
/// use encapsulated_token::handler::CredentialSource;
/// assert_ne!(CredentialSource::Cookie, CredentialSource::Bearer);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CredentialSource {
    /// The login cookie: a browser session. Only these are refreshed.
    Cookie,
    /// `Authorization: Bearer`: a server-to-server client.
    Bearer,
}

/// The verified identity of a request: the token's claims, owned, plus where
/// the token came from. The [`AuthLayer`](super::AuthLayer) puts it in the
/// request extensions; with the `axum` feature it is an extractor.
///
/// ```
/// use encapsulated_token::handler::{AuthConfig, Authenticator, CredentialSource};
/// use encapsulated_token::{Key, KeyRing};
/// use http::{HeaderMap, header};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let auth = Authenticator::new(KeyRing::new(Key::generate()?), AuthConfig::new(),
///     std::collections::BTreeSet::from(["bob".to_string()]))?;
/// let token = auth.mint(&auth.claims_for("bob"))?;
/// let mut headers = HeaderMap::new();
/// headers.insert(header::AUTHORIZATION, format!("Bearer {token}").parse()?);
///
/// let identity = auth.authenticate(&headers).await?;
/// assert_eq!(identity.subject, "bob");
/// assert_eq!(identity.source, CredentialSource::Bearer);
/// assert_eq!(identity.expires_at - identity.issued_at, time::Duration::hours(12));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Identity {
    /// The user id.
    pub subject: String,
    /// The audience the token was minted for, if any.
    pub audience: Option<String>,
    /// The token's attributes (role, tenant...).
    pub attributes: BTreeMap<String, String>,
    /// The token's unique id, for logs and revocation lists.
    pub token_id: TokenId,
    /// When the token was minted.
    pub issued_at: OffsetDateTime,
    /// When the token expires.
    pub expires_at: OffsetDateTime,
    /// When the session began: the login, kept through refreshes.
    pub session_started_at: OffsetDateTime,
    /// The key that signed the token.
    pub key_id: KeyId,
    /// Cookie or bearer.
    pub source: CredentialSource,
}

impl Identity {
    pub(crate) fn new(
        token: &VerifiedToken<impl Borrow<TokenBuffer>>,
        source: CredentialSource,
    ) -> Self {
        Self {
            subject: token.subject().to_owned(),
            audience: token.audience().map(str::to_owned),
            attributes: token
                .attributes()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect(),
            token_id: token.token_id(),
            issued_at: token.issued_at(),
            expires_at: token.expires_at(),
            session_started_at: token.session_started_at(),
            key_id: token.key_id(),
            source,
        }
    }

    /// The value of attribute `name`, if the token has it.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let auth = Authenticator::new(KeyRing::new(Key::generate()?), AuthConfig::new(),
    ///     std::collections::HashSet::from(["bob".to_string()]))?;
    /// let token = auth.mint(&auth.claims_for("bob").with_attribute("tenant", "acme"))?;
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse()?);
    /// let identity = auth.authenticate(&headers).await?;
    /// assert_eq!(identity.attribute("tenant"), Some("acme"));
    /// assert_eq!(identity.attribute("role"), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.get(name).map(String::as_str)
    }
}
