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
