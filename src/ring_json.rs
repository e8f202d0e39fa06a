//! The ring as one JSON document, for a place that holds no directory: a
//! CDN's secret store, a Node service's environment. `etoken key export`
//! writes it; the WebAssembly verifier reads it. The format is in
//! `docs/FORMAT.md` ("Ring document").
//!
//! ```text
//! {"format":"encapsulated-token-ring-json/1","active":"<id>",
//!  "keys":[{"id":"<id>","created":"<RFC 3339>","secret":"<base64url, 43 chars>"}, ...]}
//! ```
//!
//! It holds every secret of the ring, so both directions zeroize what they
//! hold: the text written, and the secrets decoded on the way in.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::keys::{KEY_LEN, Key, KeyId, KeyRing};

const FORMAT: &str = "encapsulated-token-ring-json/1";

/// The largest ring document accepted, in bytes: room for about 400 keys,
/// far more than a rotation ever keeps, and a bound before any parsing.
///
/// ```
/// assert_eq!(encapsulated_token::MAX_RING_JSON_LEN, 65536);
/// ```
pub const MAX_RING_JSON_LEN: usize = 64 * 1024;

/// Characters one key takes in the document at most (its fields, quotes
/// and separators), so the text is written into one allocation that never
/// grows: a grown buffer would leave an unzeroized copy behind.
const MAX_KEY_ENTRY_LEN: usize = 160;
const MAX_HEADER_LEN: usize = 96;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RingDocument<'a> {
    format: &'a str,
    active: &'a str,
    #[serde(borrow)]
    keys: Vec<KeyEntry<'a>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry<'a> {
    id: &'a str,
    created: &'a str,
    secret: &'a str,
}

impl KeyRing {
    /// The ring as a ring document (JSON, one line): every key that
    /// verifies, and which one is active. The text holds every secret and
    /// is zeroized on drop.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing};
    /// let mut ring = KeyRing::new(Key::generate().unwrap());
    /// ring.insert(Key::generate().unwrap()).unwrap();
    /// let text = ring.to_ring_json();
    /// assert_eq!(KeyRing::from_ring_json(text.as_bytes()).unwrap(), ring);
    /// ```
    pub fn to_ring_json(&self) -> Zeroizing<String> {
        let active = self.active().id().to_string();
        let keys: Vec<(String, String, Zeroizing<String>)> = self
            .keys()
            .map(|key| {
                // Infallible: the time is within years 0..=9999 by construction.
                let created = key.created().format(&Rfc3339).unwrap_or_default();
                let secret = Zeroizing::new(URL_SAFE_NO_PAD.encode(key.secret()));
                (key.id().to_string(), created, secret)
            })
            .collect();
        let document = RingDocument {
            format: FORMAT,
            active: &active,
            keys: keys
                .iter()
                .map(|(id, created, secret)| KeyEntry {
                    id,
                    created,
                    secret,
                })
                .collect(),
        };
        let capacity = MAX_HEADER_LEN + MAX_KEY_ENTRY_LEN * keys.len();
        let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
        // Writing into a Vec cannot fail, and every field is a plain string.
        let _ = serde_json::to_writer(&mut *bytes, &document);
        bytes.push(b'\n');
        let text = String::from_utf8(std::mem::take(&mut *bytes)).unwrap_or_default();
        Zeroizing::new(text)
    }

    /// Parses a ring document. Refuses a document over
    /// [`MAX_RING_JSON_LEN`] bytes, unknown or missing fields, another
    /// format version, a key id that is not 8 lowercase hex digits, a secret
    /// that is not exactly 32 bytes in canonical base64url, a creation time
    /// that is not whole-second RFC 3339 at UTC, no key, two keys with one
    /// id, and an active id that names no key of the document.
    ///
    /// ```
    /// use encapsulated_token::KeyRing;
    /// let err = KeyRing::from_ring_json(br#"{"format":"encapsulated-token-ring-json/1","active":"0a1b2c3d","keys":[]}"#).unwrap_err();
    /// assert!(err.to_string().contains("no key"));
    /// ```
    pub fn from_ring_json(bytes: &[u8]) -> Result<KeyRing, RingJsonError> {
        if bytes.len() > MAX_RING_JSON_LEN {
            return Err(RingJsonError::new(format!(
                "larger than {MAX_RING_JSON_LEN} bytes"
            )));
        }
        let document: RingDocument<'_> = serde_json::from_slice(bytes).map_err(json_error)?;
        if document.format != FORMAT {
            return Err(RingJsonError::new(format!(
                "format is {:?}, expected {FORMAT:?}",
                document.format
            )));
        }
        let active: KeyId = document
            .active
            .parse()
            .map_err(|e| RingJsonError::new(format!("active: {e}")))?;
        let mut keys: Vec<Key> = Vec::with_capacity(document.keys.len());
        for (at, entry) in document.keys.iter().enumerate() {
            let key = parse_key(entry)
                .map_err(|reason| RingJsonError::new(format!("keys[{at}]: {reason}")))?;
            if keys.iter().any(|k| k.id() == key.id()) {
                return Err(RingJsonError::new(format!(
                    "keys[{at}]: key {} appears twice",
                    key.id()
                )));
            }
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(RingJsonError::new("it holds no key".into()));
        }
        let Some(at) = keys.iter().position(|k| k.id() == active) else {
            return Err(RingJsonError::new(format!(
                "active key {active} is not among its keys"
            )));
        };
        Ok(KeyRing::from_parts(keys, at))
    }
}

/// serde_json's message, unless it quotes a value of the document (`invalid
/// type: string "..."`, as a secret with an escape gets): a secret never
/// reaches an error message, a log or a terminal.
fn json_error(e: serde_json::Error) -> RingJsonError {
    let message = e.to_string();
    if message.contains('"') {
        return RingJsonError::new(format!(
            "a value of the wrong type, or a string with an escape, at line {} column {}",
            e.line(),
            e.column()
        ));
    }
    RingJsonError::new(message)
}

fn parse_key(entry: &KeyEntry<'_>) -> Result<Key, String> {
    let id: KeyId = entry.id.parse().map_err(|e| format!("id: {e}"))?;
    let created =
        OffsetDateTime::parse(entry.created, &Rfc3339).map_err(|e| format!("created: {e}"))?;
    if created.nanosecond() != 0 || !created.offset().is_utc() {
        return Err(
            "created: must be whole seconds at UTC offset zero, such as 2026-01-31T12:00:00Z"
                .into(),
        );
    }
    let mut secret = Zeroizing::new([0u8; KEY_LEN]);
    match URL_SAFE_NO_PAD.decode_slice(entry.secret, secret.as_mut()) {
        Ok(KEY_LEN) if entry.secret.len() == 43 => {}
        _ => return Err("secret: expected 32 bytes as 43 base64url characters".into()),
    }
    Ok(Key::from_secret(id, *secret, created))
}

/// Why a ring document was refused. The message says what is wrong and
/// never shows a secret.
///
/// ```
/// use encapsulated_token::KeyRing;
/// let err = KeyRing::from_ring_json(b"not json").unwrap_err();
/// assert!(err.to_string().starts_with("not a valid ring document"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingJsonError {
    reason: String,
}

impl RingJsonError {
    fn new(reason: String) -> Self {
        Self { reason }
    }

    /// What is wrong with the document, without the advice around it.
    ///
    /// ```
    /// use encapsulated_token::KeyRing;
    /// let err = KeyRing::from_ring_json(&[b' '; 70_000]).unwrap_err();
    /// assert_eq!(err.reason(), "larger than 65536 bytes");
    /// ```
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for RingJsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not a valid ring document ({}): export it again with `etoken key export --dir DIR`",
            self.reason
        )
    }
}

impl std::error::Error for RingJsonError {}

#[cfg(all(test, feature = "os"))]
mod tests {
    use super::*;

    fn ring_of(n: usize) -> KeyRing {
        let mut ring = KeyRing::new(Key::generate().unwrap());
        for _ in 1..n {
            ring.insert(Key::generate().unwrap()).unwrap();
        }
        ring
    }

    #[test]
    fn the_text_never_outgrows_its_first_allocation() {
        for n in [1, 2, 10, 100] {
            let ring = ring_of(n);
            let text = ring.to_ring_json();
            assert!(
                text.len() <= MAX_HEADER_LEN + MAX_KEY_ENTRY_LEN * n,
                "{n} keys"
            );
            assert_eq!(KeyRing::from_ring_json(text.as_bytes()).unwrap(), ring);
        }
    }

    #[test]
    fn a_secret_with_a_json_escape_is_refused_not_misread() {
        let text = ring_of(1).to_ring_json();
        let document: serde_json::Value = serde_json::from_str(&text).unwrap();
        let secret = document["keys"][0]["secret"].as_str().unwrap();
        let escaped = text.replacen(secret, &format!("\\u0041{}", &secret[1..]), 1);
        let err = KeyRing::from_ring_json(escaped.as_bytes()).unwrap_err();
        assert!(!err.to_string().contains(&secret[1..]), "{err}");
        assert!(err.reason().contains("escape"), "{err}");
    }
}
