//! The back-channel logout token (OpenID Connect Back-Channel Logout 1.0,
//! section 2.6), checked with jsonwebtoken against the provider's JWKS:
//! only an algorithm the provider advertises (never `none`, and the key's
//! own family: an HS256 token "signed" with an RSA public key is refused),
//! our issuer and audience, a recent `iat`, the logout event, a `sub`, and
//! no `nonce` (so an ID token cannot pass as one).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The event a logout token must carry.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The longest logout token read.
pub const MAX_LEN: usize = 16 * 1024;
/// How old a logout token may be, and how far ahead its `iat` may be.
const MAX_AGE: i64 = 600;
const LEEWAY: u64 = 60;

/// What a logout token must match.
#[derive(Clone)]
pub struct Expected {
    pub issuer: String,
    pub client_id: String,
    pub algorithms: Vec<Algorithm>,
}

/// Whose sessions a logout token ends.
#[derive(Debug, PartialEq, Eq)]
pub struct LoggedOut {
    pub subject: String,
}

/// Why a logout token is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// It names a key the JWKS does not hold (worth one refetch).
    UnknownKey(String),
    Invalid(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownKey(kid) => write!(f, "unknown key id {}", etoken::quoted(kid)),
            Self::Invalid(why) => f.write_str(why),
        }
    }
}

#[derive(Deserialize)]
struct LogoutClaims {
    iat: i64,
    sub: Option<String>,
    sid: Option<String>,
    events: serde_json::Map<String, serde_json::Value>,
    nonce: Option<serde_json::Value>,
}

/// Checks `token` against `keys` at `now` (Unix seconds).
pub fn check(
    token: &str,
    keys: &JwkSet,
    expected: &Expected,
    now: i64,
) -> Result<LoggedOut, Refused> {
    let invalid = |why: String| Refused::Invalid(why);
    if token.len() > MAX_LEN {
        return Err(invalid(format!("over {MAX_LEN} bytes")));
    }
    let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(format!("header: {e}")))?;
    if !expected.algorithms.contains(&header.alg) {
        return Err(invalid(format!(
            "algorithm {:?} is not one the provider advertises",
            header.alg
        )));
    }
    if let Some(typ) = &header.typ
        && !typ.eq_ignore_ascii_case("logout+jwt")
        && !typ.eq_ignore_ascii_case("JWT")
    {
        return Err(invalid(format!(
            "typ {} is not logout+jwt",
            etoken::quoted(typ)
        )));
    }
    let jwk = match &header.kid {
        Some(kid) => keys
            .find(kid)
            .ok_or_else(|| Refused::UnknownKey(kid.clone()))?,
        None if keys.keys.len() == 1 => &keys.keys[0],
        None => {
            return Err(invalid(
                "no key id, and the provider has several keys".into(),
            ));
        }
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|e| invalid(format!("key: {e}")))?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[expected.issuer.as_str()]);
    validation.set_audience(&[expected.client_id.as_str()]);
    validation.set_required_spec_claims(&["iss", "aud", "iat"]);
    validation.leeway = LEEWAY;
    let data = jsonwebtoken::decode::<LogoutClaims>(token, &key, &validation)
        .map_err(|e| invalid(format!("{e}")))?;
    let claims = data.claims;
    if claims.iat > now + LEEWAY as i64 || claims.iat < now - MAX_AGE {
        return Err(invalid(format!("iat {} is not recent", claims.iat)));
    }
    if !claims
        .events
        .get(LOGOUT_EVENT)
        .is_some_and(serde_json::Value::is_object)
    {
        return Err(invalid("no back-channel logout event".into()));
    }
    if claims.nonce.is_some() {
        return Err(invalid("a logout token carries no nonce".into()));
    }
    match (claims.sub, claims.sid) {
        (Some(subject), _) if !subject.is_empty() => Ok(LoggedOut { subject }),
        (_, Some(_)) => Err(invalid(
            "a sid without sub: sessions are not tracked by sid here".into(),
        )),
        _ => Err(invalid("neither sub nor sid".into())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::super::http::Http;
    use super::super::provider::KeyCache;
    use super::super::test_provider::{
        CLIENT_ID, ISSUER, JwksServer, KID, jwks, sign, sign_hs256_with_public_key, unsigned,
    };
    use super::*;

    fn now() -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }

    fn claims() -> Value {
        json!({
            "iss": ISSUER, "aud": CLIENT_ID, "iat": now(), "exp": now() + 120, "jti": "j-1",
            "sub": "alice", "sid": "s-1", "events": {LOGOUT_EVENT: {}},
        })
    }

    fn with(change: &[(&str, Value)]) -> Value {
        let mut claims = claims();
        for (name, value) in change {
            claims[*name] = value.clone();
        }
        claims
    }

    fn without(name: &str) -> Value {
        let mut claims = claims();
        claims.as_object_mut().unwrap().remove(name);
        claims
    }

    fn expected() -> Expected {
        Expected {
            issuer: ISSUER.into(),
            client_id: CLIENT_ID.into(),
            algorithms: vec![Algorithm::RS256],
        }
    }

    #[tokio::test]
    async fn a_logout_token_names_the_subject_and_every_forgery_is_refused() {
        let server = JwksServer::start(jwks(KID)).await;
        let keys = KeyCache::fetch(Http::new().unwrap(), &server.url)
            .await
            .unwrap();
        let keys = &keys.current().logout_tokens;
        let good = check(&sign(KID, &claims()), keys, &expected(), now()).unwrap();
        assert_eq!(good.subject, "alice");

        let forged = [
            ("alg none", unsigned(KID, &claims())),
            (
                "HS256 with the RSA public key",
                sign_hs256_with_public_key(KID, &claims()),
            ),
            (
                "wrong issuer",
                sign(KID, &with(&[("iss", json!("http://127.0.0.1:2/"))])),
            ),
            (
                "wrong audience",
                sign(KID, &with(&[("aud", json!("other"))])),
            ),
            (
                "expired",
                sign(
                    KID,
                    &with(&[("exp", json!(now() - 300)), ("iat", json!(now() - 400))]),
                ),
            ),
            (
                "old iat",
                sign(
                    KID,
                    &with(&[("iat", json!(now() - 3600)), ("exp", json!(now() + 60))]),
                ),
            ),
            (
                "iat of the wrong type",
                sign(KID, &with(&[("iat", json!("now"))])),
            ),
            ("no iat", sign(KID, &without("iat"))),
            ("no event", sign(KID, &with(&[("events", json!({}))]))),
            (
                "a nonce (an ID token)",
                sign(KID, &with(&[("nonce", json!("n"))])),
            ),
            ("no sub", sign(KID, &without("sub"))),
            ("tampered", {
                let token = sign(KID, &claims());
                let (rest, signature) = token.rsplit_once('.').unwrap();
                let flipped = if signature.starts_with('A') { "B" } else { "A" };
                format!("{rest}.{flipped}{}", &signature[1..])
            }),
        ];
        for (case, token) in forged {
            assert!(check(&token, keys, &expected(), now()).is_err(), "{case}");
        }
        // HS256 is refused even when advertised: the key is RSA.
        let lenient = Expected {
            algorithms: vec![Algorithm::HS256, Algorithm::RS256],
            ..expected()
        };
        assert!(
            check(
                &sign_hs256_with_public_key(KID, &claims()),
                keys,
                &lenient,
                now()
            )
            .is_err()
        );
        assert!(matches!(
            check(&sign("unknown", &claims()), keys, &expected(), now()),
            Err(Refused::UnknownKey(_))
        ));
        assert!(check(&"x".repeat(MAX_LEN + 1), keys, &expected(), now()).is_err());
    }
}
