//! The assertion checks without HTTP: every way an assertion can be wrong
//! gets its own typed refusal, and the algorithm is never the token's.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use etoken::assertion::{self, AssertionError, Claims, Expected};
use etoken::certificate::{CertificateKey, KeyPair, unix_now};
use etoken::public_url::PublicUrl;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::EncodePublicKey;
use serde_json::{Value, json};

const ORG: &str = "ORG@etoken";
const SUBJECT: &str = "ABC@techacct.farm.test";
const CLIENT: &str = "client-1";

struct Fixture {
    pair: KeyPair,
    keys: Vec<CertificateKey>,
    url: PublicUrl,
    scopes: Vec<String>,
    now: u64,
}

impl Fixture {
    fn new() -> Self {
        let pair = KeyPair::generate(SUBJECT, 30).unwrap();
        let keys = vec![CertificateKey::from_pem(&pair.certificate).unwrap()];
        Self {
            pair,
            keys,
            url: "https://farm.test".parse().unwrap(),
            scopes: vec!["read".into(), "write".into()],
            now: unix_now(),
        }
    }

    fn claims(&self) -> Claims {
        Claims::new(ORG, SUBJECT, &self.url, CLIENT, &["read"], self.now, 300)
    }

    fn sign(&self, claims: &Claims) -> String {
        assertion::sign(claims, &self.pair.private_key).unwrap()
    }

    fn check(&self, jwt: &str) -> Result<Vec<String>, AssertionError> {
        assertion::check(
            jwt,
            &Expected {
                org: ORG,
                technical_account_id: SUBJECT,
                client_id: CLIENT,
                public_urls: std::slice::from_ref(&self.url),
                scopes: &self.scopes,
                keys: &self.keys,
                now: self.now,
            },
        )
    }

    /// The claims as JSON, edited, signed RS256 with the account's key.
    fn sign_json(&self, edit: impl FnOnce(&mut Value)) -> String {
        let mut value = serde_json::to_value(self.claims()).unwrap();
        edit(&mut value);
        let key = EncodingKey::from_rsa_pem(self.pair.private_key.as_bytes()).unwrap();
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &value, &key).unwrap()
    }
}

#[test]
fn a_well_formed_assertion_grants_its_metascopes() {
    let f = Fixture::new();
    let mut claims = f.claims();
    claims
        .other
        .insert(f.url.metascope("write"), Value::Bool(true));
    claims
        .other
        .insert("https://elsewhere.test/s/admin".into(), Value::Bool(true));
    claims
        .other
        .insert(f.url.metascope("unasked"), Value::Bool(false));
    claims.other.insert("jti".into(), json!("x"));
    assert_eq!(f.check(&f.sign(&claims)).unwrap(), ["read", "write"]);
}

#[test]
fn alg_none_is_refused() {
    let f = Fixture::new();
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&f.claims()).unwrap());
    for jwt in [
        format!("{header}.{payload}."),
        format!("{header}.{payload}"),
    ] {
        let error = f.check(&jwt).unwrap_err();
        assert!(
            matches!(
                error,
                AssertionError::Malformed(_) | AssertionError::Algorithm
            ),
            "{error:?}"
        );
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let f = Fixture::new();
    let public = rsa::RsaPrivateKey::from_pkcs1_pem(&f.pair.private_key)
        .unwrap()
        .to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    for secret in [public.as_bytes(), f.pair.certificate.as_bytes()] {
        let jwt = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &f.claims(),
            &EncodingKey::from_secret(secret),
        )
        .unwrap();
        assert_eq!(f.check(&jwt), Err(AssertionError::Algorithm));
    }
}

#[test]
fn another_key_signature_is_refused() {
    let f = Fixture::new();
    let other = KeyPair::generate(SUBJECT, 30).unwrap();
    let jwt = assertion::sign(&f.claims(), &other.private_key).unwrap();
    assert_eq!(f.check(&jwt), Err(AssertionError::BadSignature));
    // A tampered payload under the right key's signature.
    let good = f.sign(&f.claims());
    let parts: Vec<&str> = good.split('.').collect();
    let mut claims = f.claims();
    claims.sub = "OTHER@techacct.farm.test".into();
    let forged = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    let jwt = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_eq!(f.check(&jwt), Err(AssertionError::BadSignature));
}

#[test]
fn expiry_is_required_not_past_and_at_most_24_hours_ahead() {
    let f = Fixture::new();
    let mut claims = f.claims();
    claims.exp = f.now - 120;
    assert!(matches!(
        f.check(&f.sign(&claims)),
        Err(AssertionError::Expired { .. })
    ));
    claims.exp = f.now + 25 * 3600;
    assert!(matches!(
        f.check(&f.sign(&claims)),
        Err(AssertionError::TooFarAhead { .. })
    ));
    claims.exp = f.now + 24 * 3600;
    assert!(f.check(&f.sign(&claims)).is_ok());
    let jwt = f.sign_json(|v| {
        v.as_object_mut().unwrap().remove("exp");
    });
    assert!(f.check(&jwt).is_err(), "no exp");
    // A string exp is a wrong type, not a skipped check.
    let jwt = f.sign_json(|v| v["exp"] = json!((f.now + 60).to_string()));
    assert!(f.check(&jwt).is_err(), "string exp");
    let jwt = f.sign_json(|v| v["nbf"] = json!(f.now + 3600));
    assert_eq!(f.check(&jwt), Err(AssertionError::NotYetValid));
}

#[test]
fn audience_issuer_and_subject_must_be_the_accounts() {
    let f = Fixture::new();
    let cases: [(&str, Value, AssertionError); 5] = [
        (
            "aud",
            json!("https://farm.test/c/other-client"),
            AssertionError::WrongAudience,
        ),
        (
            "aud",
            json!("https://evil.test/c/client-1"),
            AssertionError::WrongAudience,
        ),
        ("iss", json!("OTHER@etoken"), AssertionError::WrongIssuer),
        (
            "sub",
            json!("OTHER@techacct.farm.test"),
            AssertionError::WrongSubject,
        ),
        (
            "aud",
            json!(["https://farm.test/c/nope"]),
            AssertionError::WrongAudience,
        ),
    ];
    for (claim, value, expected) in cases {
        let jwt = f.sign_json(|v| v[claim] = value.clone());
        assert_eq!(f.check(&jwt), Err(expected), "{claim} = {value}");
    }
    for claim in ["aud", "iss", "sub"] {
        let jwt = f.sign_json(|v| {
            v.as_object_mut().unwrap().remove(claim);
        });
        assert!(f.check(&jwt).is_err(), "no {claim}");
    }
    let jwt =
        f.sign_json(|v| v["aud"] = json!(["https://x.test/c/y", "https://farm.test/c/client-1"]));
    assert!(f.check(&jwt).is_ok(), "an array naming us");
}

#[test]
fn scopes_must_be_asked_for_and_registered() {
    let f = Fixture::new();
    let mut claims = f.claims();
    claims.other.clear();
    assert_eq!(f.check(&f.sign(&claims)), Err(AssertionError::NoScope));
    claims
        .other
        .insert(f.url.metascope("admin"), Value::Bool(true));
    assert_eq!(
        f.check(&f.sign(&claims)),
        Err(AssertionError::UnregisteredScope("admin".into()))
    );
    claims.other.clear();
    claims.other.insert(f.url.metascope("read"), json!("true"));
    assert!(matches!(
        f.check(&f.sign(&claims)),
        Err(AssertionError::ClaimType(_))
    ));
}

#[test]
fn malformed_assertions_are_refused_without_panicking() {
    let f = Fixture::new();
    let good = f.sign(&f.claims());
    let parts: Vec<&str> = good.split('.').collect();
    let not_json = URL_SAFE_NO_PAD.encode(b"{not json");
    let cases = [
        String::new(),
        "a.b".into(),
        "a.b.c.d".into(),
        format!("{}.!!!not-base64!!!.{}", parts[0], parts[2]),
        format!("{}.{not_json}.{}", parts[0], parts[2]),
        format!("{not_json}.{}.{}", parts[1], parts[2]),
        format!("{good}x"),
        "é.é.é".into(),
    ];
    for jwt in cases {
        assert!(f.check(&jwt).is_err(), "{jwt:?}");
    }
    let long = "a".repeat(assertion::MAX_LEN + 1);
    assert!(matches!(
        f.check(&long),
        Err(AssertionError::TooLong { .. })
    ));
}

#[test]
fn an_expired_certificate_verifies_nothing() {
    let mut f = Fixture::new();
    let jwt = f.sign(&f.claims());
    f.now = f.keys[0].not_after + 10;
    let mut claims = f.claims();
    claims.exp = f.now + 60;
    let late = f.sign(&claims);
    assert_eq!(f.check(&late), Err(AssertionError::NoValidCertificate));
    assert!(f.check(&jwt).is_err());
}
