//! Single sign-on with OpenID Connect: the provider vouches once, we mint
//! our own cookie, and every instance accepts it offline. Nothing is kept
//! between the login's two legs but the signed `sso-state` cookie, so the
//! callback may land on any instance; the provider's tokens are used once
//! and dropped.
//!
//! - [`settings`]: the `--oidc-*` flags, checked;
//! - [`http`]: our reqwest as openidconnect's HTTP client;
//! - [`provider`]: discovery and the JWKS (refetched on an unknown key id);
//! - [`state`]: the `sso-state` cookie;
//! - [`callback`]: the callback's checks, from `state` to the admitted user;
//! - [`id_token`] and [`rules`]: what the ID token proves, and who may in;
//! - [`provision`]: the user into the directory, bound to (issuer, sub);
//! - [`logout_token`]: the back-channel logout token's checks;
//! - [`routes`]: the HTTP side of all of it.

pub mod callback;
pub mod http;
pub mod id_token;
pub mod logout_token;
pub mod provider;
pub mod provision;
pub mod routes;
pub mod rules;
pub mod settings;
pub mod state;
#[cfg(test)]
mod test_provider;

use openidconnect::core::CoreGenderClaim;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields,
    StandardErrorResponse, StandardTokenResponse,
};
use url::Url;

use id_token::OtherClaims;

/// The token endpoint's answer, with our ID token claims.
pub type TokenResponse = StandardTokenResponse<
    IdTokenFields<
        OtherClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

/// The OpenID client as discovery makes it: an authorization endpoint,
/// maybe token and userinfo endpoints.
pub type Client = openidconnect::Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Single sign-on as configured and discovered: what its routes share.
pub struct Sso {
    pub client: Client,
    pub provider: provider::Provider,
    pub http: http::Http,
    pub id_tokens: id_token::Expected,
    pub logout_tokens: logout_token::Expected,
    pub rules: rules::Rules,
    pub groups_claim: String,
    pub scopes: Vec<String>,
    /// `{public-url}/sso/callback`.
    pub redirect_uri: Url,
    /// Where the provider sends the browser after its logout.
    pub post_logout_redirect_uri: Url,
    /// Whether cookies carry `Secure` (and the state cookie `__Host-`).
    pub secure: bool,
    /// What the login page's button says: "Sign in with NAME".
    pub display_name: String,
    /// One users-file writer at a time on this instance.
    pub file_lock: tokio::sync::Mutex<()>,
}

impl Sso {
    /// The provider's end-session URL for a logout, if it has one.
    pub fn end_session_url(&self) -> Option<Url> {
        let mut url = self
            .provider
            .metadata
            .additional_metadata()
            .end_session_endpoint
            .clone()?;
        url.query_pairs_mut()
            .append_pair("client_id", self.id_tokens.client_id.as_str())
            .append_pair(
                "post_logout_redirect_uri",
                self.post_logout_redirect_uri.as_str(),
            );
        Some(url)
    }
}
