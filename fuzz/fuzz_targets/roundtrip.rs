//! Arbitrary claims are minted, verified and compared equal, or refused at
//! mint with the bound error FORMAT.md predicts.
//!
//! The claims come from `arbitrary`, through a hand-written `Arbitrary` impl
//! whose layout is the token payload's own (with a flag byte in front), so the
//! payloads of the test vectors seed the corpus:
//!
//! ```text
//! flags u8 | issued_at i64 BE | expires_at i64 BE | session_started_at i64 BE
//!   | [issued_at nanos u32 BE if flags & 1] | [expires_at nanos u32 BE if flags & 2]
//!   | [session_started_at nanos u32 BE if flags & 8]
//!   | token_id[16] | u8 len subject | u8 len audience (0 = none unless flags & 4)
//!   | u8 count | count × (u8 len name | u8 len value)
//! ```
//!
//! Text is decoded lossily (a `String` is UTF-8); out-of-range times are
//! clamped to what `time` can hold, which still lies outside 1970..=9999.
#![no_main]

use std::collections::BTreeMap;
use std::sync::LazyLock;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use encapsulated_token::{
    Claims, Issuer, MintError, TokenId, Verifier, VerifyError, decode_unverified,
};
use fuzz_support::mint_outcome;
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

#[derive(Debug)]
struct FuzzClaims(Claims);

fn bytes<'a>(u: &mut Unstructured<'a>, n: usize) -> arbitrary::Result<&'a [u8]> {
    u.bytes(n)
}

fn text(u: &mut Unstructured<'_>) -> arbitrary::Result<String> {
    let len = u8::arbitrary(u)?;
    // A short field at the end of the input is taken as it is.
    let b = bytes(u, usize::from(len).min(u.len()))?;
    Ok(String::from_utf8_lossy(b).into_owned())
}

fn time(
    u: &mut Unstructured<'_>,
    with_nanos: bool,
    seconds: i64,
) -> arbitrary::Result<OffsetDateTime> {
    let min = OffsetDateTime::new_utc(time::Date::MIN, time::Time::MIDNIGHT).unix_timestamp();
    let max = OffsetDateTime::new_utc(time::Date::MAX, time::Time::MIDNIGHT).unix_timestamp();
    let t = OffsetDateTime::from_unix_timestamp(seconds.clamp(min, max)).expect("clamped");
    if !with_nanos {
        return Ok(t);
    }
    let nanos = u32::from_be_bytes(bytes(u, 4)?.try_into().unwrap()) % 1_000_000_000;
    Ok(t.replace_nanosecond(nanos).expect("below one second"))
}

impl<'a> Arbitrary<'a> for FuzzClaims {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let flags = u8::arbitrary(u)?;
        let issued = i64::from_be_bytes(bytes(u, 8)?.try_into().unwrap());
        let expires = i64::from_be_bytes(bytes(u, 8)?.try_into().unwrap());
        let started = i64::from_be_bytes(bytes(u, 8)?.try_into().unwrap());
        let issued_at = time(u, flags & 1 != 0, issued)?;
        let expires_at = time(u, flags & 2 != 0, expires)?;
        let session_started_at = time(u, flags & 8 != 0, started)?;
        let token_id = TokenId::from_bytes(bytes(u, 16)?.try_into().unwrap());
        let subject = text(u)?;
        let audience = Some(text(u)?).filter(|a| !a.is_empty() || flags & 4 != 0);
        let count = u8::arbitrary(u).unwrap_or(0);
        let mut attributes = BTreeMap::new();
        for _ in 0..count {
            if u.is_empty() {
                break;
            }
            let name = text(u)?;
            let value = text(u)?;
            attributes.insert(name, value);
        }
        Ok(Self(Claims {
            subject,
            issued_at,
            expires_at,
            session_started_at,
            token_id,
            audience,
            attributes,
        }))
    }
}

static ISSUER: LazyLock<Issuer> = LazyLock::new(|| Issuer::new(fuzz_support::ring()));
static VERIFIER: LazyLock<Verifier> =
    LazyLock::new(|| Verifier::new(fuzz_support::ring()).with_leeway(Duration::ZERO));

fuzz_target!(|input: FuzzClaims| {
    let claims = input.0;
    let minted = ISSUER.mint(&claims);
    match (mint_outcome(&claims), &minted) {
        (Err(claim), Err(MintError::InvalidClaim { claim: got, .. })) => {
            assert_eq!(*got, claim, "mint blamed another claim");
            return;
        }
        (Ok(length), Err(MintError::TooLong { length: got, max })) => {
            assert!(length > *max && *max == 1024, "refused a token of {length}");
            assert_eq!(*got, length);
            return;
        }
        (Ok(length), Ok(token)) => assert!(length <= 1024 && token.len() == length),
        (expected, got) => panic!("expected {expected:?}, mint gave {got:?}"),
    }
    let token = minted.unwrap();

    // Minting is a function of the claims and the key.
    assert_eq!(ISSUER.mint(&claims).as_deref(), Ok(token.as_str()));

    let verifier = match &claims.audience {
        Some(a) => VERIFIER.clone().with_audience(a),
        None => VERIFIER.clone(),
    };
    let verified = verifier
        .verify_at(&token, claims.issued_at)
        .expect("a minted token verifies in its window");
    assert_eq!(verified.to_claims(), claims);
    assert_eq!(verified.key_id(), ISSUER.ring().active().id());
    let decoded = decode_unverified(&token).expect("a minted token decodes");
    assert_eq!(decoded.claims, claims);

    let second = time::Duration::SECOND;
    assert!(
        verifier
            .verify_at(&token, claims.expires_at - second)
            .is_ok()
    );
    assert!(matches!(
        verifier.verify_at(&token, claims.expires_at),
        Err(VerifyError::Expired { .. })
    ));
    assert!(matches!(
        verifier.verify_at(&token, claims.issued_at - second),
        Err(VerifyError::NotYetValid { .. })
    ));
});
