//! Mint and verify through the public API: every refusal, every bound.

use std::sync::Arc;
use std::time::Duration;

use encapsulated_token::{
    Claims, Issuer, Key, KeyRing, MAX_TOKEN_LEN, MintError, Verifier, VerifyError,
    decode_unverified,
};
use time::OffsetDateTime;

fn setup() -> (Arc<KeyRing>, Issuer) {
    let ring = Arc::new(KeyRing::new(Key::generate().unwrap()));
    (ring.clone(), Issuer::new(ring))
}

fn hour() -> Duration {
    Duration::from_secs(3600)
}

#[test]
fn round_trip_keeps_every_claim() {
    let (ring, issuer) = setup();
    let claims = Claims::new("Zoë", hour())
        .with_audience("publish")
        .with_attribute("role", "editor")
        .with_attribute("tenant", "acme corp")
        .with_attribute("empty", "");
    let token = issuer.mint(&claims).unwrap();
    let verified = Verifier::new(ring)
        .with_audience("publish")
        .verify(&token)
        .unwrap();
    assert_eq!(verified.to_claims(), claims);
    assert_eq!(verified.attribute("empty"), Some(""));
    assert_eq!(verified.attribute("missing"), None);
    assert_eq!(decode_unverified(&token).unwrap().claims, claims);
}

#[test]
fn every_refusal_has_its_own_variant_and_an_actionable_message() {
    let (ring, issuer) = setup();
    let claims = Claims::new("alice", hour()).with_audience("publish");
    let token = issuer.mint(&claims).unwrap();
    let verifier = Verifier::new(ring.clone()).with_audience("publish");
    let now = claims.issued_at;

    let mut forged = token.clone().into_bytes();
    let last = forged.len() - 2;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();

    let stranger = Issuer::new(KeyRing::new(Key::generate().unwrap()))
        .mint(&claims)
        .unwrap();

    let cases: Vec<(Result<_, VerifyError>, &str, &str)> = vec![
        (
            verifier.verify_at(&"x".repeat(MAX_TOKEN_LEN + 1), now),
            "too_long",
            "over the bound",
        ),
        (
            verifier.verify_at("et2.!!!", now),
            "malformed",
            "character 4",
        ),
        (
            verifier.verify_at(&token.replacen("et2", "et9", 1), now),
            "unsupported_version",
            "newer or older release",
        ),
        (
            verifier.verify_at(&stranger, now),
            "unknown_key_id",
            "copy the key directory",
        ),
        (verifier.verify_at(&forged, now), "bad_tag", "fingerprints"),
        (
            verifier.verify_at(&token, claims.expires_at + time::Duration::minutes(1)),
            "expired",
            "log in again",
        ),
        (
            verifier.verify_at(&token, now - time::Duration::minutes(1)),
            "not_yet_valid",
            "clock",
        ),
        (
            Verifier::new(ring)
                .with_audience("author")
                .verify_at(&token, now),
            "wrong_audience",
            "same tier",
        ),
    ];
    for (result, kind, hint) in cases {
        let err = result.unwrap_err();
        assert_eq!(err.kind(), kind);
        assert!(err.to_string().contains(hint), "{kind}: {err}");
    }
}

#[test]
fn leeway_bounds_both_ends_exactly() {
    let (ring, issuer) = setup();
    let claims = Claims::new("alice", hour());
    let token = issuer.mint(&claims).unwrap();
    for leeway in [0, 1, 30, 300] {
        let verifier = Verifier::new(ring.clone()).with_leeway(Duration::from_secs(leeway));
        let l = time::Duration::seconds(leeway as i64);
        let second = time::Duration::SECOND;
        assert!(verifier.verify_at(&token, claims.issued_at - l).is_ok());
        assert!(matches!(
            verifier.verify_at(&token, claims.issued_at - l - second),
            Err(VerifyError::NotYetValid { .. })
        ));
        assert!(
            verifier
                .verify_at(&token, claims.expires_at + l - second)
                .is_ok()
        );
        assert!(matches!(
            verifier.verify_at(&token, claims.expires_at + l),
            Err(VerifyError::Expired { .. })
        ));
    }
}

#[test]
fn expired_error_says_when() {
    let (ring, issuer) = setup();
    let claims = Claims::new("alice", hour());
    let token = issuer.mint(&claims).unwrap();
    let later = claims.expires_at + time::Duration::hours(1);
    match Verifier::new(ring).verify_at(&token, later) {
        Err(VerifyError::Expired { expired_at, now }) => {
            assert_eq!(expired_at, claims.expires_at);
            assert_eq!(now, later);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lower_length_bound_is_checked_first() {
    let (ring, issuer) = setup();
    let token = issuer.mint(&Claims::new("alice", hour())).unwrap();
    let verifier = Verifier::new(ring).with_max_len(token.len() - 1);
    assert_eq!(
        verifier.verify(&token).unwrap_err(),
        VerifyError::TooLong {
            length: token.len(),
            max: token.len() - 1
        }
    );
    assert_eq!(
        Verifier::new(KeyRing::new(Key::generate().unwrap()))
            .with_max_len(usize::MAX)
            .max_len(),
        MAX_TOKEN_LEN
    );
}

#[test]
fn tokens_of_a_retired_key_stop_verifying_and_of_a_verify_only_key_still_do() {
    let old = Key::generate().unwrap();
    let new = Key::generate().unwrap();
    let (old_id, new_id) = (old.id(), new.id());
    let mut ring = KeyRing::new(old);
    let claims = Claims::new("alice", hour());
    let old_token = Issuer::new(ring.clone()).mint(&claims).unwrap();

    ring.insert(new).unwrap();
    ring.promote(new_id).unwrap();
    let new_token = Issuer::new(ring.clone()).mint(&claims).unwrap();
    let verifier = Verifier::new(ring.clone());
    assert_eq!(verifier.verify(&old_token).unwrap().key_id(), old_id);
    assert_eq!(verifier.verify(&new_token).unwrap().key_id(), new_id);

    ring.retire(old_id).unwrap();
    let verifier = Verifier::new(ring);
    assert!(matches!(
        verifier.verify(&old_token),
        Err(VerifyError::UnknownKeyId { key_id }) if key_id == old_id
    ));
    assert!(verifier.verify(&new_token).is_ok());
}

#[test]
fn mint_refuses_every_claim_out_of_bounds() {
    let (_, issuer) = setup();
    let base = || Claims::new("alice", hour());
    let at = |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap();
    let cases: Vec<(Claims, &str)> = vec![
        (Claims::new("", hour()), "subject"),
        (Claims::new("x".repeat(256), hour()), "subject"),
        (Claims::new("tab\there", hour()), "subject"),
        (Claims::new("del\u{7f}", hour()), "subject"),
        (base().with_audience(""), "audience"),
        (base().with_audience("a".repeat(65)), "audience"),
        (base().with_attribute("", "v"), "attribute name"),
        (base().with_attribute("a b", "v"), "attribute name"),
        (base().with_attribute("n".repeat(33), "v"), "attribute name"),
        (
            base().with_attribute("n", "v".repeat(129)),
            "attribute value",
        ),
        (base().with_attribute("n", "line\nbreak"), "attribute value"),
        (
            (0..9).fold(base(), |c, i| c.with_attribute(format!("a{i}"), "v")),
            "attributes",
        ),
        (
            Claims {
                expires_at: base().issued_at,
                ..base()
            },
            "expires_at",
        ),
        (
            Claims {
                issued_at: base().issued_at + time::Duration::milliseconds(5),
                ..base()
            },
            "issued_at",
        ),
        (
            Claims {
                issued_at: at(-1),
                ..base()
            },
            "issued_at",
        ),
        (
            Claims {
                session_started_at: base().issued_at + time::Duration::SECOND,
                ..base()
            },
            "session_started_at",
        ),
    ];
    for (claims, claim) in cases {
        match issuer.mint(&claims) {
            Err(MintError::InvalidClaim {
                claim: got,
                problem,
            }) => {
                assert_eq!(got, claim, "{problem}");
                let message = MintError::InvalidClaim { claim, problem }.to_string();
                assert!(message.starts_with("cannot mint a token: "), "{message}");
            }
            other => panic!("{claim}: {other:?}"),
        }
    }
}

#[test]
fn mint_refuses_claims_that_are_valid_but_too_long_together() {
    let (_, issuer) = setup();
    let claims = (0..8).fold(
        Claims::new("s".repeat(255), hour()).with_audience("a".repeat(64)),
        |c, i| c.with_attribute(format!("attribute-{i}"), "v".repeat(128)),
    );
    match issuer.mint(&claims) {
        Err(MintError::TooLong { length, max }) => {
            assert!(length > max);
            assert_eq!(max, MAX_TOKEN_LEN);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_lifetime_beyond_year_9999_is_refused_not_wrapped() {
    let (_, issuer) = setup();
    let claims = Claims::new("alice", Duration::from_secs(u64::MAX));
    assert!(matches!(
        issuer.mint(&claims),
        Err(MintError::InvalidClaim {
            claim: "expires_at",
            ..
        })
    ));
}

#[test]
fn verified_token_debug_shows_claims_not_bytes() {
    let (ring, issuer) = setup();
    let token = issuer.mint(&Claims::new("alice", hour())).unwrap();
    let shown = format!("{:?}", Verifier::new(ring).verify(&token).unwrap());
    assert!(shown.contains("alice"), "{shown}");
}
