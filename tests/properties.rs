//! Property tests of mint and verify: tampering in any single place is
//! refused, keys do not stand in for each other, the validity window holds
//! to the second at both ends, and every valid claim set survives a round
//! trip. The fuzz targets in `fuzz/` cover arbitrary input; these cover the
//! neighbourhood of valid tokens exhaustively.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use encapsulated_token::{
    Claims, Issuer, Key, KeyId, KeyRing, MAX_TOKEN_LEN, MintError, TokenId, Verifier, VerifyError,
    decode_unverified,
};
use proptest::prelude::*;
use time::OffsetDateTime;

const MAX_UNIX_TIME: i64 = encapsulated_token::format::MAX_UNIX_TIME as i64;

fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap()
}

fn key(id: [u8; 4], secret: [u8; 32]) -> Key {
    Key::from_secret(KeyId::from_bytes(id), secret, OffsetDateTime::UNIX_EPOCH)
}

/// Text as the format allows it: no ASCII control characters; any other
/// Unicode scalar, so multi-byte UTF-8 is common.
fn text(chars: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!(
        "[^\\x00-\\x1f\\x7f]{{{},{}}}",
        chars.start(),
        chars.end()
    ))
    .unwrap()
}

/// A valid window: `session_started_at <= issued_at < expires_at`, all
/// within 1970..=9999.
fn window() -> impl Strategy<Value = (i64, i64, i64)> {
    (0..MAX_UNIX_TIME)
        .prop_flat_map(|issued| (0..=issued, Just(issued), issued + 1..=MAX_UNIX_TIME))
}

/// Claims within every bound of `docs/FORMAT.md`. `size` scales the text
/// and the attribute count, so the mutation properties (which verify each
/// token thousands of times) stay fast.
fn claims(subject: usize, attributes: usize, value: usize) -> impl Strategy<Value = Claims> {
    (
        text(1..=subject),
        window(),
        any::<[u8; 16]>(),
        proptest::option::of(text(1..=16)),
        proptest::collection::btree_map("[A-Za-z0-9._-]{1,32}", text(0..=value), 0..=attributes),
    )
        .prop_map(
            |(subject, (started, issued, expires), id, audience, attributes)| Claims {
                subject,
                issued_at: at(issued),
                expires_at: at(expires),
                session_started_at: at(started),
                token_id: TokenId::from_bytes(id),
                audience,
                attributes,
            },
        )
}

/// The length FORMAT.md gives a token of these claims.
fn token_len(c: &Claims) -> usize {
    let attributes: usize = c
        .attributes
        .iter()
        .map(|(k, v)| 2 + k.len() + v.len())
        .sum();
    let payload = 8
        + 8
        + 8
        + 16
        + 1
        + c.subject.len()
        + 1
        + c.audience.as_ref().map_or(0, String::len)
        + 1
        + attributes;
    4 + ((4 + payload + 32) * 4).div_ceil(3)
}

/// A ring of one key, an issuer and a verifier (leeway zero) for which a
/// token of `claims` is valid at `claims.issued_at`.
fn setup(claims: &Claims) -> (Issuer, Verifier) {
    let ring = KeyRing::new(key([1, 2, 3, 4], [0x42; 32]));
    let mut verifier = Verifier::new(ring.clone()).with_leeway(Duration::ZERO);
    if let Some(audience) = &claims.audience {
        verifier = verifier.with_audience(audience);
    }
    (Issuer::new(ring), verifier)
}

/// A small token and a verifier that accepts it, for the exhaustive
/// neighbourhood checks.
fn small_token() -> impl Strategy<Value = (String, Verifier, OffsetDateTime)> {
    claims(24, 3, 12).prop_map(|claims| {
        let (issuer, verifier) = setup(&claims);
        let token = issuer.mint(&claims).expect("small claims mint");
        assert!(verifier.verify_at(&token, claims.issued_at).is_ok());
        (token, verifier, claims.issued_at)
    })
}

/// Bytes that are no `&str` cannot reach the verifier: refused by the type.
fn refused(verifier: &Verifier, bytes: &[u8], now: OffsetDateTime) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(token) => verifier.verify_at(token, now).is_err(),
        Err(_) => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn every_single_bit_flip_of_the_text_is_refused((token, verifier, now) in small_token()) {
        let mut bytes = token.into_bytes();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                bytes[i] ^= 1 << bit;
                prop_assert!(refused(&verifier, &bytes, now), "flip of bit {bit} of byte {i}");
                bytes[i] ^= 1 << bit;
            }
        }
    }

    #[test]
    fn every_single_bit_flip_of_the_body_is_refused((token, verifier, now) in small_token()) {
        // Flips in the decoded body (key id, payload, tag), spelled canonically:
        // what an attacker who knows the encoding would try.
        let mut body = URL_SAFE_NO_PAD.decode(&token[4..]).unwrap();
        for i in 0..body.len() {
            for bit in 0..8 {
                body[i] ^= 1 << bit;
                let tampered = format!("et2.{}", URL_SAFE_NO_PAD.encode(&body));
                let result = verifier.verify_at(&tampered, now);
                prop_assert!(result.is_err(), "flip of bit {bit} of body byte {i}");
                // The key id picks the key; every other byte is under the tag.
                if i >= 4 {
                    prop_assert!(
                        matches!(result, Err(VerifyError::BadTag { .. })),
                        "body byte {i}: {result:?}"
                    );
                }
                body[i] ^= 1 << bit;
            }
        }
    }

    #[test]
    fn every_one_byte_deletion_is_refused((token, verifier, now) in small_token()) {
        let bytes = token.as_bytes();
        for i in 0..bytes.len() {
            let shorter = [&bytes[..i], &bytes[i + 1..]].concat();
            prop_assert!(refused(&verifier, &shorter, now), "deletion at {i}");
        }
    }

    #[test]
    fn every_one_byte_insertion_is_refused((token, verifier, now) in small_token()) {
        let bytes = token.as_bytes();
        for i in 0..=bytes.len() {
            for inserted in 0..=u8::MAX {
                let longer = [&bytes[..i], &[inserted], &bytes[i..]].concat();
                prop_assert!(refused(&verifier, &longer, now), "byte {inserted:#04x} at {i}");
            }
        }
    }

    #[test]
    fn a_token_of_key_a_never_verifies_under_key_b(
        claims in claims(24, 3, 12),
        (id_a, secret_a) in any::<([u8; 4], [u8; 32])>(),
        (id_b, secret_b) in any::<([u8; 4], [u8; 32])>(),
        same_id in any::<bool>(),
    ) {
        prop_assume!(secret_a != secret_b);
        let id_b = if same_id { id_a } else { id_b };
        let token = Issuer::new(KeyRing::new(key(id_a, secret_a))).mint(&claims).unwrap();
        let mut verifier = Verifier::new(KeyRing::new(key(id_b, secret_b)));
        if let Some(audience) = &claims.audience {
            verifier = verifier.with_audience(audience);
        }
        let result = verifier.verify_at(&token, claims.issued_at);
        let key_id = KeyId::from_bytes(id_a);
        if id_a == id_b {
            prop_assert_eq!(result.err(), Some(VerifyError::BadTag { key_id }));
        } else {
            prop_assert_eq!(result.err(), Some(VerifyError::UnknownKeyId { key_id }));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn validity_holds_exactly_at_its_boundaries(
        claims in claims(8, 1, 8),
        leeway in prop_oneof![Just(0u64), 1..=86_400u64, 1..=5u64],
        fraction in 0..1_000_000_000i64,
    ) {
        let (issuer, verifier) = setup(&claims);
        let verifier = verifier.with_leeway(Duration::from_secs(leeway));
        let token = issuer.mint(&claims).unwrap();
        let leeway = leeway as i64;
        let (iat, exp) = (claims.issued_at.unix_timestamp(), claims.expires_at.unix_timestamp());
        let check = |seconds: i64| -> Option<Result<(), VerifyError>> {
            // Times beyond the year 9999 cannot be a clock reading.
            let now = OffsetDateTime::from_unix_timestamp(seconds).ok()?;
            let now = now + time::Duration::nanoseconds(fraction);
            Some(verifier.verify_at(&token, now).map(|_| ()))
        };
        // Valid for iat - L <= now < exp + L, now in whole seconds (a clock
        // reading with a fraction counts as its second).
        prop_assert_eq!(check(iat - leeway), Some(Ok(())));
        let early = check(iat - leeway - 1);
        prop_assert!(
            matches!(early, Some(Err(VerifyError::NotYetValid { .. }))),
            "{early:?}"
        );
        if let Some(result) = check(exp + leeway - 1) {
            prop_assert_eq!(result, Ok(()));
        }
        if let Some(result) = check(exp + leeway) {
            prop_assert!(matches!(result, Err(VerifyError::Expired { .. })), "{result:?}");
        }
    }

    #[test]
    fn any_valid_claim_set_round_trips(claims in claims(64, 8, 24)) {
        let (issuer, verifier) = setup(&claims);
        let token = match issuer.mint(&claims) {
            Ok(token) => token,
            Err(MintError::TooLong { length, max }) => {
                // Every claim is in bounds, but together they are too long.
                prop_assert_eq!(length, token_len(&claims));
                prop_assert!(length > max && max == MAX_TOKEN_LEN);
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("refused valid claims: {e}"))),
        };
        prop_assert_eq!(token.len(), token_len(&claims));
        let verified = verifier.verify_at(&token, claims.issued_at).unwrap();
        prop_assert_eq!(verified.to_claims(), claims.clone());
        prop_assert_eq!(verified.subject(), claims.subject.as_str());
        prop_assert_eq!(verified.audience(), claims.audience.as_deref());
        let attributes: BTreeMap<_, _> = verified
            .attributes()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        prop_assert_eq!(&attributes, &claims.attributes);
        prop_assert_eq!(decode_unverified(&token).unwrap().claims, claims.clone());
        // One spelling: the verified claims mint back to the same string.
        prop_assert_eq!(issuer.mint(&verified.to_claims()).unwrap(), token);
    }

    #[test]
    fn audience_must_match_exactly(
        claims in claims(8, 1, 8),
        other in text(1..=16),
        choice in 0..5u8,
    ) {
        // The minted audience itself, none, another, or a near miss.
        let minted = claims.audience.clone();
        let expected = match (choice, &minted) {
            (0, _) => minted.clone(),
            (1, _) => None,
            (3, Some(a)) => Some(format!("{a}{other}")),
            (4, Some(a)) if a.chars().count() > 1 => Some(a.chars().skip(1).collect()),
            _ => Some(other),
        };
        let (issuer, _) = setup(&claims);
        let token = issuer.mint(&claims).unwrap();
        let mut verifier = Verifier::new(issuer.ring().clone());
        if let Some(audience) = &expected {
            verifier = verifier.with_audience(audience);
        }
        let result = verifier.verify_at(&token, claims.issued_at);
        if expected == minted {
            prop_assert!(result.is_ok());
        } else {
            prop_assert_eq!(result.err(), Some(VerifyError::WrongAudience));
        }
    }
}
