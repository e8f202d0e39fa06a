//! Decoding without verifying, for operators and tooling (`etoken inspect`):
//! what a token claims, not what it proves.

use crate::claims::Claims;
use crate::format::{self, MAX_TAGGED_LEN, MAX_TOKEN_LEN, TAG_LEN};
use crate::keys::KeyId;
use crate::verify::{Body, VerifyError, decode_body, payload_error, split_body};

/// A token decoded by [`decode_unverified`]: its key id, its claims and its
/// tag, none of them checked against any key or clock. Never make an
/// access decision on it; use [`Verifier`](crate::Verifier) for that.
///
/// ```
/// use encapsulated_token::{Claims, Issuer, Key, KeyRing, decode_unverified};
/// let ring = KeyRing::new(Key::generate().unwrap());
/// let claims = Claims::new("alice", std::time::Duration::from_secs(60));
/// let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
///
/// let decoded = decode_unverified(&token).unwrap();
/// assert_eq!(decoded.key_id, ring.active().id());
/// assert_eq!(decoded.claims, claims);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnverifiedToken {
    /// The key the token says it was signed with.
    pub key_id: KeyId,
    /// What the token claims.
    pub claims: Claims,
    /// The tag, unchecked.
    pub tag: [u8; TAG_LEN],
}

/// Decodes a token with every format rule (length bound, version, canonical
/// encoding, payload bounds) but without checking its tag, times or
/// audience. Errors are those of [`Verifier::verify`](crate::Verifier::verify)
/// that need no key: too long, unsupported version, malformed.
///
/// ```
/// use encapsulated_token::{VerifyError, decode_unverified};
/// assert_eq!(decode_unverified("et2.").unwrap_err().kind(), "malformed");
/// ```
pub fn decode_unverified(token: &str) -> Result<UnverifiedToken, VerifyError> {
    let mut buf = [0u8; MAX_TAGGED_LEN];
    let len = decode_body(token, MAX_TOKEN_LEN, &mut buf)?;
    let Body {
        key_id,
        payload,
        tag,
        ..
    } = split_body(&buf, len);
    let layout = format::parse_payload(payload).map_err(payload_error)?;
    let mut tag_bytes = [0u8; TAG_LEN];
    tag_bytes.copy_from_slice(tag);
    Ok(UnverifiedToken {
        key_id,
        claims: layout.to_claims(payload),
        tag: tag_bytes,
    })
}
