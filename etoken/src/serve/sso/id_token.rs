//! The ID token's checks, by openidconnect: the signature with a key of
//! the provider's JWKS and only an algorithm it advertises (never `none`;
//! HS* only with our client secret), the issuer, the audience (our client
//! id), the expiry, the nonce of the state cookie; then what it says of
//! the user, with a groups claim of the wrong type refused, not skipped.

use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, ClientSecret, IdTokenVerifier, IssuerUrl,
    Nonce, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};

use super::rules::Claimed;

/// The claims beyond OpenID Connect Core's, by name (the groups claim's
/// name is configured).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct OtherClaims(pub serde_json::Map<String, serde_json::Value>);

impl AdditionalClaims for OtherClaims {}

pub type IdToken = openidconnect::IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
pub type IdTokenClaims = openidconnect::IdTokenClaims<OtherClaims, CoreGenderClaim>;
pub type UserInfoClaims = openidconnect::UserInfoClaims<OtherClaims, CoreGenderClaim>;

/// What an ID token must match.
#[derive(Clone)]
pub struct Expected {
    pub issuer: IssuerUrl,
    pub client_id: ClientId,
    pub client_secret: Option<ClientSecret>,
    /// The provider's advertised algorithms, `none` left out.
    pub algorithms: Vec<CoreJwsSigningAlgorithm>,
}

impl Expected {
    fn verifier<'a>(&self, keys: &CoreJsonWebKeySet) -> IdTokenVerifier<'a, CoreJsonWebKey> {
        let verifier = match &self.client_secret {
            Some(secret) => IdTokenVerifier::new_confidential_client(
                self.client_id.clone(),
                secret.clone(),
                self.issuer.clone(),
                keys.clone(),
            ),
            None => IdTokenVerifier::new_public_client(
                self.client_id.clone(),
                self.issuer.clone(),
                keys.clone(),
            ),
        };
        verifier.set_allowed_algs(
            self.algorithms
                .iter()
                .filter(|alg| **alg != CoreJwsSigningAlgorithm::None)
                .cloned(),
        )
    }
}

/// Verifies `token` against `keys`.
pub fn verify(
    token: &IdToken,
    keys: &CoreJsonWebKeySet,
    expected: &Expected,
    nonce: &Nonce,
) -> Result<IdTokenClaims, ClaimsVerificationError> {
    token.claims(&expected.verifier(keys), nonce).cloned()
}

/// Whether the token named a key the JWKS does not hold (worth a refetch).
pub fn unknown_key(error: &ClaimsVerificationError) -> bool {
    matches!(
        error,
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)
    )
}

/// What the ID token says of the user.
pub fn claimed(claims: &IdTokenClaims, groups_claim: &str) -> Result<Claimed, String> {
    Ok(Claimed {
        subject: claims.subject().as_str().to_owned(),
        email: claims.email().map(|e| e.as_str().to_owned()),
        email_verified: claims.email_verified(),
        preferred_username: claims.preferred_username().map(|u| u.as_str().to_owned()),
        groups: groups(claims.additional_claims(), groups_claim)?,
    })
}

/// Fills what the ID token left out from the userinfo response.
pub fn complete(
    claimed: &mut Claimed,
    info: &UserInfoClaims,
    groups_claim: &str,
) -> Result<(), String> {
    if claimed.email.is_none() {
        claimed.email = info.email().map(|e| e.as_str().to_owned());
        claimed.email_verified = info.email_verified();
    }
    if claimed.email_verified.is_none()
        && info.email().map(|e| e.as_str()) == claimed.email.as_deref()
    {
        claimed.email_verified = info.email_verified();
    }
    if claimed.preferred_username.is_none() {
        claimed.preferred_username = info.preferred_username().map(|u| u.as_str().to_owned());
    }
    if claimed.groups.is_none() {
        claimed.groups = groups(info.additional_claims(), groups_claim)?;
    }
    Ok(())
}

/// The groups claim: absent, or an array of strings; anything else is an
/// error.
fn groups(claims: &OtherClaims, name: &str) -> Result<Option<Vec<String>>, String> {
    match claims.0.get(name) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("the {name:?} claim holds a non-string"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!("the {name:?} claim is not an array of strings")),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::super::http::Http;
    use super::super::provider::KeyCache;
    use super::super::test_provider::{
        CLIENT_ID, ISSUER, JwksServer, KID, jwks, sign, sign_hs256_with_public_key, unsigned,
    };
    use super::*;

    const NONCE: &str = "the-nonce-of-the-state-cookie";

    fn claims() -> Value {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        json!({
            "iss": ISSUER, "aud": CLIENT_ID, "sub": "alice", "iat": now, "exp": now + 300,
            "nonce": NONCE, "email": "alice@example.com", "email_verified": true,
            "groups": ["staff", "editors"],
        })
    }

    fn with(change: &[(&str, Value)]) -> Value {
        let mut claims = claims();
        for (name, value) in change {
            claims[*name] = value.clone();
        }
        claims
    }

    fn expected(secret: Option<&str>, algorithms: Vec<CoreJwsSigningAlgorithm>) -> Expected {
        Expected {
            issuer: IssuerUrl::new(ISSUER.into()).unwrap(),
            client_id: ClientId::new(CLIENT_ID.into()),
            client_secret: secret.map(|s| ClientSecret::new(s.into())),
            algorithms,
        }
    }

    fn rs256() -> Expected {
        expected(
            Some("client-secret"),
            vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256],
        )
    }

    async fn keys() -> (JwksServer, KeyCache) {
        let server = JwksServer::start(jwks(KID)).await;
        let cache = KeyCache::fetch(Http::new().unwrap(), &server.url)
            .await
            .unwrap();
        (server, cache)
    }

    /// Verifies `token` with the served keys; any failure, parse or check, is `Err`.
    fn check(token: &str, keys: &KeyCache, expected: &Expected) -> Result<IdTokenClaims, String> {
        let parsed = IdToken::from_str(token).map_err(|e| format!("parse: {e}"))?;
        verify(
            &parsed,
            &keys.current().id_tokens,
            expected,
            &Nonce::new(NONCE.into()),
        )
        .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn a_good_id_token_passes_and_says_who() {
        let (_server, keys) = keys().await;
        let verified = check(&sign(KID, &claims()), &keys, &rs256()).unwrap();
        let claimed = claimed(&verified, "groups").unwrap();
        assert_eq!(claimed.subject, "alice");
        assert_eq!(claimed.email.as_deref(), Some("alice@example.com"));
        assert_eq!(claimed.email_verified, Some(true));
        assert_eq!(claimed.groups.unwrap(), ["staff", "editors"]);
    }

    #[tokio::test]
    async fn wrong_issuer_audience_nonce_or_expiry_are_refused() {
        let (_server, keys) = keys().await;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let cases = [
            (
                "issuer",
                with(&[("iss", json!("http://127.0.0.1:2/other"))]),
                "issuer",
            ),
            (
                "audience",
                with(&[("aud", json!("another-client"))]),
                "audiences",
            ),
            ("nonce", with(&[("nonce", json!("another-nonce"))]), "nonce"),
            (
                "no nonce",
                {
                    let mut c = claims();
                    c.as_object_mut().unwrap().remove("nonce");
                    c
                },
                "nonce",
            ),
            (
                "expired",
                with(&[("exp", json!(now - 600)), ("iat", json!(now - 900))]),
                "Expired",
            ),
        ];
        for (case, claims, why) in cases {
            let refused = check(&sign(KID, &claims), &keys, &rs256()).unwrap_err();
            assert!(refused.contains(why), "{case}: {refused}");
        }
    }

    #[tokio::test]
    async fn alg_none_and_hs256_with_the_rsa_public_key_are_refused() {
        let (_server, keys) = keys().await;
        assert!(check(&unsigned(KID, &claims()), &keys, &rs256()).is_err());
        // Even a verifier told about none and HS256 never takes these: none
        // is left out, and HS256 is checked with our client secret.
        let lenient = expected(
            Some("client-secret"),
            vec![
                CoreJwsSigningAlgorithm::None,
                CoreJwsSigningAlgorithm::HmacSha256,
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            ],
        );
        assert!(check(&unsigned(KID, &claims()), &keys, &lenient).is_err());
        let confused = sign_hs256_with_public_key(KID, &claims());
        assert!(check(&confused, &keys, &rs256()).is_err());
        assert!(check(&confused, &keys, &lenient).is_err());
        // The same claims, properly signed, pass both: the refusals were the alg's.
        assert!(check(&sign(KID, &claims()), &keys, &lenient).is_ok());
    }

    #[tokio::test]
    async fn an_unknown_key_id_is_refused_and_refetches_at_most_once_a_minute() {
        let (server, keys) = keys().await;
        let rotated = sign("test-key-2", &claims());
        let error = IdToken::from_str(&rotated)
            .map(|t| {
                verify(
                    &t,
                    &keys.current().id_tokens,
                    &rs256(),
                    &Nonce::new(NONCE.into()),
                )
            })
            .unwrap()
            .unwrap_err();
        assert!(unknown_key(&error), "{error}");
        // The provider rotates; within the minute no refetch happens.
        *server.document.lock().unwrap() = jwks("test-key-2");
        assert!(!keys.refetch().await);
        assert_eq!(server.fetches(), 1);
        assert!(check(&rotated, &keys, &rs256()).is_err());

        // Past the interval (a zero one here), one refetch picks the new key up.
        *server.document.lock().unwrap() = jwks(KID);
        let eager = KeyCache::fetch_every(Http::new().unwrap(), &server.url, Duration::ZERO)
            .await
            .unwrap();
        let before = server.fetches();
        assert!(check(&rotated, &eager, &rs256()).is_err());
        *server.document.lock().unwrap() = jwks("test-key-2");
        assert!(eager.refetch().await);
        assert_eq!(server.fetches(), before + 1);
        assert!(check(&rotated, &eager, &rs256()).is_ok());
    }

    #[tokio::test]
    async fn a_groups_claim_of_the_wrong_type_is_an_error_not_skipped() {
        let (_server, keys) = keys().await;
        for groups in [json!("staff"), json!([1, 2]), json!({"a": 1})] {
            let verified = check(
                &sign(KID, &with(&[("groups", groups.clone())])),
                &keys,
                &rs256(),
            )
            .unwrap();
            assert!(claimed(&verified, "groups").is_err(), "{groups}");
        }
    }
}
