//! The OpenID provider as discovered at start-up: its metadata (from
//! `/.well-known/openid-configuration`), the algorithms it signs with, and
//! its signing keys (JWKS), refetched when a token names a key we do not
//! know, at most once a minute, so a key rotation at the provider needs no
//! restart and a flood of made-up key ids costs the provider nothing.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType,
    CoreSubjectIdentifierType,
};
use openidconnect::{AdditionalProviderMetadata, IssuerUrl, ProviderMetadata};
use serde::{Deserialize, Serialize};
use url::Url;

use super::http::Http;

/// How often an unknown key id may make us fetch the JWKS again.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);

/// The metadata we read beyond Core's: RP-initiated logout's endpoint, and
/// whether the provider names itself in its authorization responses.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct LogoutMetadata {
    /// Where a logout sends the browser (RP-Initiated Logout 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<Url>,
    /// RFC 9207: the callback then must carry `iss`, and it must be ours
    /// (a mix-up attack's answer from another provider carries another).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_response_iss_parameter_supported: Option<bool>,
}

impl AdditionalProviderMetadata for LogoutMetadata {}

/// The provider's discovery document as we read it.
pub type Metadata = ProviderMetadata<
    LogoutMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The provider's signing keys, read once for each verifier we use:
/// openidconnect's for ID tokens, jsonwebtoken's for logout tokens.
#[derive(Clone)]
pub struct Keys {
    pub id_tokens: CoreJsonWebKeySet,
    pub logout_tokens: jsonwebtoken::jwk::JwkSet,
}

impl Keys {
    /// Reads a JWKS document; keys of a kind a verifier does not know are
    /// left out of its set (the provider may publish encryption keys too).
    pub fn parse(document: &[u8]) -> Result<Self, String> {
        let id_tokens: CoreJsonWebKeySet =
            serde_json::from_slice(document).map_err(|e| format!("the JWKS is not one: {e}"))?;
        #[derive(Deserialize)]
        struct Raw {
            keys: Vec<serde_json::Value>,
        }
        let raw: Raw =
            serde_json::from_slice(document).map_err(|e| format!("the JWKS is not one: {e}"))?;
        let keys = raw
            .keys
            .into_iter()
            .filter_map(|key| serde_json::from_value(key).ok())
            .collect();
        Ok(Self {
            id_tokens,
            logout_tokens: jsonwebtoken::jwk::JwkSet { keys },
        })
    }
}

/// Where the keys come from, the keys as last fetched, and when.
pub struct KeyCache {
    http: Http,
    jwks_uri: String,
    /// [`REFETCH_INTERVAL`], but for tests.
    interval: Duration,
    current: RwLock<Arc<Keys>>,
    fetched: tokio::sync::Mutex<Instant>,
}

impl KeyCache {
    /// Fetches the keys at `jwks_uri` once.
    pub async fn fetch(http: Http, jwks_uri: &str) -> Result<Self, String> {
        Self::fetch_every(http, jwks_uri, REFETCH_INTERVAL).await
    }

    /// Fetches the keys once; refetches at most once per `interval`.
    pub async fn fetch_every(
        http: Http,
        jwks_uri: &str,
        interval: Duration,
    ) -> Result<Self, String> {
        let keys = Self::download(&http, jwks_uri).await?;
        Ok(Self {
            http,
            jwks_uri: jwks_uri.to_owned(),
            interval,
            current: RwLock::new(Arc::new(keys)),
            fetched: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    async fn download(http: &Http, jwks_uri: &str) -> Result<Keys, String> {
        let document = http
            .get(jwks_uri)
            .await
            .map_err(|e| format!("the JWKS: {e}"))?;
        Keys::parse(&document)
    }

    /// The keys as of now.
    pub fn current(&self) -> Arc<Keys> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Fetches the keys again unless they were fetched within the
    /// interval ([`REFETCH_INTERVAL`]); whether new keys were swapped in.
    pub async fn refetch(&self) -> bool {
        let mut fetched = self.fetched.lock().await;
        if fetched.elapsed() < self.interval {
            return false;
        }
        *fetched = Instant::now();
        match Self::download(&self.http, &self.jwks_uri).await {
            Ok(keys) => {
                tracing::info!(
                    "sso: fetched the provider's keys again (a token named an unknown key)"
                );
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(keys);
                true
            }
            Err(e) => {
                tracing::warn!("sso: cannot fetch the provider's keys again: {e}");
                false
            }
        }
    }
}

/// What we learnt of the provider at start-up.
pub struct Provider {
    pub metadata: Metadata,
    pub keys: KeyCache,
    /// The algorithms it signs ID tokens with, `none` left out.
    pub algorithms: Vec<CoreJwsSigningAlgorithm>,
}

impl Provider {
    /// Discovers `issuer`: one error saying what failed when the provider is
    /// unreachable, its document is not one, or it names another issuer.
    pub async fn discover(http: &Http, issuer: &IssuerUrl) -> Result<Self, String> {
        let metadata = Metadata::discover_async(issuer.clone(), http)
            .await
            .map_err(|e| discovery_error(&e))?;
        let algorithms = signing_algorithms(&metadata)?;
        let keys = KeyCache::fetch(http.clone(), metadata.jwks_uri().url().as_str()).await?;
        Ok(Self {
            metadata,
            keys,
            algorithms,
        })
    }

    /// The issuer, as the provider names itself.
    pub fn issuer(&self) -> &IssuerUrl {
        self.metadata.issuer()
    }
}

/// The advertised ID-token algorithms without `none`; an error when that
/// leaves none.
pub fn signing_algorithms(metadata: &Metadata) -> Result<Vec<CoreJwsSigningAlgorithm>, String> {
    let algorithms: Vec<_> = metadata
        .id_token_signing_alg_values_supported()
        .iter()
        .filter(|alg| **alg != CoreJwsSigningAlgorithm::None)
        .cloned()
        .collect();
    if algorithms.is_empty() {
        return Err("the provider advertises no ID-token signing algorithm but none".into());
    }
    Ok(algorithms)
}

/// `algorithms` as jsonwebtoken names them (those it implements).
pub fn jwt_algorithms(algorithms: &[CoreJwsSigningAlgorithm]) -> Vec<jsonwebtoken::Algorithm> {
    algorithms
        .iter()
        .filter_map(|alg| {
            let name = serde_json::to_value(alg).ok()?;
            name.as_str()?.parse().ok()
        })
        .collect()
}

fn discovery_error<E: std::error::Error>(error: &openidconnect::DiscoveryError<E>) -> String {
    use std::error::Error;
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
