//! The JWT assertion a technical account proves itself with (RFC 7523, and
//! IMS's `/ims/exchange/jwt`): RS256, signed with the account's private
//! key; `iss` its organisation, `sub` its technical account id, `aud`
//! `<public-url>/c/<client_id>`, `exp` at most 24 hours ahead, and one
//! claim `"<public-url>/s/<scope>": true` per scope asked for.
//!
//! [`sign`] is what a client runs; [`check`] is what the server runs. The
//! algorithm is ours (RS256), never the token's: `alg: none` and HS256
//! signed with the public key are refused by `jsonwebtoken` before any
//! claim is read, and a claim of the wrong type is an error.
//!
//! ```
//! use etoken::assertion::{self, Expected};
//! use etoken::certificate::{CertificateKey, KeyPair};
//! use etoken::public_url::PublicUrl;
//!
//! let pair = KeyPair::generate("svc", 30)?;
//! let url: PublicUrl = "https://publish.example.com".parse()?;
//! let now = etoken::certificate::unix_now();
//! let claims = assertion::Claims::new("ORG", "ID@techacct.publish.example.com", &url, "client", &["read"], now, 300);
//! let jwt = assertion::sign(&claims, &pair.private_key)?;
//!
//! let keys = [CertificateKey::from_pem(&pair.certificate)?];
//! let expected = Expected {
//!     org: "ORG",
//!     technical_account_id: "ID@techacct.publish.example.com",
//!     client_id: "client",
//!     public_urls: std::slice::from_ref(&url),
//!     scopes: &["read".to_string()],
//!     keys: &keys,
//!     now,
//! };
//! assert_eq!(assertion::check(&jwt, &expected)?, ["read"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::certificate::CertificateKey;
use crate::public_url::PublicUrl;

/// The longest an assertion may live: IMS refuses more than 24 hours.
pub const MAX_LIFETIME_SECS: u64 = 24 * 3600;
/// Longest assertion read; a real one is about 1 KiB.
pub const MAX_LEN: usize = 16 * 1024;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of an assertion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The organisation.
    pub iss: String,
    /// The technical account id.
    pub sub: String,
    /// `<public-url>/c/<client_id>` (one, or several in an array).
    pub aud: Audience,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Issued at, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    /// Not before, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Everything else: the metascope claims, `jti`...
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// RFC 7519's `aud`: a string or an array of strings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One audience.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Claims {
    /// The claims IMS clients send: issued `now`, expiring `lifetime`
    /// seconds later, one metascope claim per scope.
    pub fn new(
        org: &str,
        technical_account_id: &str,
        url: &PublicUrl,
        client_id: &str,
        scopes: &[&str],
        now: u64,
        lifetime: u64,
    ) -> Self {
        Self {
            iss: org.to_owned(),
            sub: technical_account_id.to_owned(),
            aud: Audience::One(url.audience(client_id)),
            exp: now.saturating_add(lifetime),
            iat: Some(now),
            nbf: None,
            other: scopes
                .iter()
                .map(|scope| (url.metascope(scope), Value::Bool(true)))
                .collect(),
        }
    }
}

/// Signs `claims` with an RSA private key (PKCS#1 or PKCS#8 PEM), RS256.
pub fn sign(claims: &Claims, private_key_pem: &str) -> Result<String, AssertionError> {
    let key = EncodingKey::from_rsa_pem(private_key_pem.as_bytes())
        .map_err(|e| AssertionError::Signing(format!("the private key: {e}")))?;
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key)
        .map_err(|e| AssertionError::Signing(e.to_string()))
}

/// What the server expects of one account's assertion.
pub struct Expected<'a> {
    /// The account's organisation: the only `iss` accepted.
    pub org: &'a str,
    /// The only `sub` accepted.
    pub technical_account_id: &'a str,
    /// Names the audience `<public-url>/c/<client_id>`.
    pub client_id: &'a str,
    /// The farm's URLs: the audience and metascopes name one of them.
    pub public_urls: &'a [PublicUrl],
    /// The scopes registered for the account.
    pub scopes: &'a [String],
    /// The account's certificates; those valid at `now` verify.
    pub keys: &'a [CertificateKey],
    /// Unix seconds.
    pub now: u64,
}

/// Checks an assertion and returns the scopes it asks for (each registered
/// for the account, at least one), in claim order.
pub fn check(jwt: &str, expected: &Expected<'_>) -> Result<Vec<String>, AssertionError> {
    if jwt.len() > MAX_LEN {
        return Err(AssertionError::TooLong { len: jwt.len() });
    }
    let validation = validation(expected);
    let mut claims = None;
    let mut any_key = false;
    for certificate in expected.keys.iter().filter(|k| k.valid_at(expected.now)) {
        any_key = true;
        match decode(jwt, &certificate.key, &validation) {
            Err(AssertionError::BadSignature) => continue,
            other => {
                claims = Some(other?);
                break;
            }
        }
    }
    let Some(claims) = claims else {
        return Err(if any_key {
            AssertionError::BadSignature
        } else {
            AssertionError::NoValidCertificate
        });
    };
    // jsonwebtoken checked `exp` against its own clock; ours may be offset.
    if claims.exp.saturating_add(LEEWAY_SECS) < expected.now {
        return Err(AssertionError::Expired { exp: claims.exp });
    }
    if claims.exp > expected.now.saturating_add(MAX_LIFETIME_SECS + LEEWAY_SECS) {
        return Err(AssertionError::TooFarAhead {
            seconds: claims.exp - expected.now,
        });
    }
    metascopes(&claims, expected)
}

fn validation(expected: &Expected<'_>) -> Validation {
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[expected.org]);
    validation.sub = Some(expected.technical_account_id.to_owned());
    let audiences: Vec<String> = expected
        .public_urls
        .iter()
        .map(|url| url.audience(expected.client_id))
        .collect();
    validation.set_audience(&audiences);
    validation
}

fn decode(jwt: &str, key: &DecodingKey, validation: &Validation) -> Result<Claims, AssertionError> {
    jsonwebtoken::decode::<Claims>(jwt, key, validation)
        .map(|data| data.claims)
        .map_err(|e| AssertionError::from_jwt(e.into_kind()))
}

/// The scopes of the `<public-url>/s/<scope>` claims; `false` asks for
/// nothing, any other value is a wrong type. Claims naming another URL are
/// not ours and are ignored, like `jti`.
fn metascopes(claims: &Claims, expected: &Expected<'_>) -> Result<Vec<String>, AssertionError> {
    let mut scopes = Vec::new();
    for (name, value) in &claims.other {
        let scope = expected
            .public_urls
            .iter()
            .find_map(|url| name.strip_prefix(&url.metascope("")));
        let Some(scope) = scope else { continue };
        match value {
            Value::Bool(true) => {}
            Value::Bool(false) => continue,
            _ => return Err(AssertionError::ClaimType(name.clone())),
        }
        if !expected.scopes.iter().any(|s| s == scope) {
            return Err(AssertionError::UnregisteredScope(scope.to_owned()));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err(AssertionError::NoScope);
    }
    Ok(scopes)
}

/// Why an assertion was refused (for the log; the client gets an OAuth
/// error code).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AssertionError {
    /// Longer than [`MAX_LEN`].
    TooLong {
        /// Its length.
        len: usize,
    },
    /// Not a JWT: bad base64, bad JSON, wrong number of parts.
    Malformed(String),
    /// A header naming another algorithm than RS256 (HS256, `none`...).
    Algorithm,
    /// No registered certificate of the account verifies the signature.
    BadSignature,
    /// None of the account's certificates is valid now.
    NoValidCertificate,
    /// `exp` is past.
    Expired {
        /// The claim.
        exp: u64,
    },
    /// `nbf` is ahead.
    NotYetValid,
    /// `exp` is more than 24 hours ahead.
    TooFarAhead {
        /// How far.
        seconds: u64,
    },
    /// `iss` is not the account's organisation.
    WrongIssuer,
    /// `aud` names no public URL's `/c/<client_id>`.
    WrongAudience,
    /// `sub` is not the account's technical account id.
    WrongSubject,
    /// A required claim (`exp`, `aud`, `iss`, `sub`) is absent.
    MissingClaim(String),
    /// A claim has the wrong type (a string `exp`, a metascope not `true`).
    ClaimType(String),
    /// No metascope claim.
    NoScope,
    /// A metascope not registered for the account.
    UnregisteredScope(String),
    /// Signing failed (a client-side error: a bad private key).
    Signing(String),
}

impl AssertionError {
    fn from_jwt(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::InvalidSignature => Self::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => Self::Algorithm,
            ErrorKind::ExpiredSignature => Self::Expired { exp: 0 },
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidIssuer => Self::WrongIssuer,
            ErrorKind::InvalidAudience => Self::WrongAudience,
            ErrorKind::InvalidSubject => Self::WrongSubject,
            ErrorKind::MissingRequiredClaim(claim) => Self::MissingClaim(claim),
            ErrorKind::InvalidClaimFormat(claim) => Self::ClaimType(claim),
            // A key/algorithm mismatch is the same refusal as a foreign alg.
            ErrorKind::InvalidKeyFormat | ErrorKind::InvalidRsaKey(_) => Self::Algorithm,
            other => Self::Malformed(format!("{other:?}")),
        }
    }
}

impl fmt::Display for AssertionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { len } => write!(f, "the assertion is {len} bytes, over {MAX_LEN}"),
            Self::Malformed(why) => write!(f, "the assertion is not a well-formed JWT ({why})"),
            Self::Algorithm => f.write_str("the assertion is not signed with RS256"),
            Self::BadSignature => f.write_str(
                "the assertion's signature does not verify with any registered certificate of the account",
            ),
            Self::NoValidCertificate => f.write_str(
                "the account has no certificate valid now: add one with `etoken service add-certificate`",
            ),
            Self::Expired { exp: 0 } => f.write_str("the assertion has expired"),
            Self::Expired { exp } => write!(f, "the assertion expired at {exp}"),
            Self::NotYetValid => f.write_str("the assertion is not valid yet (nbf)"),
            Self::TooFarAhead { seconds } => write!(
                f,
                "the assertion expires in {seconds}s, more than {MAX_LIFETIME_SECS}s ahead"
            ),
            Self::WrongIssuer => f.write_str("the assertion's iss is not the account's org"),
            Self::WrongAudience => f.write_str(
                "the assertion's aud is not <public-url>/c/<client_id> for this farm and client",
            ),
            Self::WrongSubject => {
                f.write_str("the assertion's sub is not the account's technical account id")
            }
            Self::MissingClaim(claim) => write!(f, "the assertion has no {claim} claim"),
            Self::ClaimType(claim) => write!(f, "the assertion's {claim} claim has the wrong type"),
            Self::NoScope => f.write_str(
                "the assertion asks for no scope: add a \"<public-url>/s/<scope>\": true claim",
            ),
            Self::UnregisteredScope(scope) => write!(
                f,
                "scope {:?} is not registered for the account",
                crate::truncated(scope)
            ),
            Self::Signing(why) => write!(f, "cannot sign the assertion: {why}"),
        }
    }
}

impl std::error::Error for AssertionError {}
