//! What a token says: who, since and until when, which token, for which
//! audience, and a few attributes.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[cfg(feature = "os")]
use rand::Rng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// A 128-bit random token id, unique per minted token, so logs and revocation
/// lists can name one token. Shown as 32 lowercase hex digits.
///
/// ```
/// use encapsulated_token::TokenId;
/// let id = TokenId::random();
/// let text = id.to_string();
/// assert_eq!(text.len(), 32);
/// assert_eq!(text.parse::<TokenId>().unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId([u8; 16]);

impl TokenId {
    /// A fresh id from the thread-local CSPRNG (seeded by the OS).
    ///
    /// ```
    /// use encapsulated_token::TokenId;
    /// assert_ne!(TokenId::random(), TokenId::random());
    /// ```
    #[cfg(feature = "os")]
    pub fn random() -> Self {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// An id with the given bytes, for test vectors and replays.
    ///
    /// ```
    /// use encapsulated_token::TokenId;
    /// assert_eq!(TokenId::from_bytes([0; 16]).to_string(), "0".repeat(32));
    /// ```
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    ///
    /// ```
    /// use encapsulated_token::TokenId;
    /// assert_eq!(TokenId::from_bytes([7; 16]).as_bytes(), &[7; 16]);
    /// ```
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({self})")
    }
}

/// The text was not 32 lowercase hex digits.
///
/// ```
/// use encapsulated_token::TokenId;
/// let err = "xyz".parse::<TokenId>().unwrap_err();
/// assert!(err.to_string().contains("32 lowercase hex digits"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseHexError {
    expected_digits: usize,
}

impl fmt::Display for ParseHexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected exactly {} lowercase hex digits",
            self.expected_digits
        )
    }
}

impl std::error::Error for ParseHexError {}

/// Parses exactly `N * 2` lowercase hex digits: one spelling per value.
pub(crate) fn parse_hex<const N: usize>(text: &str) -> Result<[u8; N], ParseHexError> {
    let error = ParseHexError {
        expected_digits: N * 2,
    };
    let digit = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        _ => Err(error.clone()),
    };
    let text = text.as_bytes();
    if text.len() != N * 2 {
        return Err(error);
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Ok(out)
}

impl FromStr for TokenId {
    type Err = ParseHexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex(s).map(Self)
    }
}

impl Serialize for TokenId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TokenId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The claims of a token, owned: what [`Issuer::mint`](crate::Issuer::mint)
/// signs and what [`VerifiedToken::to_claims`](crate::VerifiedToken::to_claims)
/// gives back. Times are whole seconds. Bounds are in [`format`](crate::format)
/// and are enforced at mint and at verify alike.
///
/// As JSON (for `etoken inspect` and the test vectors), times are Unix seconds
/// and the token id is hex.
///
/// ```
/// use encapsulated_token::Claims;
/// use std::time::Duration;
///
/// let claims = Claims::new("alice", Duration::from_secs(3600))
///     .with_audience("publish-farm")
///     .with_attribute("role", "editor");
/// assert_eq!(claims.expires_at - claims.issued_at, time::Duration::hours(1));
/// assert_eq!(claims.attributes["role"], "editor");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Who the token authenticates: a user id, 1 to 255 UTF-8 bytes, no
    /// control characters.
    pub subject: String,
    /// When the token was minted; it is not valid before (less the leeway).
    #[serde(with = "time::serde::timestamp")]
    pub issued_at: OffsetDateTime,
    /// When the token stops being valid (plus the leeway).
    #[serde(with = "time::serde::timestamp")]
    pub expires_at: OffsetDateTime,
    /// When the session this token belongs to began: the login. A refreshed
    /// token is issued anew but keeps it, so an absolute session lifetime
    /// and "sessions before T are over" can be enforced. Not after
    /// `issued_at`.
    #[serde(with = "time::serde::timestamp")]
    pub session_started_at: OffsetDateTime,
    /// Unique per token.
    pub token_id: TokenId,
    /// The farm or tier the token is for; a verifier expecting another
    /// audience refuses it.
    pub audience: Option<String>,
    /// A small map of extra facts (role, tenant...), kept sorted by name.
    pub attributes: BTreeMap<String, String>,
}

impl Claims {
    /// Claims for `subject`, issued now (to the second), valid for `lifetime`,
    /// starting a new session now, with a fresh random token id, no audience
    /// and no attributes.
    ///
    /// ```
    /// use encapsulated_token::Claims;
    /// let claims = Claims::new("alice", std::time::Duration::from_secs(60));
    /// assert_eq!(claims.subject, "alice");
    /// assert_eq!(claims.issued_at.nanosecond(), 0);
    /// ```
    #[cfg(feature = "os")]
    pub fn new(subject: impl Into<String>, lifetime: std::time::Duration) -> Self {
        let now = OffsetDateTime::now_utc();
        let issued_at = now - time::Duration::nanoseconds(i64::from(now.nanosecond()));
        let lifetime = time::Duration::try_from(lifetime).unwrap_or(time::Duration::MAX);
        Self {
            subject: subject.into(),
            issued_at,
            expires_at: issued_at.saturating_add(lifetime),
            session_started_at: issued_at,
            token_id: TokenId::random(),
            audience: None,
            attributes: BTreeMap::new(),
        }
    }

    /// Sets when the session began (a refresh keeps the login's time).
    ///
    /// ```
    /// use encapsulated_token::Claims;
    /// let login = Claims::new("alice", std::time::Duration::from_secs(60));
    /// let refreshed = Claims::new("alice", std::time::Duration::from_secs(60))
    ///     .with_session_started_at(login.session_started_at);
    /// assert_eq!(refreshed.session_started_at, login.issued_at);
    /// ```
    pub fn with_session_started_at(mut self, started_at: OffsetDateTime) -> Self {
        self.session_started_at = started_at;
        self
    }

    /// Sets the audience.
    ///
    /// ```
    /// use encapsulated_token::Claims;
    /// let c = Claims::new("alice", std::time::Duration::from_secs(60)).with_audience("farm");
    /// assert_eq!(c.audience.as_deref(), Some("farm"));
    /// ```
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Adds (or replaces) an attribute.
    ///
    /// ```
    /// use encapsulated_token::Claims;
    /// let c = Claims::new("alice", std::time::Duration::from_secs(60)).with_attribute("tenant", "acme");
    /// assert_eq!(c.attributes.get("tenant").map(String::as_str), Some("acme"));
    /// ```
    pub fn with_attribute(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(name.into(), value.into());
        self
    }
}
