//! Arbitrary bytes as a token, against the fixed ring of the test vectors.
//!
//! Checks, beyond "never panics":
//! - every refusal is the one FORMAT.md prescribes (kind, and position for
//!   `malformed`), as computed by the independent model in `fuzz_support`;
//! - whenever the verifier accepts, the tag really is HMAC-SHA256 of the
//!   signed bytes under the named key (computed here), re-minting the
//!   verified claims with that key gives back the identical string, and the
//!   token stops verifying one second either side of its validity window.
#![no_main]

use std::cell::RefCell;
use std::sync::LazyLock;
use std::time::Duration;

use encapsulated_token::{Issuer, KeyId, TokenBuffer, Verifier, VerifyError, decode_unverified};
use fuzz_support::{Refusal, decode_text, parse_payload, secret_of, tag};
use libfuzzer_sys::fuzz_target;
use time::OffsetDateTime;

struct Fixture {
    verifier: Verifier,
    issuers: Vec<(KeyId, Issuer)>,
}

thread_local! {
    /// Reused across inputs, as a server reuses one per request.
    static BUFFER: RefCell<TokenBuffer> = RefCell::new(TokenBuffer::new());
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| Fixture {
    verifier: Verifier::new(fuzz_support::ring()).with_leeway(Duration::ZERO),
    issuers: fuzz_support::issuers(),
});

/// The clock of the vectors, for tokens whose times cannot be read.
const VECTOR_NOW: i64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    // A verifier takes a `&str`: other bytes never reach it.
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let fx = &*FIXTURE;

    // The clock and audience under which this token would be valid, if its
    // payload can be read at all; otherwise the vectors' clock and none.
    let decoded = decode_unverified(token);
    let (now, audience) = match &decoded {
        Ok(d) => (d.claims.issued_at, d.claims.audience.clone()),
        Err(_) => (
            OffsetDateTime::from_unix_timestamp(VECTOR_NOW).unwrap(),
            None,
        ),
    };
    let verifier = match &audience {
        Some(a) => fx.verifier.clone().with_audience(a),
        None => fx.verifier.clone(),
    };
    let result = verifier.verify_at(token, now);

    // The view into a reused buffer (holding the previous input's bytes)
    // agrees with the owned result, claims included.
    let in_buffer = BUFFER.with_borrow_mut(|buffer| {
        verifier
            .verify_in_at(token, now, buffer)
            .map(|v| (v.key_id(), v.to_claims()))
    });
    assert_eq!(
        in_buffer,
        result
            .as_ref()
            .map(|v| (v.key_id(), v.to_claims()))
            .map_err(|e| *e),
        "verify_at and verify_in_at disagree on {token:?}"
    );

    if let Err(VerifyError::Malformed { position, .. }) = result {
        assert!(
            position <= token.len(),
            "position {position} outside the token"
        );
    }

    // What FORMAT.md says must happen, step by step.
    let expected: Result<(), Refusal> = (|| {
        let body = decode_text(token)?;
        let (signed, tag_bytes) = body.split_at(body.len() - 32);
        let Some(secret) = secret_of(&signed[..4]) else {
            return Err(Refusal {
                kind: "unknown_key_id",
                position: None,
            });
        };
        if tag(&secret, signed) != tag_bytes {
            return Err(Refusal {
                kind: "bad_tag",
                position: None,
            });
        }
        parse_payload(&signed[4..])?;
        Ok(())
    })();
    assert_eq!(
        result.as_ref().map(|_| ()).map_err(Refusal::of),
        expected,
        "verify and FORMAT.md disagree on {token:?}"
    );

    // Refusals that need no key are exactly decode_unverified's.
    if let Err(
        e @ (VerifyError::TooLong { .. }
        | VerifyError::Malformed { .. }
        | VerifyError::UnsupportedVersion),
    ) = result
    {
        assert_eq!(decoded.as_ref().err(), Some(&e));
    }

    let Ok(verified) = result else {
        return;
    };

    // Accepted: the tag is the HMAC of the signed bytes under the named key.
    let body = decode_text(token).expect("accepted tokens decode");
    let (signed, tag_bytes) = body.split_at(body.len() - 32);
    assert_eq!(signed[..4], verified.key_id().as_bytes()[..]);
    let secret = secret_of(verified.key_id().as_bytes()).expect("a key of the ring");
    assert_eq!(tag(&secret, signed), tag_bytes);

    // Canonical: re-minting the claims with the named key gives the same
    // string, and decoding without verifying agrees on every claim.
    let claims = verified.to_claims();
    let (_, issuer) = fx
        .issuers
        .iter()
        .find(|(id, _)| *id == verified.key_id())
        .expect("an issuer per key");
    assert_eq!(issuer.mint(&claims).as_deref(), Ok(token));
    let decoded = decoded.expect("accepted tokens decode");
    assert_eq!(decoded.claims, claims);
    assert_eq!(decoded.key_id, verified.key_id());

    // The validity window, leeway zero: [issued_at, expires_at).
    let second = time::Duration::SECOND;
    let at = |t| verifier.verify_at(token, t);
    assert!(at(claims.expires_at - second).is_ok());
    assert!(matches!(
        at(claims.expires_at),
        Err(VerifyError::Expired { .. })
    ));
    assert!(matches!(
        at(claims.issued_at - second),
        Err(VerifyError::NotYetValid { .. })
    ));
    // And the audience: exactly the one minted, or none.
    let other = "\u{1F512}other";
    if audience.as_deref() != Some(other) {
        let other = fx.verifier.clone().with_audience(other);
        assert_eq!(
            other.verify_at(token, now).err(),
            Some(VerifyError::WrongAudience)
        );
    }
    if audience.is_some() {
        assert_eq!(
            fx.verifier.verify_at(token, now).err(),
            Some(VerifyError::WrongAudience)
        );
    }
});
