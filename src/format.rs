//! The v2 wire format: its constants, the claim bounds, and the binary
//! payload codec. `docs/FORMAT.md` is the normative text; this module is its
//! code, and the two change together.
//!
//! ```text
//! token   = "et2." base64url-nopad(body)
//! body    = key_id[4] || payload || tag[32]
//! tag     = HMAC-SHA256(key, "et2." || key_id || payload)
//! payload = issued_at u64 BE || expires_at u64 BE || session_started_at u64 BE
//!           || token_id[16]
//!           || u8 len || subject || u8 len || audience      (len 0 = none)
//!           || u8 count || count × (u8 len || key || u8 len || value)
//! ```

use std::ops::Range;

use time::OffsetDateTime;

use crate::claims::{Claims, TokenId};

/// The version prefix. It fixes the algorithm (HMAC-SHA256) and the payload
/// layout: no algorithm is ever read from a token. Version 2 added the
/// session's start; `et1.` tokens are refused as an unsupported version.
///
/// ```
/// assert!(encapsulated_token::format::PREFIX.starts_with("et2"));
/// ```
pub const PREFIX: &str = "et2.";

/// Hard upper bound on a token's length in characters, checked before any
/// other work. Far below the 4096 bytes browsers keep per cookie.
///
/// ```
/// assert_eq!(encapsulated_token::format::MAX_TOKEN_LEN, 1024);
/// ```
pub const MAX_TOKEN_LEN: usize = 1024;

/// Length in bytes of the key id that opens the body.
///
/// ```
/// assert_eq!(encapsulated_token::format::KEY_ID_LEN, 4);
/// ```
pub const KEY_ID_LEN: usize = 4;

/// Length in bytes of the HMAC-SHA256 tag that closes the body.
///
/// ```
/// assert_eq!(encapsulated_token::format::TAG_LEN, 32);
/// ```
pub const TAG_LEN: usize = 32;

/// Longest subject, in UTF-8 bytes.
///
/// ```
/// assert_eq!(encapsulated_token::format::MAX_SUBJECT_LEN, 255);
/// ```
pub const MAX_SUBJECT_LEN: usize = 255;

/// Longest audience, in UTF-8 bytes.
///
/// ```
/// assert_eq!(encapsulated_token::format::MAX_AUDIENCE_LEN, 64);
/// ```
pub const MAX_AUDIENCE_LEN: usize = 64;

/// Most attributes one token carries.
///
/// ```
/// assert_eq!(encapsulated_token::format::MAX_ATTRIBUTES, 8);
/// ```
pub const MAX_ATTRIBUTES: usize = 8;

/// Longest attribute name, in bytes of `[A-Za-z0-9._-]`.
///
/// ```
/// assert_eq!(encapsulated_token::format::MAX_ATTRIBUTE_KEY_LEN, 32);
/// ```
pub const MAX_ATTRIBUTE_KEY_LEN: usize = 32;

/// Longest attribute value, in UTF-8 bytes.
///
/// ```
/// assert_eq!(encapsulated_token::format::MAX_ATTRIBUTE_VALUE_LEN, 128);
/// ```
pub const MAX_ATTRIBUTE_VALUE_LEN: usize = 128;

/// Latest representable time, 9999-12-31T23:59:59Z in Unix seconds, so every
/// time in a token converts to a calendar date.
///
/// ```
/// assert_eq!(encapsulated_token::format::MAX_UNIX_TIME, 253_402_300_799);
/// ```
pub const MAX_UNIX_TIME: u64 = 253_402_300_799;

/// Longest body: what [`MAX_TOKEN_LEN`] characters of base64 can hold.
pub(crate) const MAX_BODY_LEN: usize = (MAX_TOKEN_LEN - PREFIX.len()) * 3 / 4;
/// Longest run of bytes a tag covers followed by the tag: the prefix, then
/// the longest body. Verification decodes into a buffer this long, after the
/// prefix, so the tag is computed over one contiguous message.
pub(crate) const MAX_TAGGED_LEN: usize = PREFIX.len() + MAX_BODY_LEN;
/// Fixed part of the payload: three times and the token id.
const FIXED_PAYLOAD_LEN: usize = 8 + 8 + 8 + 16;
/// Shortest payload: fixed part, a one-byte subject, no audience, no attributes.
const MIN_PAYLOAD_LEN: usize = FIXED_PAYLOAD_LEN + 1 + 1 + 1 + 1;
/// Shortest body a token can have.
pub(crate) const MIN_BODY_LEN: usize = KEY_ID_LEN + MIN_PAYLOAD_LEN + TAG_LEN;

/// Where each claim sits in a payload that [`parse_payload`] accepted.
/// Offsets are small (a body is at most [`MAX_BODY_LEN`] bytes), so the
/// layout is a handful of integers and borrows nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    pub issued_at: u64,
    pub expires_at: u64,
    pub session_started_at: u64,
    pub token_id: [u8; 16],
    pub subject: Range<u16>,
    /// Empty range: no audience.
    pub audience: Range<u16>,
    /// The attribute records, still length-prefixed; `count` of them.
    pub attributes: Range<u16>,
    pub attribute_count: u8,
}

impl Layout {
    /// A text claim of `payload`, which [`parse_payload`] checked as UTF-8.
    pub fn text<'p>(&self, payload: &'p [u8], range: &Range<u16>) -> &'p str {
        let bytes = &payload[usize::from(range.start)..usize::from(range.end)];
        std::str::from_utf8(bytes).unwrap_or_default() // never falls back
    }

    /// The audience, if present.
    pub fn audience<'p>(&self, payload: &'p [u8]) -> Option<&'p str> {
        Some(self.text(payload, &self.audience)).filter(|a| !a.is_empty())
    }

    /// The attributes, in ascending order of name.
    pub fn attributes<'p>(&self, payload: &'p [u8]) -> impl Iterator<Item = (&'p str, &'p str)> {
        let records =
            &payload[usize::from(self.attributes.start)..usize::from(self.attributes.end)];
        attribute_records(records).take(usize::from(self.attribute_count))
    }

    /// Every claim, owned.
    pub fn to_claims(&self, payload: &[u8]) -> Claims {
        Claims {
            subject: self.text(payload, &self.subject).to_owned(),
            issued_at: unix_time(self.issued_at),
            expires_at: unix_time(self.expires_at),
            session_started_at: unix_time(self.session_started_at),
            token_id: TokenId::from_bytes(self.token_id),
            audience: self.audience(payload).map(str::to_owned),
            attributes: self
                .attributes(payload)
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

/// A time from a parsed payload as a date; lossless, since the parser bounds
/// every time by [`MAX_UNIX_TIME`].
pub(crate) fn unix_time(seconds: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A payload that breaks a rule: the byte offset in the payload, the part
/// (a claim name) and what is wrong with it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PayloadError {
    pub offset: usize,
    pub part: &'static str,
    pub problem: &'static str,
}

/// Where a rule broke inside one field, and what it is: (offset, problem).
pub(crate) type FieldError = (usize, &'static str);

/// Checks a text claim against the rules shared by mint and verify: at most
/// `max` bytes of UTF-8 without control characters.
pub(crate) fn check_text(bytes: &[u8], max: usize) -> Result<(), FieldError> {
    if bytes.len() > max {
        return Err((max, "is longer than its bound"));
    }
    // Fast path: printable ASCII (nearly every claim) is valid UTF-8
    // without control characters.
    if is_printable_ascii(bytes) {
        return Ok(());
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err((e.valid_up_to(), "is not valid UTF-8"));
    }
    match bytes.iter().position(|&b| b < 0x20 || b == 0x7f) {
        Some(at) => Err((at, "contains a control character")),
        None => Ok(()),
    }
}

/// Whether every byte is printable ASCII (`0x20..=0x7e`), eight bytes at a
/// time: claims are short, so a byte loop's per-byte work or a vector loop's
/// set-up would dominate. Fields shorter than a word are read as two
/// overlapping halves (or three single bytes), never copied into a buffer.
#[inline]
fn is_printable_ascii(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    // A byte's high bit ends up set when the byte is 0x80 or above (`word`),
    // below 0x20 (subtracting 0x20 borrows), or 0x7f (adding 1 carries).
    // Once no byte is 0x80 or above, a carry never leaves its byte, and a
    // borrow only leaves a byte that is itself below 0x20: exact.
    let outside =
        |word: u64| (word | word.wrapping_sub(0x20 * ONES) | word.wrapping_add(ONES)) & HIGH_BITS;
    let half = |four: &[u8; 4]| u64::from(u32::from_le_bytes(*four));
    let found = if let Some(last) = bytes.last_chunk::<8>() {
        let (words, _) = bytes.as_chunks::<8>();
        let whole = words.iter().map(|w| outside(u64::from_le_bytes(*w)));
        whole.fold(outside(u64::from_le_bytes(*last)), |a, b| a | b)
    } else if let (Some(first), Some(last)) = (bytes.first_chunk::<4>(), bytes.last_chunk::<4>()) {
        outside(half(first) | half(last) << 32)
    } else if let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) {
        let middle = bytes[bytes.len() / 2];
        outside(u64::from_le_bytes([
            first, middle, last, b'a', b'a', b'a', b'a', b'a',
        ]))
    } else {
        0
    };
    found == 0
}

/// Checks a text claim that must not be empty.
fn check_nonempty_text(bytes: &[u8], max: usize) -> Result<(), FieldError> {
    if bytes.is_empty() {
        return Err((0, "is empty"));
    }
    check_text(bytes, max)
}

/// Checks a subject: like any text, and never empty.
pub(crate) fn check_subject(bytes: &[u8]) -> Result<(), FieldError> {
    check_nonempty_text(bytes, MAX_SUBJECT_LEN)
}

/// Checks an audience: like any text, and never empty (absent is spelled
/// with length 0, so an empty audience has no encoding of its own).
pub(crate) fn check_audience(bytes: &[u8]) -> Result<(), FieldError> {
    check_nonempty_text(bytes, MAX_AUDIENCE_LEN)
}

/// Checks an attribute value.
pub(crate) fn check_attribute_value(bytes: &[u8]) -> Result<(), FieldError> {
    check_text(bytes, MAX_ATTRIBUTE_VALUE_LEN)
}

/// Checks an attribute name: 1 to [`MAX_ATTRIBUTE_KEY_LEN`] bytes of
/// `[A-Za-z0-9._-]`, so names need no escaping anywhere they are printed.
pub(crate) fn check_attribute_key(bytes: &[u8]) -> Result<(), FieldError> {
    if bytes.is_empty() {
        return Err((0, "is empty"));
    }
    if bytes.len() > MAX_ATTRIBUTE_KEY_LEN {
        return Err((MAX_ATTRIBUTE_KEY_LEN, "is longer than its bound"));
    }
    if bytes
        .iter()
        .fold(true, |ok, &b| ok & NAME_BYTES[usize::from(b)])
    {
        return Ok(()); // the common case, in one pass without early exit
    }
    match bytes.iter().position(|&b| !NAME_BYTES[usize::from(b)]) {
        Some(at) => Err((at, "has a character outside [A-Za-z0-9._-]")),
        None => Ok(()),
    }
}

/// Which bytes an attribute name may hold: `[A-Za-z0-9._-]`, as a table,
/// one load per byte.
static NAME_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-';
        b += 1;
    }
    table
};

/// A cursor over the payload that turns every short read into a typed error.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn error(&self, offset: usize, part: &'static str, problem: &'static str) -> PayloadError {
        PayloadError {
            offset,
            part,
            problem,
        }
    }

    #[inline]
    fn take(&mut self, n: usize, part: &'static str) -> Result<Range<usize>, PayloadError> {
        let end = self.at + n;
        if end > self.bytes.len() {
            return Err(self.error(self.bytes.len(), part, "is cut short"));
        }
        let range = self.at..end;
        self.at = end;
        Ok(range)
    }

    #[inline]
    fn u8(&mut self, part: &'static str) -> Result<u8, PayloadError> {
        let r = self.take(1, part)?;
        Ok(self.bytes[r.start])
    }

    fn u64(&mut self, part: &'static str) -> Result<u64, PayloadError> {
        let r = self.take(8, part)?;
        let mut be = [0u8; 8];
        be.copy_from_slice(&self.bytes[r]);
        Ok(u64::from_be_bytes(be))
    }

    /// A length-prefixed field, checked with `check` (generic, so each
    /// check is inlined rather than called through a pointer).
    #[inline(always)]
    fn field(
        &mut self,
        part: &'static str,
        check: impl Fn(&[u8]) -> Result<(), FieldError>,
    ) -> Result<Range<usize>, PayloadError> {
        let len = usize::from(self.u8(part)?);
        let range = self.take(len, part)?;
        check(&self.bytes[range.clone()])
            .map_err(|(at, problem)| self.error(range.start + at, part, problem))?;
        Ok(range)
    }
}

fn narrow(r: Range<usize>) -> Range<u16> {
    // Lossless: a payload is at most MAX_BODY_LEN (765) bytes.
    r.start as u16..r.end as u16
}

/// Parses and checks a payload against every rule of the format, without
/// allocating. Offsets in the result are relative to `payload`.
pub(crate) fn parse_payload(payload: &[u8]) -> Result<Layout, PayloadError> {
    debug_assert!(payload.len() <= MAX_BODY_LEN);
    let mut r = Reader {
        bytes: payload,
        at: 0,
    };

    let issued_at = r.u64("issued-at")?;
    if issued_at > MAX_UNIX_TIME {
        return Err(r.error(0, "issued-at", "is after the year 9999"));
    }
    let expires_at = r.u64("expires-at")?;
    if expires_at > MAX_UNIX_TIME {
        return Err(r.error(8, "expires-at", "is after the year 9999"));
    }
    if expires_at <= issued_at {
        return Err(r.error(8, "expires-at", "is not after issued-at"));
    }
    // Not above MAX_UNIX_TIME either, since issued-at is not.
    let session_started_at = r.u64("session-started-at")?;
    if session_started_at > issued_at {
        return Err(r.error(16, "session-started-at", "is after issued-at"));
    }
    let id = r.take(16, "token id")?;
    let mut token_id = [0u8; 16];
    token_id.copy_from_slice(&payload[id]);

    let subject = r.field("subject", check_subject)?;
    let audience_at = r.at;
    let audience = if r.u8("audience")? == 0 {
        r.at..r.at
    } else {
        r.at = audience_at;
        r.field("audience", check_audience)?
    };

    let count_at = r.at;
    let attribute_count = r.u8("attribute count")?;
    if usize::from(attribute_count) > MAX_ATTRIBUTES {
        return Err(r.error(count_at, "attribute count", "is above the bound"));
    }
    let attributes_start = r.at;
    let mut previous: Option<Range<usize>> = None;
    for _ in 0..attribute_count {
        let key_at = r.at;
        let key = r.field("attribute name", check_attribute_key)?;
        if let Some(prev) = previous
            // Byte order, compared inline: names are short, a `memcmp`
            // call costs more than the loop.
            && payload[prev].iter().cmp(&payload[key.clone()]).is_ge()
        {
            let problem = "is not strictly after the previous one";
            return Err(r.error(key_at, "attribute name", problem));
        }
        r.field("attribute value", check_attribute_value)?;
        previous = Some(key);
    }
    if r.at != payload.len() {
        return Err(r.error(r.at, "payload", "has bytes after the last claim"));
    }

    Ok(Layout {
        issued_at,
        expires_at,
        session_started_at,
        token_id,
        subject: narrow(subject),
        audience: narrow(audience),
        attributes: narrow(attributes_start..r.at),
        attribute_count,
    })
}

/// Iterates over the attribute records of a payload that [`parse_payload`]
/// accepted, so lengths are trusted and names are valid UTF-8.
pub(crate) fn attribute_records(records: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    let mut rest = records;
    std::iter::from_fn(move || {
        let (key, after_key) = split_prefixed(rest)?;
        let (value, after_value) = split_prefixed(after_key)?;
        rest = after_value;
        Some((
            std::str::from_utf8(key).ok()?,
            std::str::from_utf8(value).ok()?,
        ))
    })
}

fn split_prefixed(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&len, rest) = bytes.split_first()?;
    let len = usize::from(len);
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// Appends a length-prefixed field. The caller checked `bytes` against its
/// bound, which is at most 255.
pub(crate) fn push_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    debug_assert!(bytes.len() <= usize::from(u8::MAX));
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// Character position in the token of the first base64 character that
/// encodes body byte `offset`: bytes map to characters 3 to 4.
pub(crate) fn char_position(body_offset: usize) -> usize {
    PREFIX.len() + body_offset * 4 / 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_bounds_follow_from_the_token_bound() {
        assert_eq!(MAX_BODY_LEN, 765);
        assert_eq!(MIN_BODY_LEN, 80);
        assert_eq!(char_position(0), 4);
        assert_eq!(char_position(3), 8);
    }

    #[test]
    fn text_rules() {
        assert!(check_text(b"alice", 255).is_ok());
        assert_eq!(
            check_text(b"a\nb", 255),
            Err((1, "contains a control character"))
        );
        assert_eq!(check_text(b"ab\xff", 255), Err((2, "is not valid UTF-8")));
        assert!(check_subject(b"").is_err());
        assert!(check_audience(b"").is_err());
        assert!(check_text(&[b'a'; 256], 255).is_err());
        assert!(check_attribute_key(b"role.main-1_x").is_ok());
        assert!(check_attribute_key(b"").is_err());
        assert!(check_attribute_key(b"a b").is_err());
    }

    /// The word-at-a-time check against the byte-by-byte definition: every
    /// byte value at every position of every length up to three words, in a
    /// field of otherwise printable bytes and next to a neighbour that is
    /// itself outside the range (borrows and carries between bytes).
    #[test]
    fn printable_ascii_matches_its_definition() {
        let printable = |bytes: &[u8]| bytes.iter().all(|b| (0x20..=0x7e).contains(b));
        for len in 1..=24 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    for neighbour in [b'a', b' ', b'~', 0x1f, 0x7f, 0x80, 0xff, 0x00] {
                        let mut field = vec![b'm'; len];
                        field[at] = byte;
                        if len > 1 {
                            field[(at + 1) % len] = neighbour;
                        }
                        assert_eq!(is_printable_ascii(&field), printable(&field), "{field:?}");
                    }
                }
            }
        }
        assert!(is_printable_ascii(b""));
    }

    #[test]
    fn name_table_is_the_documented_set() {
        for b in 0..=255u8 {
            let allowed = b.is_ascii_alphanumeric() || b"._-".contains(&b);
            assert_eq!(NAME_BYTES[usize::from(b)], allowed, "byte {b:#04x}");
        }
    }
}
