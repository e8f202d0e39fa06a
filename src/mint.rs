//! Minting: claims in, a signed token string out, with the ring's active key.

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use time::OffsetDateTime;

use crate::claims::Claims;
use crate::format::{
    self, FieldError, MAX_ATTRIBUTES, MAX_TAGGED_LEN, MAX_TOKEN_LEN, MAX_UNIX_TIME, PREFIX,
};
use crate::keys::KeyRing;

/// Mints tokens with the active key of a ring.
///
/// ```
/// use encapsulated_token::{Claims, Issuer, Key, KeyRing, Verifier};
/// use std::time::Duration;
///
/// let ring = std::sync::Arc::new(KeyRing::new(Key::generate()?));
/// let issuer = Issuer::new(ring.clone());
/// let token = issuer.mint(&Claims::new("alice", Duration::from_secs(3600)))?;
/// assert!(token.starts_with("et2."));
/// assert_eq!(Verifier::new(ring).verify(&token)?.subject(), "alice");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Issuer {
    ring: Arc<KeyRing>,
}

impl Issuer {
    /// An issuer that mints with `ring.active()`.
    ///
    /// ```
    /// use encapsulated_token::{Issuer, Key, KeyRing};
    /// let issuer = Issuer::new(KeyRing::new(Key::generate().unwrap()));
    /// ```
    pub fn new(ring: impl Into<Arc<KeyRing>>) -> Self {
        Self { ring: ring.into() }
    }

    /// The ring this issuer mints with.
    ///
    /// ```
    /// use encapsulated_token::{Issuer, Key, KeyRing};
    /// let issuer = Issuer::new(KeyRing::new(Key::generate().unwrap()));
    /// assert_eq!(issuer.ring().len(), 1);
    /// ```
    pub fn ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// Signs `claims` into a token. Refuses claims outside the format's
    /// bounds (see [`format`](mod@crate::format)) and a token longer than
    /// [`MAX_TOKEN_LEN`], rather than mint what no verifier would accept.
    ///
    /// ```
    /// use encapsulated_token::{Claims, Issuer, Key, KeyRing, MintError};
    /// let issuer = Issuer::new(KeyRing::new(Key::generate().unwrap()));
    /// let bad = Claims::new("line\nbreak", std::time::Duration::from_secs(60));
    /// assert!(matches!(issuer.mint(&bad), Err(MintError::InvalidClaim { claim: "subject", .. })));
    /// ```
    pub fn mint(&self, claims: &Claims) -> Result<String, MintError> {
        let key = self.ring.active();
        let mut tagged = Vec::with_capacity(MAX_TAGGED_LEN);
        tagged.extend_from_slice(PREFIX.as_bytes());
        tagged.extend_from_slice(key.id().as_bytes());
        encode_payload(claims, &mut tagged)?;
        let tag = key.tag(&tagged);
        tagged.extend_from_slice(&tag);
        let body = &tagged[PREFIX.len()..];

        let length = PREFIX.len() + base64::encoded_len(body.len(), false).unwrap_or(usize::MAX);
        if length > MAX_TOKEN_LEN {
            return Err(MintError::TooLong {
                length,
                max: MAX_TOKEN_LEN,
            });
        }
        let mut token = String::with_capacity(length);
        token.push_str(PREFIX);
        URL_SAFE_NO_PAD.encode_string(body, &mut token);
        Ok(token)
    }
}

/// Appends the v1 payload of `claims` to `out`, enforcing every bound with
/// the same checks the verifier runs.
fn encode_payload(claims: &Claims, out: &mut Vec<u8>) -> Result<(), MintError> {
    let issued_at = unix_seconds(claims.issued_at, "issued_at")?;
    let expires_at = unix_seconds(claims.expires_at, "expires_at")?;
    if expires_at <= issued_at {
        return Err(invalid("expires_at", "is not after issued_at"));
    }
    let session_started_at = unix_seconds(claims.session_started_at, "session_started_at")?;
    if session_started_at > issued_at {
        return Err(invalid("session_started_at", "is after issued_at"));
    }
    out.extend_from_slice(&issued_at.to_be_bytes());
    out.extend_from_slice(&expires_at.to_be_bytes());
    out.extend_from_slice(&session_started_at.to_be_bytes());
    out.extend_from_slice(claims.token_id.as_bytes());

    field(
        out,
        "subject",
        claims.subject.as_bytes(),
        format::check_subject,
    )?;
    match &claims.audience {
        Some(audience) => field(out, "audience", audience.as_bytes(), format::check_audience)?,
        None => out.push(0),
    }
    if claims.attributes.len() > MAX_ATTRIBUTES {
        return Err(invalid("attributes", "are more than the bound allows"));
    }
    out.push(claims.attributes.len() as u8);
    // A BTreeMap iterates in ascending byte order: the canonical order.
    for (name, value) in &claims.attributes {
        let name = name.as_bytes();
        field(out, "attribute name", name, format::check_attribute_key)?;
        let value = value.as_bytes();
        field(out, "attribute value", value, format::check_attribute_value)?;
    }
    Ok(())
}

fn field(
    out: &mut Vec<u8>,
    claim: &'static str,
    bytes: &[u8],
    check: fn(&[u8]) -> Result<(), FieldError>,
) -> Result<(), MintError> {
    check(bytes).map_err(|(_, problem)| invalid(claim, problem))?;
    format::push_prefixed(out, bytes);
    Ok(())
}

fn unix_seconds(time: OffsetDateTime, claim: &'static str) -> Result<u64, MintError> {
    if time.nanosecond() != 0 {
        return Err(invalid(claim, "has a fraction of a second"));
    }
    match u64::try_from(time.unix_timestamp()) {
        Ok(seconds) if seconds <= MAX_UNIX_TIME => Ok(seconds),
        _ => Err(invalid(claim, "is outside 1970..=9999")),
    }
}

fn invalid(claim: &'static str, problem: &'static str) -> MintError {
    MintError::InvalidClaim { claim, problem }
}

/// Why claims could not be minted.
///
/// ```
/// use encapsulated_token::{Claims, Issuer, Key, KeyRing};
/// let issuer = Issuer::new(KeyRing::new(Key::generate().unwrap()));
/// let err = issuer.mint(&Claims::new("", std::time::Duration::from_secs(60))).unwrap_err();
/// assert_eq!(err.to_string(), "cannot mint a token: subject is empty");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MintError {
    /// A claim breaks a bound or rule of the format.
    InvalidClaim {
        /// Which claim.
        claim: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// All claims are valid, but together they make a token longer than
    /// [`MAX_TOKEN_LEN`]: shorten the attributes.
    TooLong {
        /// The length the token would have.
        length: usize,
        /// The bound.
        max: usize,
    },
}

impl fmt::Display for MintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidClaim { claim, problem } => {
                write!(f, "cannot mint a token: {claim} {problem}")
            }
            Self::TooLong { length, max } => write!(
                f,
                "cannot mint a token: it would be {length} characters, over the bound of {max}; \
                 shorten the subject, audience or attributes"
            ),
        }
    }
}

impl std::error::Error for MintError {}
