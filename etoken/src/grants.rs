//! The token endpoints' rules, below HTTP: which request gets an access
//! token, and which OAuth error (RFC 6749 §5.2) the others get.
//!
//! - `/ims/exchange/jwt`: `client_id`, `client_secret` and `jwt_token`, a
//!   JWT assertion (see [`etoken::assertion`]).
//! - `/ims/token/v3`: `grant_type=client_credentials` with the client's id
//!   and secret and `scope`; or `grant_type=
//!   urn:ietf:params:oauth:grant-type:jwt-bearer` with `assertion`
//!   (RFC 7523), the client named by its credentials when it sends them,
//!   else by the assertion's `sub`.
//!
//! Client credentials come in the body, or in HTTP Basic (RFC 6749
//! §2.3.1), not both. A parameter sent twice is refused (RFC 6749 §3.2);
//! unknown parameters are ignored, as RFC 6749 §3.2 requires.

use std::collections::BTreeMap;
use std::time::Duration;

use encapsulated_token::handler::Authenticator;
use etoken::assertion::{self, AssertionError, Expected};
use etoken::certificate::unix_now;
use etoken::public_url::PublicUrl;
use etoken::truncated;
use zeroize::Zeroizing;

use crate::services::{Account, Services};

/// RFC 7523's grant type.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// What the server was started with.
#[derive(Clone)]
pub struct TokenSettings {
    /// The farm's URLs (`--public-url`).
    pub public_urls: Vec<PublicUrl>,
    /// The lifetime of access tokens (`--access-token-ttl`).
    pub access_token_ttl: Duration,
}

/// An RFC 6749 §5.2 error, with the reason for the log.
#[derive(Debug)]
pub struct OAuthError {
    /// `invalid_client`, `invalid_grant`...
    pub code: &'static str,
    /// For the client.
    pub description: String,
    /// For the log only: may say more than the client is told.
    pub reason: String,
    /// Whether the client tried HTTP Basic (a 401 then names the scheme).
    pub basic: bool,
}

impl OAuthError {
    fn new(code: &'static str, description: impl Into<String>) -> Self {
        let description = description.into();
        Self {
            code,
            reason: description.clone(),
            description,
            basic: false,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    fn invalid_client(reason: &str, basic: bool) -> Self {
        Self {
            code: "invalid_client",
            description: "client authentication failed".into(),
            reason: reason.into(),
            basic,
        }
    }

    fn from_assertion(error: &AssertionError) -> Self {
        match error {
            AssertionError::NoScope | AssertionError::UnregisteredScope(_) => {
                Self::new("invalid_scope", error.to_string())
            }
            _ => Self::new("invalid_grant", error.to_string()),
        }
    }

    /// The HTTP status: 401 for `invalid_client`, 500 for
    /// `server_error`, else 400.
    pub fn status(&self) -> u16 {
        match self.code {
            "invalid_client" => 401,
            "server_error" => 500,
            _ => 400,
        }
    }
}

/// The request's parameters, each at most once.
pub struct Fields(BTreeMap<String, Zeroizing<String>>);

impl Fields {
    /// Refuses a parameter sent twice.
    pub fn new(
        pairs: impl IntoIterator<Item = (String, Zeroizing<String>)>,
    ) -> Result<Self, OAuthError> {
        let mut fields = BTreeMap::new();
        for (name, value) in pairs {
            if fields.contains_key(&name) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {:?} is sent more than once",
                    truncated(&name)
                )));
            }
            fields.insert(name, value);
        }
        Ok(Self(fields))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.as_str())
    }

    fn required(&self, name: &str) -> Result<&str, OAuthError> {
        match self.get(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(OAuthError::invalid_request(format!(
                "the {name} parameter is required"
            ))),
        }
    }
}

/// Client credentials from HTTP Basic, already decoded.
pub struct Basic {
    /// The client id.
    pub client_id: String,
    /// The secret.
    pub secret: Zeroizing<String>,
}

/// An access token issued.
pub struct Issued {
    /// The encapsulated token.
    pub access_token: String,
    /// Its lifetime.
    pub expires_in: Duration,
    /// Its token id, for the log.
    pub token_id: String,
}

/// Client credentials as sent: the id, the secret unless only the id
/// came (a jwt-bearer client may name itself without a secret), and
/// whether they came by HTTP Basic.
struct ClientCredentials<'a> {
    id: &'a str,
    secret: Option<&'a str>,
    basic: bool,
}

impl<'a> ClientCredentials<'a> {
    /// From the body or Basic (not both); None when neither is sent.
    fn of(fields: &'a Fields, basic: Option<&'a Basic>) -> Result<Option<Self>, OAuthError> {
        let in_body = fields.get("client_id").is_some() || fields.get("client_secret").is_some();
        match basic {
            Some(_) if in_body => Err(OAuthError::invalid_request(
                "client credentials both in the body and in HTTP Basic: use one",
            )),
            Some(basic) => Ok(Some(Self {
                id: &basic.client_id,
                secret: Some(&basic.secret),
                basic: true,
            })),
            None if in_body => Ok(Some(Self {
                id: fields.required("client_id")?,
                secret: fields.get("client_secret"),
                basic: false,
            })),
            None => Ok(None),
        }
    }

    /// The account, when the secret is one of its own.
    fn authenticate<'s>(&self, services: &'s Services) -> Result<&'s Account, OAuthError> {
        let Some(secret) = self.secret else {
            return Err(OAuthError::invalid_request(
                "the client_secret parameter is required",
            ));
        };
        authenticate(services, self.id, secret, self.basic)
    }
}

fn authenticate<'s>(
    services: &'s Services,
    client_id: &str,
    secret: &str,
    basic: bool,
) -> Result<&'s Account, OAuthError> {
    services.authenticate(client_id, secret).map_err(|refusal| {
        OAuthError::invalid_client(
            &format!("client {:?}: {}", truncated(client_id), refusal.reason()),
            basic,
        )
    })
}

fn check_assertion(
    jwt: &str,
    account: &Account,
    settings: &TokenSettings,
) -> Result<Vec<String>, OAuthError> {
    let service = &account.service;
    let expected = Expected {
        org: &service.org,
        technical_account_id: &service.technical_account_id,
        client_id: &service.client_id,
        public_urls: &settings.public_urls,
        scopes: &service.scopes,
        keys: &account.keys,
        now: unix_now(),
    };
    assertion::check(jwt, &expected).map_err(|e| {
        let mut error = OAuthError::from_assertion(&e);
        error.reason = format!("service {:?}: {e}", account.name);
        error
    })
}

/// `POST /ims/exchange/jwt`.
pub fn exchange_jwt(
    auth: &Authenticator,
    services: &Services,
    settings: &TokenSettings,
    fields: &Fields,
    basic: Option<&Basic>,
) -> Result<Issued, OAuthError> {
    let jwt = fields.required("jwt_token")?;
    let Some(client) = ClientCredentials::of(fields, basic)? else {
        return Err(OAuthError::invalid_request(
            "client_id and client_secret are required",
        ));
    };
    let account = client.authenticate(services)?;
    let scopes = check_assertion(jwt, account, settings)?;
    mint(auth, account, &scopes, settings)
}

/// The grant a `/ims/token/v3` request asks for, as a fixed name for
/// metrics (never the client's text): `client_credentials`, `jwt_bearer`,
/// `unsupported` or `none`.
pub fn grant_name(fields: &Fields) -> &'static str {
    match fields.get("grant_type") {
        Some("client_credentials") => "client_credentials",
        Some(JWT_BEARER) => "jwt_bearer",
        Some(_) => "unsupported",
        None => "none",
    }
}

/// `POST /ims/token/v3`.
pub fn token_v3(
    auth: &Authenticator,
    services: &Services,
    settings: &TokenSettings,
    fields: &Fields,
    basic: Option<&Basic>,
) -> Result<Issued, OAuthError> {
    let grant_type = fields.required("grant_type")?;
    let client = ClientCredentials::of(fields, basic)?;
    match grant_type {
        "client_credentials" => {
            let Some(client) = client else {
                return Err(OAuthError::invalid_client(
                    "no client credentials sent",
                    false,
                ));
            };
            let account = client.authenticate(services)?;
            let scopes = requested_scopes(fields, &account.service.scopes)?;
            mint(auth, account, &scopes, settings)
        }
        JWT_BEARER => {
            let jwt = fields.required("assertion")?;
            let account = match client {
                Some(client) if client.secret.is_some() => client.authenticate(services)?,
                // Named, not authenticated: the assertion is the proof.
                Some(client) => match services.by_client(client.id) {
                    Some(account) if !account.revoked() => account,
                    _ => {
                        return Err(OAuthError::invalid_client(
                            &format!("client {:?}: unknown or revoked", truncated(client.id)),
                            false,
                        ));
                    }
                },
                None => by_subject(services, jwt)?,
            };
            let granted = check_assertion(jwt, account, settings)?;
            let scopes = requested_scopes(fields, &granted)?;
            mint(auth, account, &scopes, settings)
        }
        other => Err(OAuthError::new(
            "unsupported_grant_type",
            format!(
                "grant_type {:?} is not supported: use client_credentials or {JWT_BEARER}",
                truncated(other)
            ),
        )),
    }
}

/// The account an assertion's `sub` names, for a jwt-bearer request that
/// sends no client credentials. The claim only picks the certificates the
/// assertion is then verified with; an unknown, revoked or unreadable
/// subject gets the same answer as a bad signature.
fn by_subject<'s>(services: &'s Services, jwt: &str) -> Result<&'s Account, OAuthError> {
    #[derive(serde::Deserialize)]
    struct Subject {
        sub: String,
    }
    let refused = |reason: String| {
        let mut error = OAuthError::from_assertion(&AssertionError::BadSignature);
        error.reason = reason;
        error
    };
    if jwt.len() > assertion::MAX_LEN {
        return Err(OAuthError::from_assertion(&AssertionError::TooLong {
            len: jwt.len(),
        }));
    }
    let subject = jsonwebtoken::dangerous::insecure_decode_claims::<Subject>(jwt)
        .map_err(|e| refused(format!("the assertion's sub cannot be read: {e}")))?
        .sub;
    match services.by_subject(&subject) {
        Some(account) if !account.revoked() => Ok(account),
        Some(account) => Err(refused(format!("service {:?} is revoked", account.name))),
        None => Err(refused(format!(
            "no technical account {:?}",
            truncated(&subject)
        ))),
    }
}

/// The scopes of the `scope` parameter (comma- or space-separated), each
/// among `allowed`; all of `allowed` without one.
fn requested_scopes(fields: &Fields, allowed: &[String]) -> Result<Vec<String>, OAuthError> {
    let Some(asked) = fields.get("scope") else {
        return Ok(allowed.to_vec());
    };
    let mut scopes: Vec<String> = Vec::new();
    for scope in asked.split([',', ' ']).filter(|s| !s.is_empty()) {
        if !allowed.iter().any(|a| a == scope) {
            return Err(OAuthError::new(
                "invalid_scope",
                format!(
                    "scope {:?} is not registered for the client",
                    truncated(scope)
                ),
            ));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err(OAuthError::new(
            "invalid_scope",
            "the scope parameter is empty",
        ));
    }
    Ok(scopes)
}

/// The access token: the account's technical account id, attributes
/// `client_id` and `scope`, the configured lifetime.
fn mint(
    auth: &Authenticator,
    account: &Account,
    scopes: &[String],
    settings: &TokenSettings,
) -> Result<Issued, OAuthError> {
    let service = &account.service;
    let claims = auth
        .claims_for(service.technical_account_id.as_str())
        .with_attribute("client_id", service.client_id.as_str())
        .with_attribute("scope", scopes.join(","));
    let issued = issue(auth, claims, settings)?;
    tracing::info!(
        service = account.name,
        subject = service.technical_account_id,
        scope = scopes.join(","),
        token_id = issued.token_id,
        "issued an access token"
    );
    Ok(issued)
}

/// Mints `claims` for the access token lifetime.
fn issue(
    auth: &Authenticator,
    mut claims: encapsulated_token::Claims,
    settings: &TokenSettings,
) -> Result<Issued, OAuthError> {
    let lifetime =
        time::Duration::try_from(settings.access_token_ttl).unwrap_or(time::Duration::MAX);
    claims.expires_at = claims.issued_at.saturating_add(lifetime);
    let access_token = auth.mint(&claims).map_err(|e| OAuthError {
        code: "server_error",
        description: "cannot issue a token".into(),
        reason: format!("minting a token for {:?} failed: {e}", claims.subject),
        basic: false,
    })?;
    Ok(Issued {
        access_token,
        expires_in: settings.access_token_ttl,
        token_id: claims.token_id.to_string(),
    })
}

/// A local development token for a signed-in user: the user as subject,
/// attribute `client_id` = `local-development`, the access token lifetime.
pub fn developer_token(
    auth: &Authenticator,
    user: &str,
    settings: &TokenSettings,
) -> Result<Issued, OAuthError> {
    let claims = auth
        .claims_for(user)
        .with_attribute("client_id", "local-development");
    let issued = issue(auth, claims, settings)?;
    tracing::info!(
        user,
        token_id = issued.token_id,
        "issued a local development token"
    );
    Ok(issued)
}
