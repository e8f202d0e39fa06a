//! Verification, the hot path: every request of every user runs it. It reads
//! top to bottom in the order `docs/FORMAT.md` prescribes: length bound,
//! version, encoding, key id, tag (constant time), and only then the payload,
//! the times and the audience. It allocates nothing.

use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
use std::sync::LazyLock;
use std::time::Duration;
#[cfg(feature = "os")]
use std::time::SystemTime;

use base64::Engine;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::claims::{Claims, TokenId};
#[cfg(feature = "os")]
use crate::clock::unix_seconds;
use crate::format::unix_time;
use crate::format::{
    self, KEY_ID_LEN, Layout, MAX_TAGGED_LEN, MAX_TOKEN_LEN, MIN_BODY_LEN, PREFIX, TAG_LEN,
};
use crate::keys::{KeyId, KeyRing};

/// Clock-skew leeway a new [`Verifier`] allows: 30 seconds.
///
/// ```
/// assert_eq!(encapsulated_token::DEFAULT_LEEWAY.as_secs(), 30);
/// ```
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Checks tokens against a key ring, an expected audience, a clock-skew
/// leeway and a length bound. Cheap to clone and to share across threads.
///
/// ```
/// use encapsulated_token::{Claims, Issuer, Key, KeyRing, Verifier, VerifyError};
/// use std::{sync::Arc, time::Duration};
///
/// let ring = Arc::new(KeyRing::new(Key::generate()?));
/// let token = Issuer::new(ring.clone())
///     .mint(&Claims::new("alice", Duration::from_secs(3600)).with_audience("publish"))?;
///
/// let verifier = Verifier::new(ring.clone()).with_audience("publish");
/// let verified = verifier.verify(&token)?;
/// assert_eq!(verified.subject(), "alice");
///
/// let other_tier = Verifier::new(ring).with_audience("author");
/// assert!(matches!(other_tier.verify(&token), Err(VerifyError::WrongAudience)));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Verifier {
    ring: Arc<KeyRing>,
    audience: Option<String>,
    leeway: Duration,
    max_len: usize,
}

impl Verifier {
    /// A verifier that trusts every key of `ring`, expects no audience,
    /// allows [`DEFAULT_LEEWAY`] of clock skew and tokens up to
    /// [`MAX_TOKEN_LEN`] characters.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing, Verifier};
    /// let verifier = Verifier::new(KeyRing::new(Key::generate().unwrap()));
    /// ```
    pub fn new(ring: impl Into<Arc<KeyRing>>) -> Self {
        Self {
            ring: ring.into(),
            audience: None,
            leeway: DEFAULT_LEEWAY,
            max_len: MAX_TOKEN_LEN,
        }
    }

    /// Accept only tokens minted for `audience`. Without this, only tokens
    /// minted with no audience are accepted: a token scoped to one tier is
    /// never taken by a verifier that did not ask for that tier.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing, Verifier};
    /// let v = Verifier::new(KeyRing::new(Key::generate().unwrap())).with_audience("publish");
    /// assert_eq!(v.audience(), Some("publish"));
    /// ```
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Allow this much clock skew between the instance that minted a token
    /// and this one, at both ends of the token's life.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing, Verifier};
    /// use std::time::Duration;
    /// let v = Verifier::new(KeyRing::new(Key::generate().unwrap())).with_leeway(Duration::from_secs(5));
    /// assert_eq!(v.leeway(), Duration::from_secs(5));
    /// ```
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Refuse tokens longer than `max_len` characters before any other work.
    /// A bound above [`MAX_TOKEN_LEN`] is lowered to it: no valid token is
    /// longer.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing, Verifier};
    /// let v = Verifier::new(KeyRing::new(Key::generate().unwrap())).with_max_len(512);
    /// assert_eq!(v.max_len(), 512);
    /// ```
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len.min(MAX_TOKEN_LEN);
        self
    }

    /// The expected audience, if any.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing, Verifier};
    /// assert_eq!(Verifier::new(KeyRing::new(Key::generate().unwrap())).audience(), None);
    /// ```
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }

    /// The clock-skew leeway.
    ///
    /// ```
    /// use encapsulated_token::{DEFAULT_LEEWAY, Key, KeyRing, Verifier};
    /// assert_eq!(Verifier::new(KeyRing::new(Key::generate().unwrap())).leeway(), DEFAULT_LEEWAY);
    /// ```
    pub fn leeway(&self) -> Duration {
        self.leeway
    }

    /// The length bound, in characters.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing, MAX_TOKEN_LEN, Verifier};
    /// assert_eq!(Verifier::new(KeyRing::new(Key::generate().unwrap())).max_len(), MAX_TOKEN_LEN);
    /// ```
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The ring of trusted keys.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing, Verifier};
    /// assert_eq!(Verifier::new(KeyRing::new(Key::generate().unwrap())).ring().len(), 1);
    /// ```
    pub fn ring(&self) -> &Arc<KeyRing> {
        &self.ring
    }

    /// Verifies `token` against the system clock. The result owns its
    /// decoded bytes (about 800 bytes, no heap); on a hot path,
    /// [`verify_in`](Self::verify_in) decodes into a buffer you keep instead
    /// and returns a small view.
    ///
    /// ```
    /// use encapsulated_token::{Key, KeyRing, Verifier, VerifyError};
    /// let verifier = Verifier::new(KeyRing::new(Key::generate().unwrap()));
    /// assert!(matches!(verifier.verify("hello"), Err(VerifyError::Malformed { .. })));
    /// ```
    #[cfg(feature = "os")]
    pub fn verify(&self, token: &str) -> Result<VerifiedToken, VerifyError> {
        let mut buffer = TokenBuffer::new();
        Ok(self.verify_in(token, &mut buffer)?.into_owned())
    }

    /// Verifies `token` as of `now`, into an owned result. See
    /// [`verify_in_at`](Self::verify_in_at) for the steps.
    ///
    /// ```
    /// use encapsulated_token::{Claims, Issuer, Key, KeyRing, Verifier, VerifyError};
    /// use std::time::Duration;
    ///
    /// let ring = KeyRing::new(Key::generate().unwrap());
    /// let claims = Claims::new("alice", Duration::from_secs(60));
    /// let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
    /// let verifier = Verifier::new(ring);
    ///
    /// let later = claims.expires_at + time::Duration::minutes(5);
    /// assert!(matches!(verifier.verify_at(&token, later), Err(VerifyError::Expired { .. })));
    /// ```
    pub fn verify_at(
        &self,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<VerifiedToken, VerifyError> {
        let mut buffer = TokenBuffer::new();
        Ok(self.verify_in_at(token, now, &mut buffer)?.into_owned())
    }

    /// Verifies `token` against the system clock, decoding into `buffer`:
    /// the result is a small view that borrows from it, so nothing is
    /// copied. Reuse one buffer for many tokens; it needs no clearing.
    ///
    /// ```
    /// use encapsulated_token::{Claims, Issuer, Key, KeyRing, TokenBuffer, Verifier};
    /// use std::time::Duration;
    ///
    /// let ring = KeyRing::new(Key::generate().unwrap());
    /// let token = Issuer::new(ring.clone()).mint(&Claims::new("alice", Duration::from_secs(60))).unwrap();
    /// let verifier = Verifier::new(ring);
    ///
    /// let mut buffer = TokenBuffer::new();
    /// for _ in 0..3 {
    ///     let verified = verifier.verify_in(&token, &mut buffer).unwrap();
    ///     assert_eq!(verified.subject(), "alice");
    /// }
    /// ```
    #[cfg(feature = "os")]
    pub fn verify_in<'b>(
        &self,
        token: &str,
        buffer: &'b mut TokenBuffer,
    ) -> Result<VerifiedToken<&'b TokenBuffer>, VerifyError> {
        // The checks need whole Unix seconds only (see `clock`): the
        // calendar date `OffsetDateTime::now_utc()` would compute is built
        // for an error alone.
        let now = SystemTime::now();
        self.check(
            token,
            unix_seconds(now),
            || OffsetDateTime::from(now),
            buffer,
        )
    }

    /// Verifies `token` as of `now`, decoding into `buffer`. Steps, in
    /// order; the first that fails decides the error.
    ///
    /// ```
    /// use encapsulated_token::{Claims, Issuer, Key, KeyRing, TokenBuffer, Verifier, VerifyError};
    /// use std::time::Duration;
    ///
    /// let ring = KeyRing::new(Key::generate().unwrap());
    /// let claims = Claims::new("alice", Duration::from_secs(60));
    /// let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
    /// let verifier = Verifier::new(ring);
    ///
    /// let mut buffer = TokenBuffer::new();
    /// let soon = claims.issued_at + time::Duration::seconds(10);
    /// assert_eq!(verifier.verify_in_at(&token, soon, &mut buffer).unwrap().subject(), "alice");
    /// let later = claims.expires_at + time::Duration::minutes(5);
    /// assert!(matches!(verifier.verify_in_at(&token, later, &mut buffer), Err(VerifyError::Expired { .. })));
    /// ```
    pub fn verify_in_at<'b>(
        &self,
        token: &str,
        now: OffsetDateTime,
        buffer: &'b mut TokenBuffer,
    ) -> Result<VerifiedToken<&'b TokenBuffer>, VerifyError> {
        self.check(token, now.unix_timestamp(), || now, buffer)
    }

    /// The steps of [`verify_in_at`](Self::verify_in_at), with the time as
    /// Unix seconds `now_s`; `now` gives the same instant as a date, for
    /// errors.
    fn check<'b>(
        &self,
        token: &str,
        now_s: i64,
        now: impl Fn() -> OffsetDateTime,
        buffer: &'b mut TokenBuffer,
    ) -> Result<VerifiedToken<&'b TokenBuffer>, VerifyError> {
        // 1-3. Length bound, version prefix, canonical base64url, into the
        //      buffer, after the prefix's bytes.
        let len = decode_body(token, self.max_len, &mut buffer.0)?;
        let buffer: &'b TokenBuffer = buffer;
        let Body {
            key_id,
            covered,
            payload,
            tag,
        } = split_body(&buffer.0, len);

        // 4. Key id: names the key, so rotation needs no guessing.
        let Some(key) = self.ring.get(key_id) else {
            return Err(VerifyError::UnknownKeyId { key_id });
        };

        // 5. Tag, compared in constant time, before any byte of the payload
        //    is trusted.
        if !tags_match(&key.tag(covered), tag) {
            return Err(VerifyError::BadTag { key_id });
        }

        // 6. Payload: every bound and canonical rule.
        let layout = format::parse_payload(payload).map_err(payload_error)?;

        // 7. Times, with the leeway at both ends.
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX);
        let issued_at = layout.issued_at as i64; // <= MAX_UNIX_TIME, lossless
        let expires_at = layout.expires_at as i64;
        if now_s.saturating_add(leeway) < issued_at {
            return Err(VerifyError::NotYetValid {
                valid_from: unix_time(layout.issued_at),
                now: now(),
            });
        }
        if now_s >= expires_at.saturating_add(leeway) {
            return Err(VerifyError::Expired {
                expired_at: unix_time(layout.expires_at),
                now: now(),
            });
        }

        // 8. Audience: exactly the one expected, or none when none is.
        let audience =
            &payload[usize::from(layout.audience.start)..usize::from(layout.audience.end)];
        if audience != self.audience.as_deref().unwrap_or("").as_bytes() {
            return Err(VerifyError::WrongAudience);
        }

        Ok(VerifiedToken {
            buffer,
            body_len: len as u16, // <= MAX_BODY_LEN
            key_id,
            layout,
        })
    }
}

/// Whether `tag` is `expected`, in constant time: the words' differences
/// are OR-ed together with no branch, and only the total goes through
/// `subtle`'s optimisation barrier, once (comparing byte by byte, `subtle`
/// puts each of the 32 bytes behind its own barrier, an out-of-line call).
/// A tag's length is public: the format fixes it.
fn tags_match(expected: &[u8; TAG_LEN], tag: &[u8]) -> bool {
    let Ok(tag) = <&[u8; TAG_LEN]>::try_from(tag) else {
        return false;
    };
    let (expected, _) = expected.as_chunks::<8>();
    let (tag, _) = tag.as_chunks::<8>();
    let difference = expected.iter().zip(tag).fold(0u64, |acc, (e, t)| {
        acc | (u64::from_le_bytes(*e) ^ u64::from_le_bytes(*t))
    });
    bool::from(difference.ct_eq(&0))
}

/// The base64url decoder of the hot path: the same alphabet and rules as
/// `URL_SAFE_NO_PAD` (no padding, no stray bits), with the CPU's vector unit
/// when it has one (AVX2, NEON), about three times faster on a typical
/// token. Detected once per process. This is `unsafe` code inside `base64`
/// (its `simd-unsafe` feature), the one place attacker bytes meet it: kept
/// because it saves about 20 % of a whole verify (`benches/README.md`), and
/// fuzzed against the scalar engine (`fuzz/fuzz_targets/base64_simd.rs`).
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
))]
static BASE64URL: LazyLock<base64::engine::Simd> =
    LazyLock::new(|| base64::engine::Simd::url_safe(base64::engine::general_purpose::NO_PAD));
/// Elsewhere (WebAssembly), the scalar engine with the same rules.
#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "aarch64", target_feature = "neon")
)))]
static BASE64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A decoded body, split into its parts.
pub(crate) struct Body<'b> {
    pub key_id: KeyId,
    /// What the tag covers: the prefix, the key id and the payload.
    pub covered: &'b [u8],
    pub payload: &'b [u8],
    pub tag: &'b [u8],
}

/// Steps 1 to 3 of verification: the length bound (before any other work),
/// the version prefix (it fixes the algorithm; nothing in the token chooses
/// one), and canonical base64url (no padding, no stray bits) into `buf`
/// after the prefix's bytes, so what the tag covers is contiguous. The length
/// bound makes `buf` big enough. Returns the body's length, at least
/// [`MIN_BODY_LEN`]; [`split_body`] names its parts.
pub(crate) fn decode_body(
    token: &str,
    max_len: usize,
    buf: &mut [u8; MAX_TAGGED_LEN],
) -> Result<usize, VerifyError> {
    if token.len() > max_len {
        return Err(VerifyError::TooLong {
            length: token.len(),
            max: max_len,
        });
    }
    let Some(encoded) = token.strip_prefix(PREFIX) else {
        return Err(prefix_error(token));
    };
    let (prefix, body) = buf.split_at_mut(PREFIX.len());
    prefix.copy_from_slice(PREFIX.as_bytes());
    let len = match BASE64URL.decode_slice(encoded, body) {
        Ok(len) => len,
        Err(_) => return Err(encoding_error(token)),
    };
    if len < MIN_BODY_LEN {
        return Err(malformed(
            token.len(),
            "body",
            "is shorter than the smallest token",
        ));
    }
    Ok(len)
}

/// The parts of a body of `len` bytes (at least [`MIN_BODY_LEN`]) that
/// [`decode_body`] put into `buf`.
pub(crate) fn split_body(buf: &[u8; MAX_TAGGED_LEN], len: usize) -> Body<'_> {
    let (covered, tag) = buf[..PREFIX.len() + len].split_at(PREFIX.len() + len - TAG_LEN);
    let (key_id, payload) = covered[PREFIX.len()..].split_at(KEY_ID_LEN);
    let mut id = [0u8; KEY_ID_LEN];
    id.copy_from_slice(key_id);
    Body {
        key_id: KeyId::from_bytes(id),
        covered,
        payload,
        tag,
    }
}

/// A payload error as a verify error, positioned in the token.
pub(crate) fn payload_error(e: format::PayloadError) -> VerifyError {
    malformed(
        format::char_position(KEY_ID_LEN + e.offset),
        e.part,
        e.problem,
    )
}

fn malformed(position: usize, part: &'static str, problem: &'static str) -> VerifyError {
    VerifyError::Malformed {
        position,
        part,
        problem,
    }
}

/// The token does not start with `et2.`: another version, or not a token.
#[cold]
fn prefix_error(token: &str) -> VerifyError {
    let version = token
        .strip_prefix("et")
        .and_then(|rest| rest.split_once('.'))
        .map(|(digits, _)| digits);
    if let Some(digits) = version
        && !digits.is_empty()
        && digits.len() <= 8
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return VerifyError::UnsupportedVersion;
    }
    let position = token
        .bytes()
        .zip(PREFIX.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(token.len().min(PREFIX.len()));
    malformed(position, "prefix", "is not `et2.`")
}

/// The base64 decoder refused the body; say where and why, in the order
/// `docs/FORMAT.md` gives: alphabet, then length, then unused bits.
#[cold]
fn encoding_error(token: &str) -> VerifyError {
    let encoded = &token.as_bytes()[PREFIX.len()..];
    let in_alphabet = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    if let Some(at) = encoded.iter().position(|b| !in_alphabet(b)) {
        let problem = "is outside the base64url alphabet (no padding, no whitespace)";
        return malformed(PREFIX.len() + at, "character", problem);
    }
    if encoded.len() % 4 == 1 {
        return malformed(token.len(), "body", "ends in the middle of a byte");
    }
    malformed(
        token.len() - 1,
        "last character",
        "has non-zero unused bits",
    )
}

/// Room for one decoded token: what [`Verifier::verify_in`] decodes into,
/// so that the verified claims can borrow from it instead of being copied.
/// About 800 bytes; keep one per thread or per request and reuse it, no
/// clearing needed.
///
/// ```
/// use encapsulated_token::TokenBuffer;
/// let mut buffer = TokenBuffer::new();
/// # let _ = &mut buffer;
/// ```
#[derive(Clone)]
pub struct TokenBuffer([u8; MAX_TAGGED_LEN]);

impl TokenBuffer {
    /// An empty buffer.
    ///
    /// ```
    /// let buffer = encapsulated_token::TokenBuffer::new();
    /// # let _ = buffer;
    /// ```
    pub const fn new() -> Self {
        Self([0; MAX_TAGGED_LEN])
    }
}

impl Default for TokenBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TokenBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenBuffer { .. }")
    }
}

/// A token that passed every check, with accessors for its claims.
///
/// `VerifiedToken` (from [`Verifier::verify`]) owns its decoded bytes, inline
/// (no heap); `VerifiedToken<&TokenBuffer>` (from [`Verifier::verify_in`])
/// borrows them from your buffer, so it is small and nothing is copied.
/// The accessors are the same.
///
/// ```
/// use encapsulated_token::{Claims, Issuer, Key, KeyRing, Verifier};
/// let ring = KeyRing::new(Key::generate().unwrap());
/// let claims = Claims::new("alice", std::time::Duration::from_secs(60)).with_attribute("role", "editor");
/// let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
/// let verified = Verifier::new(ring).verify(&token).unwrap();
/// assert_eq!(verified.attribute("role"), Some("editor"));
/// assert_eq!(verified.to_claims(), claims);
/// ```
#[derive(Clone)]
pub struct VerifiedToken<B = TokenBuffer> {
    /// The prefix, then the decoded body.
    buffer: B,
    body_len: u16,
    key_id: KeyId,
    layout: Layout,
}

impl VerifiedToken<&TokenBuffer> {
    /// The same verified token, owning a copy of its bytes: to keep it
    /// beyond the buffer's next use.
    ///
    /// ```
    /// # use encapsulated_token::*;
    /// # let ring = KeyRing::new(Key::generate().unwrap());
    /// # let token = Issuer::new(ring.clone()).mint(&Claims::new("alice", std::time::Duration::from_secs(60))).unwrap();
    /// let mut buffer = TokenBuffer::new();
    /// let kept: VerifiedToken = Verifier::new(ring).verify_in(&token, &mut buffer).unwrap().into_owned();
    /// buffer = TokenBuffer::new();
    /// assert_eq!(kept.subject(), "alice");
    /// # let _ = buffer;
    /// ```
    pub fn into_owned(self) -> VerifiedToken {
        VerifiedToken {
            buffer: self.buffer.clone(),
            body_len: self.body_len,
            key_id: self.key_id,
            layout: self.layout,
        }
    }
}

impl<B: Borrow<TokenBuffer>> VerifiedToken<B> {
    fn payload(&self) -> &[u8] {
        let tagged = &self.buffer.borrow().0;
        let body = &tagged[PREFIX.len()..PREFIX.len() + usize::from(self.body_len)];
        &body[KEY_ID_LEN..body.len() - TAG_LEN]
    }

    /// Who the token authenticates.
    ///
    /// ```
    /// # use encapsulated_token::*;
    /// # let ring = KeyRing::new(Key::generate().unwrap());
    /// # let token = Issuer::new(ring.clone()).mint(&Claims::new("zoë", std::time::Duration::from_secs(60))).unwrap();
    /// assert_eq!(Verifier::new(ring).verify(&token).unwrap().subject(), "zoë");
    /// ```
    pub fn subject(&self) -> &str {
        self.layout.text(self.payload(), &self.layout.subject)
    }

    /// The audience the token was minted for, if any.
    ///
    /// ```
    /// # use encapsulated_token::*;
    /// # let ring = KeyRing::new(Key::generate().unwrap());
    /// # let token = Issuer::new(ring.clone()).mint(&Claims::new("alice", std::time::Duration::from_secs(60))).unwrap();
    /// assert_eq!(Verifier::new(ring).verify(&token).unwrap().audience(), None);
    /// ```
    pub fn audience(&self) -> Option<&str> {
        self.layout.audience(self.payload())
    }

    /// When the token was minted.
    ///
    /// ```
    /// # use encapsulated_token::*;
    /// # let ring = KeyRing::new(Key::generate().unwrap());
    /// # let claims = Claims::new("alice", std::time::Duration::from_secs(60));
    /// # let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
    /// assert_eq!(Verifier::new(ring).verify(&token).unwrap().issued_at(), claims.issued_at);
    /// ```
    pub fn issued_at(&self) -> OffsetDateTime {
        unix_time(self.layout.issued_at)
    }

    /// When the token expires.
    ///
    /// ```
    /// # use encapsulated_token::*;
    /// # let ring = KeyRing::new(Key::generate().unwrap());
    /// # let claims = Claims::new("alice", std::time::Duration::from_secs(60));
    /// # let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
    /// assert_eq!(Verifier::new(ring).verify(&token).unwrap().expires_at(), claims.expires_at);
    /// ```
    pub fn expires_at(&self) -> OffsetDateTime {
        unix_time(self.layout.expires_at)
    }

    /// When the token's session began (the login; a refresh keeps it).
    ///
    /// ```
    /// # use encapsulated_token::*;
    /// # let ring = KeyRing::new(Key::generate().unwrap());
    /// let login = Claims::new("alice", std::time::Duration::from_secs(60));
    /// let refreshed = Claims::new("alice", std::time::Duration::from_secs(60))
    ///     .with_session_started_at(login.issued_at - time::Duration::hours(2));
    /// let token = Issuer::new(ring.clone()).mint(&refreshed).unwrap();
    /// let verified = Verifier::new(ring).verify(&token).unwrap();
    /// assert_eq!(verified.session_started_at(), login.issued_at - time::Duration::hours(2));
    /// ```
    pub fn session_started_at(&self) -> OffsetDateTime {
        unix_time(self.layout.session_started_at)
    }

    /// The token's unique id.
    ///
    /// ```
    /// # use encapsulated_token::*;
    /// # let ring = KeyRing::new(Key::generate().unwrap());
    /// # let claims = Claims::new("alice", std::time::Duration::from_secs(60));
    /// # let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
    /// assert_eq!(Verifier::new(ring).verify(&token).unwrap().token_id(), claims.token_id);
    /// ```
    pub fn token_id(&self) -> TokenId {
        TokenId::from_bytes(self.layout.token_id)
    }

    /// The id of the key that signed the token.
    ///
    /// ```
    /// # use encapsulated_token::*;
    /// # let ring = KeyRing::new(Key::generate().unwrap());
    /// # let token = Issuer::new(ring.clone()).mint(&Claims::new("alice", std::time::Duration::from_secs(60))).unwrap();
    /// assert_eq!(Verifier::new(ring.clone()).verify(&token).unwrap().key_id(), ring.active().id());
    /// ```
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The attributes, in ascending order of name.
    ///
    /// ```
    /// # use encapsulated_token::*;
    /// # let ring = KeyRing::new(Key::generate().unwrap());
    /// # let claims = Claims::new("alice", std::time::Duration::from_secs(60)).with_attribute("b", "2").with_attribute("a", "1");
    /// # let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
    /// let verified = Verifier::new(ring).verify(&token).unwrap();
    /// let names: Vec<_> = verified.attributes().map(|(name, _)| name).collect();
    /// assert_eq!(names, ["a", "b"]);
    /// ```
    pub fn attributes(&self) -> impl Iterator<Item = (&str, &str)> {
        self.layout.attributes(self.payload())
    }

    /// The value of attribute `name`, if present.
    ///
    /// ```
    /// # use encapsulated_token::*;
    /// # let ring = KeyRing::new(Key::generate().unwrap());
    /// # let claims = Claims::new("alice", std::time::Duration::from_secs(60)).with_attribute("tenant", "acme");
    /// # let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
    /// assert_eq!(Verifier::new(ring).verify(&token).unwrap().attribute("tenant"), Some("acme"));
    /// ```
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The claims, owned: for re-minting (sliding refresh) or printing.
    ///
    /// ```
    /// # use encapsulated_token::*;
    /// # let ring = KeyRing::new(Key::generate().unwrap());
    /// # let claims = Claims::new("alice", std::time::Duration::from_secs(60));
    /// # let token = Issuer::new(ring.clone()).mint(&claims).unwrap();
    /// assert_eq!(Verifier::new(ring).verify(&token).unwrap().to_claims(), claims);
    /// ```
    pub fn to_claims(&self) -> Claims {
        self.layout.to_claims(self.payload())
    }
}

impl<B: Borrow<TokenBuffer>> fmt::Debug for VerifiedToken<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedToken")
            .field("subject", &self.subject())
            .field("issued_at", &self.issued_at())
            .field("session_started_at", &self.session_started_at())
            .field("expires_at", &self.expires_at())
            .field("token_id", &self.token_id())
            .field("audience", &self.audience())
            .field("key_id", &self.key_id)
            .field("attributes", &self.attributes().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a token was refused. The variants are for logs and metrics; an HTTP
/// response should stay a uniform 401 that does not say which one it was.
///
/// ```
/// use encapsulated_token::{Key, KeyRing, Verifier, VerifyError};
/// let verifier = Verifier::new(KeyRing::new(Key::generate().unwrap()));
/// let err = verifier.verify("et1.AAAA").unwrap_err();
/// assert_eq!(err.kind(), "unsupported_version");
/// println!("refused: {err}");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifyError {
    /// Longer than the verifier's bound; refused before any other work.
    TooLong {
        /// The token's length in bytes.
        length: usize,
        /// The bound.
        max: usize,
    },
    /// Breaks a rule of the format.
    Malformed {
        /// Character position in the token where the problem starts.
        position: usize,
        /// Which part of the token.
        part: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A version of the format this library does not speak.
    UnsupportedVersion,
    /// Signed with a key this instance does not hold.
    UnknownKeyId {
        /// The key id the token names.
        key_id: KeyId,
    },
    /// The tag does not match: forged, altered, or signed with another key
    /// under the same id.
    BadTag {
        /// The key id the token names.
        key_id: KeyId,
    },
    /// Past its expiry, leeway included.
    Expired {
        /// When it expired (without leeway).
        expired_at: OffsetDateTime,
        /// The time it was checked at.
        now: OffsetDateTime,
    },
    /// Issued in the future, beyond the leeway: a clock is off.
    NotYetValid {
        /// Its issued-at time.
        valid_from: OffsetDateTime,
        /// The time it was checked at.
        now: OffsetDateTime,
    },
    /// Minted for another audience (or for one when none is expected).
    WrongAudience,
}

impl VerifyError {
    /// A stable snake_case name of the variant, for logs, metrics and the
    /// test vectors.
    ///
    /// ```
    /// use encapsulated_token::VerifyError;
    /// assert_eq!(VerifyError::WrongAudience.kind(), "wrong_audience");
    /// ```
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "too_long",
            Self::Malformed { .. } => "malformed",
            Self::UnsupportedVersion => "unsupported_version",
            Self::UnknownKeyId { .. } => "unknown_key_id",
            Self::BadTag { .. } => "bad_tag",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::WrongAudience => "wrong_audience",
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong { length, max } => write!(
                f,
                "token is {length} bytes, over the bound of {max}: not a token of this format"
            ),
            Self::Malformed {
                position,
                part,
                problem,
            } => write!(
                f,
                "malformed token at character {position}: {part} {problem} \
                 (truncated or altered in transit?)"
            ),
            Self::UnsupportedVersion => f.write_str(
                "token format version is not et2: minted by a newer or older release \
                     (et1 tokens, from before sessions had a start, need a new login)",
            ),
            Self::UnknownKeyId { key_id } => write!(
                f,
                "token signed with key {key_id}, which this instance does not hold: \
                 copy the key directory from the instance that minted it"
            ),
            Self::BadTag { key_id } => write!(
                f,
                "token tag does not match key {key_id}: forged or altered, or the key \
                 differs between instances (compare `etoken key list` fingerprints)"
            ),
            Self::Expired { expired_at, now } => write!(
                f,
                "token expired at {expired_at} (checked at {now}): log in again"
            ),
            Self::NotYetValid { valid_from, now } => write!(
                f,
                "token is valid only from {valid_from} but it is {now} here: \
                 this instance's clock is behind the issuer's beyond the leeway"
            ),
            Self::WrongAudience => f.write_str(
                "token was minted for another audience than this verifier expects: \
                 check that issuer and verifier name the same tier",
            ),
        }
    }
}

impl std::error::Error for VerifyError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_only_the_same_32_bytes() {
        let expected: [u8; TAG_LEN] = std::array::from_fn(|i| i as u8);
        assert!(tags_match(&expected, &expected));
        for at in 0..TAG_LEN {
            let mut other = expected;
            other[at] ^= 0x80;
            assert!(!tags_match(&expected, &other), "byte {at}");
        }
        assert!(!tags_match(&expected, &expected[..TAG_LEN - 1]));
    }
}
