//! The `--oidc-*` flags of `etoken serve`, and the start-up that turns them
//! into [`Sso`]: the secret file read like a key file (owner-only), the
//! provider discovered, one clear line when anything is wrong.

use std::path::PathBuf;

use clap::Args;
use openidconnect::{ClientId, ClientSecret, IssuerUrl, RedirectUrl};
use url::Url;
use zeroize::Zeroizing;

use super::http::Http;
use super::provider::{Provider, jwt_algorithms};
use super::rules::{Rules, UserClaim};
use super::{Client, Sso, id_token, logout_token};
use etoken::public_url::PublicUrl;

/// Single sign-on at an OpenID provider.
#[derive(Args, Clone)]
pub struct SsoArgs {
    /// The provider's issuer URL; its /.well-known/openid-configuration is
    /// read at start-up. Turns single sign-on on.
    #[arg(long, value_name = "URL", requires = "oidc_client_id")]
    pub oidc_issuer: Option<String>,
    /// This farm's client id at the provider.
    #[arg(long, value_name = "ID", requires = "oidc_issuer")]
    pub oidc_client_id: Option<String>,
    /// The client secret, in a file only its owner may read (0600).
    #[arg(long, value_name = "FILE", requires = "oidc_issuer")]
    pub oidc_client_secret_file: Option<PathBuf>,
    /// The scopes asked for.
    #[arg(long, value_name = "SCOPES", default_value = "openid email profile")]
    pub oidc_scopes: String,
    /// The claim that names the user: email (only with email_verified:
    /// true), sub, or preferred_username.
    #[arg(long, value_enum, value_name = "CLAIM", default_value = "email")]
    pub oidc_user_claim: UserClaim,
    /// The claim that lists the user's groups.
    #[arg(long, value_name = "NAME", default_value = "groups")]
    pub oidc_groups_claim: String,
    /// Only users whose verified email is in this domain (repeatable; none:
    /// everyone the provider vouches for).
    #[arg(long = "oidc-allowed-domain", value_name = "D")]
    pub oidc_allowed_domains: Vec<String>,
    /// Only users in one of these groups (repeatable; none: any).
    #[arg(long = "oidc-allowed-group", value_name = "G")]
    pub oidc_allowed_groups: Vec<String>,
    /// Whether the login page offers the password form.
    #[arg(long, value_enum, value_name = "on|off", default_value = "on")]
    pub password_login: Switch,
}

/// on or off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    #[default]
    On,
    Off,
}

/// The longest client secret file read.
const MAX_SECRET_LEN: u64 = 4096;

impl SsoArgs {
    /// Discovers the provider and makes [`Sso`]; `cannot start: ...` on
    /// any failure. `public_url` is the farm's first public URL.
    pub async fn start(&self, public_url: &PublicUrl, secure: bool) -> Result<Option<Sso>, String> {
        let Some(issuer) = &self.oidc_issuer else {
            return Ok(None);
        };
        let refused =
            |flag: &str, why: &dyn std::fmt::Display| format!("cannot start: {flag}: {why}");
        let issuer_url =
            IssuerUrl::new(issuer.clone()).map_err(|e| refused("--oidc-issuer", &e))?;
        check_issuer(issuer_url.url()).map_err(|e| refused("--oidc-issuer", &e))?;
        let client_id = ClientId::new(self.oidc_client_id.clone().unwrap_or_default());
        let client_secret = match &self.oidc_client_secret_file {
            Some(path) => {
                Some(read_secret(path).map_err(|e| refused("--oidc-client-secret-file", &e))?)
            }
            None => None,
        };
        let scopes: Vec<String> = self
            .oidc_scopes
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if !scopes.iter().any(|s| s == "openid") {
            return Err(refused("--oidc-scopes", &"must include openid"));
        }
        let base = Url::parse(public_url.as_str()).map_err(|e| refused("--public-url", &e))?;
        let redirect_uri = base
            .join("sso/callback")
            .map_err(|e| refused("--public-url", &e))?;
        let post_logout_redirect_uri = base
            .join("login")
            .map_err(|e| refused("--public-url", &e))?;
        let http = Http::new()?;
        let provider = Provider::discover(&http, &issuer_url)
            .await
            .map_err(|e| format!("cannot start: --oidc-issuer {issuer}: {e}"))?;
        let client: Client = Client::from_provider_metadata(
            provider.metadata.clone(),
            client_id.clone(),
            client_secret.clone(),
        )
        .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        let id_tokens = id_token::Expected {
            issuer: provider.issuer().clone(),
            client_id: client_id.clone(),
            client_secret,
            algorithms: provider.algorithms.clone(),
        };
        let logout_tokens = logout_token::Expected {
            issuer: provider.issuer().as_str().to_owned(),
            client_id: client_id.as_str().to_owned(),
            algorithms: jwt_algorithms(&provider.algorithms),
        };
        let display_name = issuer_url
            .url()
            .host_str()
            .unwrap_or("the identity provider")
            .to_owned();
        Ok(Some(Sso {
            client,
            provider,
            http,
            id_tokens,
            logout_tokens,
            rules: Rules {
                user_claim: Some(self.oidc_user_claim),
                allowed_domains: self
                    .oidc_allowed_domains
                    .iter()
                    .map(|d| d.trim().to_ascii_lowercase())
                    .collect(),
                allowed_groups: self.oidc_allowed_groups.clone(),
            },
            groups_claim: self.oidc_groups_claim.clone(),
            scopes,
            redirect_uri,
            post_logout_redirect_uri,
            secure,
            display_name,
            file_lock: tokio::sync::Mutex::new(()),
        }))
    }
}

/// An issuer over https, or plain http on loopback (a provider for tests
/// and development on this machine).
fn check_issuer(url: &Url) -> Result<(), String> {
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some(url::Host::Ipv4(ip))) if ip.is_loopback() => Ok(()),
        ("http", Some(url::Host::Ipv6(ip))) if ip.is_loopback() => Ok(()),
        ("http", Some(url::Host::Domain("localhost"))) => Ok(()),
        _ => Err(format!("{url} is neither https nor http on loopback")),
    }
}

/// The client secret: the file's first line, from a file only its owner
/// may read.
fn read_secret(path: &std::path::Path) -> Result<ClientSecret, String> {
    let bytes = crate::private_file::read(
        path,
        "client secret file",
        "a file with the secret, mode 0600",
        MAX_SECRET_LEN,
    )?;
    let text = Zeroizing::new(
        String::from_utf8(bytes.to_vec())
            .map_err(|_| format!("{} is not UTF-8", path.display()))?,
    );
    let secret = text.lines().next().unwrap_or_default().trim();
    if secret.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(ClientSecret::new(secret.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issuer_is_https_or_loopback_http() {
        for ok in [
            "https://idp.example.com/",
            "http://127.0.0.1:9000/",
            "http://[::1]:9000/",
            "http://localhost:1/",
        ] {
            assert!(check_issuer(&Url::parse(ok).unwrap()).is_ok(), "{ok}");
        }
        for bad in [
            "http://idp.example.com/",
            "http://10.0.0.1/",
            "ftp://127.0.0.1/",
        ] {
            assert!(check_issuer(&Url::parse(bad).unwrap()).is_err(), "{bad}");
        }
    }
}
