//! Shared pieces of the fuzz targets: the fixed key ring of the test vectors,
//! and a second, independent reading of `docs/FORMAT.md` (base64url, payload
//! layout, error positions) that the targets compare the library against.
//! Nothing here calls the library's own parser, so a bug has to be made twice,
//! the same way, to go unnoticed.

use std::collections::BTreeMap;

use encapsulated_token::{Claims, Issuer, Key, KeyId, KeyRing, TokenId, VerifyError};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use time::OffsetDateTime;

/// The keys of `tests/vectors/*.json`: the first is active. Vector tokens
/// signed with them verify in the `verify` target, so the fuzzer starts from
/// accepted tokens, not only from refused ones.
pub const KEYS: [([u8; 4], [u8; 32]); 2] = [
    ([0x0a, 0x1b, 0x2c, 0x3d], seq(0x00)),
    ([0x5e, 0x6f, 0x70, 0x81], seq(0x20)),
];

const fn seq(start: u8) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = start + i as u8;
        i += 1;
    }
    out
}

/// A key of [`KEYS`] as a library key.
pub fn key(index: usize) -> Key {
    let (id, secret) = KEYS[index];
    Key::from_secret(KeyId::from_bytes(id), secret, OffsetDateTime::UNIX_EPOCH)
}

/// The ring every verifier of the targets uses: both keys, the first active.
pub fn ring() -> KeyRing {
    let mut ring = KeyRing::new(key(0));
    ring.insert(key(1)).expect("distinct ids");
    ring
}

/// One issuer per key of [`KEYS`], each minting with that key, so a verified
/// token can be re-minted with the key it names.
pub fn issuers() -> Vec<(KeyId, Issuer)> {
    (0..KEYS.len())
        .map(|i| (key(i).id(), Issuer::new(KeyRing::new(key(i)))))
        .collect()
}

/// The secret of the key with id `id`, if it is one of [`KEYS`].
pub fn secret_of(id: &[u8]) -> Option<[u8; 32]> {
    KEYS.iter().find(|(k, _)| k == id).map(|(_, s)| *s)
}

/// HMAC-SHA256(secret, "et2." || signed), computed here, not by the library.
pub fn tag(secret: &[u8; 32], signed: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
    mac.update(b"et2.");
    mac.update(signed);
    mac.finalize().into_bytes().into()
}

/// The parts of a refusal that FORMAT.md fixes: the kind and, for
/// `malformed`, the position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub kind: &'static str,
    pub position: Option<usize>,
}

impl Refusal {
    fn malformed(position: usize) -> Self {
        Self {
            kind: "malformed",
            position: Some(position),
        }
    }

    fn plain(kind: &'static str) -> Self {
        Self {
            kind,
            position: None,
        }
    }

    /// The same parts of a library error.
    pub fn of(e: &VerifyError) -> Self {
        match e {
            VerifyError::Malformed { position, .. } => Self::malformed(*position),
            other => Self::plain(other.kind()),
        }
    }
}

pub const PREFIX: &str = "et2.";
pub const MAX_TOKEN_LEN: usize = 1024;
pub const MIN_BODY_LEN: usize = 80;
pub const MAX_UNIX_TIME: u64 = 253_402_300_799;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn sextet(c: u8) -> Option<u8> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u8)
}

/// Canonical base64url without padding, written out by hand.
pub fn encode64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// The token with this body: `et2.` and canonical base64url.
pub fn token_of(body: &[u8]) -> String {
    format!("{PREFIX}{}", encode64(body))
}

/// Steps 1 to 3 of FORMAT.md section 4 (length, version, encoding), with a
/// verifier bound of 1024: the body, or the refusal the text prescribes.
pub fn decode_text(t: &str) -> Result<Vec<u8>, Refusal> {
    if t.len() > MAX_TOKEN_LEN {
        return Err(Refusal::plain("too_long"));
    }
    let bytes = t.as_bytes();
    if !t.starts_with(PREFIX) {
        if let Some(rest) = t.strip_prefix("et") {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if (1..=8).contains(&digits) && rest.as_bytes().get(digits) == Some(&b'.') {
                return Err(Refusal::plain("unsupported_version"));
            }
        }
        let at = (0..bytes.len().min(4))
            .find(|&i| bytes[i] != PREFIX.as_bytes()[i])
            .unwrap_or(bytes.len());
        return Err(Refusal::malformed(at));
    }
    let b = &bytes[4..];
    let mut values = Vec::with_capacity(b.len());
    for (i, &c) in b.iter().enumerate() {
        match sextet(c) {
            Some(v) => values.push(v),
            None => return Err(Refusal::malformed(4 + i)),
        }
    }
    match b.len() % 4 {
        1 => return Err(Refusal::malformed(t.len())),
        2 if values[values.len() - 1] & 0x0f != 0 => return Err(Refusal::malformed(t.len() - 1)),
        3 if values[values.len() - 1] & 0x03 != 0 => return Err(Refusal::malformed(t.len() - 1)),
        _ => {}
    }
    let mut body = Vec::with_capacity(b.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for v in values {
        acc = acc << 6 | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            body.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if body.len() < MIN_BODY_LEN {
        return Err(Refusal::malformed(t.len()));
    }
    Ok(body)
}

/// The character position FORMAT.md gives for payload offset `o`.
pub fn payload_position(o: usize) -> usize {
    4 + 4 * (4 + o) / 3
}

/// The claims of a payload, as raw parts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Payload {
    pub issued_at: u64,
    pub expires_at: u64,
    pub session_started_at: u64,
    pub token_id: [u8; 16],
    pub subject: Vec<u8>,
    /// Empty: no audience.
    pub audience: Vec<u8>,
    pub attributes: Vec<(Vec<u8>, Vec<u8>)>,
    /// Written as the attribute count when set, instead of the true count.
    pub count_override: Option<u8>,
    /// Bytes after the last record.
    pub trailing: Vec<u8>,
}

impl Payload {
    /// The payload bytes. Fields longer than 255 bytes are cut to 255 so the
    /// length byte stays truthful.
    pub fn encode(&self, out: &mut Vec<u8>) {
        fn field(out: &mut Vec<u8>, bytes: &[u8]) {
            let bytes = &bytes[..bytes.len().min(255)];
            out.push(bytes.len() as u8);
            out.extend_from_slice(bytes);
        }
        out.extend_from_slice(&self.issued_at.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        out.extend_from_slice(&self.session_started_at.to_be_bytes());
        out.extend_from_slice(&self.token_id);
        field(out, &self.subject);
        field(out, &self.audience);
        let count = self
            .count_override
            .unwrap_or(self.attributes.len().min(255) as u8);
        out.push(count);
        for (name, value) in self.attributes.iter().take(255) {
            field(out, name);
            field(out, value);
        }
        out.extend_from_slice(&self.trailing);
    }

    /// Splits a payload into parts by its length bytes alone, checking no
    /// rule but the framing: for the structure-aware mutator, which must also
    /// handle payloads that break the rules.
    pub fn frame(payload: &[u8]) -> Option<Self> {
        let mut r = payload;
        let mut take = |n: usize| -> Option<&[u8]> {
            let (head, tail) = r.split_at_checked(n)?;
            r = tail;
            Some(head)
        };
        let issued_at = u64::from_be_bytes(take(8)?.try_into().ok()?);
        let expires_at = u64::from_be_bytes(take(8)?.try_into().ok()?);
        let session_started_at = u64::from_be_bytes(take(8)?.try_into().ok()?);
        let token_id = take(16)?.try_into().ok()?;
        let mut field = || -> Option<Vec<u8>> {
            let len = take(1)?[0];
            Some(take(usize::from(len))?.to_vec())
        };
        let subject = field()?;
        let audience = field()?;
        let count = take(1)?[0];
        let mut attributes = Vec::new();
        for _ in 0..count {
            let mut field = || -> Option<Vec<u8>> {
                let len = take(1)?[0];
                Some(take(usize::from(len))?.to_vec())
            };
            let name = field()?;
            let value = field()?;
            attributes.push((name, value));
        }
        Some(Self {
            issued_at,
            expires_at,
            session_started_at,
            token_id,
            subject,
            audience,
            attributes,
            count_override: None,
            trailing: r.to_vec(),
        })
    }
}

/// Text rules: at most `max` bytes of UTF-8 without control characters. The
/// offset of the first broken rule, in FORMAT.md's order.
fn text_problem(bytes: &[u8], max: usize) -> Option<usize> {
    if bytes.len() > max {
        return Some(max);
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Some(e.valid_up_to());
    }
    bytes.iter().position(|&b| b < 0x20 || b == 0x7f)
}

fn name_problem(bytes: &[u8]) -> Option<usize> {
    if bytes.is_empty() {
        return Some(0);
    }
    if bytes.len() > 32 {
        return Some(32);
    }
    bytes
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
}

/// Step 6 of FORMAT.md section 4: the parsed payload, or the position of the
/// first broken rule.
pub fn parse_payload(p: &[u8]) -> Result<Payload, Refusal> {
    let at = |o: usize| Refusal::malformed(payload_position(o));
    let short = at(p.len());
    let mut pos = 0usize;
    let take = |pos: &mut usize, n: usize| -> Result<std::ops::Range<usize>, Refusal> {
        if *pos + n > p.len() {
            return Err(short);
        }
        *pos += n;
        Ok(*pos - n..*pos)
    };
    let u64_at = |r: std::ops::Range<usize>| u64::from_be_bytes(p[r].try_into().unwrap());

    let issued_at = u64_at(take(&mut pos, 8)?);
    if issued_at > MAX_UNIX_TIME {
        return Err(at(0));
    }
    let expires_at = u64_at(take(&mut pos, 8)?);
    if expires_at > MAX_UNIX_TIME || expires_at <= issued_at {
        return Err(at(8));
    }
    let session_started_at = u64_at(take(&mut pos, 8)?);
    if session_started_at > issued_at {
        return Err(at(16));
    }
    let token_id: [u8; 16] = p[take(&mut pos, 16)?].try_into().unwrap();

    // A length-prefixed field, taken whole, then checked.
    let field = |pos: &mut usize| -> Result<std::ops::Range<usize>, Refusal> {
        let len = p[take(pos, 1)?.start];
        take(pos, usize::from(len))
    };

    let subject = field(&mut pos)?;
    if subject.is_empty() {
        return Err(at(subject.start));
    }
    if let Some(o) = text_problem(&p[subject.clone()], 255) {
        return Err(at(subject.start + o));
    }
    let audience = field(&mut pos)?;
    if let Some(o) = text_problem(&p[audience.clone()], 64) {
        return Err(at(audience.start + o));
    }
    let count_at = pos;
    let count = p[take(&mut pos, 1)?.start];
    if count > 8 {
        return Err(at(count_at));
    }
    let mut attributes: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for _ in 0..count {
        let record_at = pos;
        let name = field(&mut pos)?;
        if let Some(o) = name_problem(&p[name.clone()]) {
            return Err(at(name.start + o));
        }
        if attributes
            .last()
            .is_some_and(|(prev, _)| prev[..] >= p[name.clone()])
        {
            return Err(at(record_at));
        }
        let value = field(&mut pos)?;
        if let Some(o) = text_problem(&p[value.clone()], 128) {
            return Err(at(value.start + o));
        }
        attributes.push((p[name].to_vec(), p[value].to_vec()));
    }
    if pos != p.len() {
        return Err(at(pos));
    }
    Ok(Payload {
        issued_at,
        expires_at,
        session_started_at,
        token_id,
        subject: p[subject].to_vec(),
        audience: p[audience].to_vec(),
        attributes,
        count_override: None,
        trailing: Vec::new(),
    })
}

/// The claims a valid payload stands for.
pub fn claims_of(p: &Payload) -> Claims {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("checked text");
    let time = |s: u64| OffsetDateTime::from_unix_timestamp(s as i64).expect("checked time");
    Claims {
        subject: text(&p.subject),
        issued_at: time(p.issued_at),
        expires_at: time(p.expires_at),
        session_started_at: time(p.session_started_at),
        token_id: TokenId::from_bytes(p.token_id),
        audience: (!p.audience.is_empty()).then(|| text(&p.audience)),
        attributes: p
            .attributes
            .iter()
            .map(|(k, v)| (text(k), text(v)))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// What minting `claims` must give, by FORMAT.md and the mint contract:
/// `Err(claim)` naming the first claim (in mint's order) that breaks a rule,
/// or `Ok(length)` of the token it would be (which may exceed 1024).
pub fn mint_outcome(claims: &Claims) -> Result<usize, &'static str> {
    let seconds = |t: OffsetDateTime| {
        let s = t.unix_timestamp();
        (t.nanosecond() == 0 && (0..=MAX_UNIX_TIME as i64).contains(&s)).then_some(s)
    };
    let issued = seconds(claims.issued_at).ok_or("issued_at")?;
    let expires = seconds(claims.expires_at).ok_or("expires_at")?;
    if expires <= issued {
        return Err("expires_at");
    }
    let started = seconds(claims.session_started_at).ok_or("session_started_at")?;
    if started > issued {
        return Err("session_started_at");
    }
    let subject = claims.subject.as_bytes();
    if subject.is_empty() || text_problem(subject, 255).is_some() {
        return Err("subject");
    }
    let audience = claims.audience.as_deref().map(str::as_bytes);
    if let Some(a) = audience
        && (a.is_empty() || text_problem(a, 64).is_some())
    {
        return Err("audience");
    }
    if claims.attributes.len() > 8 {
        return Err("attributes");
    }
    let mut payload = 8 + 8 + 8 + 16 + 1 + subject.len() + 1 + audience.map_or(0, <[u8]>::len) + 1;
    for (name, value) in &claims.attributes {
        if name_problem(name.as_bytes()).is_some() {
            return Err("attribute name");
        }
        if text_problem(value.as_bytes(), 128).is_some() {
            return Err("attribute value");
        }
        payload += 2 + name.len() + value.len();
    }
    let body = 4 + payload + 32;
    Ok(PREFIX.len() + (body * 4).div_ceil(3))
}
