//! The login's two legs, below HTTP. [`begin`]: the provider's
//! authorization URL (code flow, PKCE S256, state, nonce) and the state
//! cookie that remembers them. [`finish`]: the callback's checks in order,
//! the provider's `error`, our `state` and the `iss` parameter, the code
//! exchange with the PKCE verifier, the ID token, userinfo when a claim
//! is missing, the rules; the provider's tokens are dropped at the end.

use axum::http::HeaderValue;
use encapsulated_token::handler::Authenticator;
use openidconnect::core::CoreAuthenticationFlow;
use openidconnect::{
    AuthorizationCode, CsrfToken, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    Scope, TokenResponse as _,
};
use serde::Deserialize;
use url::Url;
use zeroize::Zeroizing;

use super::Sso;
use super::id_token::{self, UserInfoClaims};
use super::rules::{self, Admitted};
use super::state::{self, LoginState};
use crate::serve::redirect::LocalTarget;

/// Where the browser goes to sign in, and the state cookie to set.
pub struct Begun {
    pub location: Url,
    pub cookie: HeaderValue,
}

/// Starts a login that will end on `resource`.
pub fn begin(sso: &Sso, auth: &Authenticator, resource: LocalTarget) -> Result<Begun, String> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = sso.client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for scope in sso.scopes.iter().filter(|s| *s != "openid") {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    let (location, csrf, nonce) = request.set_pkce_challenge(challenge).url();
    let login = LoginState {
        state: csrf.secret().clone(),
        nonce: nonce.secret().clone(),
        verifier: Zeroizing::new(verifier.secret().clone()),
        resource,
    };
    let token = login.seal(auth)?;
    Ok(Begun {
        location,
        cookie: state::set_cookie(&token, sso.secure),
    })
}

/// The callback's query.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Why a callback is refused; the text is for the log only.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400: a broken, replayed or forged callback.
    BadRequest(String),
    /// 403: the provider vouched, our rules refuse.
    Forbidden(String),
    /// 502/503: the provider or the directory cannot answer now.
    Unavailable(String),
}

/// The user the provider vouched for and the rules admitted.
#[derive(Debug)]
pub struct Vouched {
    pub issuer: String,
    pub subject: String,
    pub admitted: Admitted,
}

/// Checks the callback's `query` against the `login` its state cookie
/// carried, and completes the login at the provider.
pub async fn finish(
    sso: &Sso,
    query: &CallbackQuery,
    login: &LoginState,
) -> Result<Vouched, Refusal> {
    let bad = |why: String| Refusal::BadRequest(why);
    if let Some(error) = &query.error {
        return Err(bad(format!(
            "the provider answered {}: {}",
            etoken::quoted(error),
            etoken::quoted(query.error_description.as_deref().unwrap_or(""))
        )));
    }
    let state = query
        .state
        .as_deref()
        .ok_or_else(|| bad("no state".into()))?;
    if !login.matches(state) {
        return Err(bad(format!(
            "state {} is not the cookie's",
            etoken::quoted(state)
        )));
    }
    let issuer = sso.provider.issuer().as_str();
    if let Some(iss) = &query.iss
        && iss != issuer
    {
        return Err(bad(format!(
            "iss {} is not the provider's",
            etoken::quoted(iss)
        )));
    }
    let code = query.code.as_deref().ok_or_else(|| bad("no code".into()))?;
    let response = sso
        .client
        .exchange_code(AuthorizationCode::new(code.to_owned()))
        .map_err(|e| Refusal::Unavailable(format!("the provider has no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(login.verifier.to_string()))
        .request_async(&sso.http)
        .await
        .map_err(|e| match e {
            // The provider refused the code (used, expired, not ours).
            openidconnect::RequestTokenError::ServerResponse(_) => {
                bad(format!("the code exchange failed: {}", token_error(&e)))
            }
            _ => Refusal::Unavailable(format!("the code exchange failed: {}", token_error(&e))),
        })?;
    let token = response
        .id_token()
        .ok_or_else(|| bad("the token response has no ID token".into()))?;
    let nonce = Nonce::new(login.nonce.clone());
    let claims = match id_token::verify(
        token,
        &sso.provider.keys.current().id_tokens,
        &sso.id_tokens,
        &nonce,
    ) {
        Err(e) if id_token::unknown_key(&e) && sso.provider.keys.refetch().await => {
            id_token::verify(
                token,
                &sso.provider.keys.current().id_tokens,
                &sso.id_tokens,
                &nonce,
            )
        }
        other => other,
    }
    .map_err(|e| bad(format!("the ID token is refused: {e}")))?;
    let mut claimed = id_token::claimed(&claims, &sso.groups_claim).map_err(bad)?;
    if sso.rules.needs_more(&claimed)
        && let Ok(request) = sso.client.user_info(
            response.access_token().clone(),
            Some(claims.subject().clone()),
        )
    {
        let info: UserInfoClaims = request
            .request_async(&sso.http)
            .await
            .map_err(|e| Refusal::Unavailable(format!("userinfo: {e}")))?;
        id_token::complete(&mut claimed, &info, &sso.groups_claim).map_err(bad)?;
    }
    let admitted = sso.rules.admit(&claimed).map_err(|refused| match refused {
        rules::Refused::NoName(why) => Refusal::BadRequest(why),
        rules::Refused::NotAllowed(why) => Refusal::Forbidden(why),
    })?;
    Ok(Vouched {
        issuer: issuer.to_owned(),
        subject: claimed.subject,
        admitted,
    })
}

/// The token endpoint's refusal, or why it could not be asked.
fn token_error<E: std::error::Error + 'static>(
    error: &openidconnect::RequestTokenError<
        E,
        openidconnect::StandardErrorResponse<openidconnect::core::CoreErrorResponseType>,
    >,
) -> String {
    match error {
        openidconnect::RequestTokenError::ServerResponse(answer) => answer.to_string(),
        other => other.to_string(),
    }
}
