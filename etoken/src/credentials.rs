//! The credentials document of a technical account, in the shape AEM as a
//! Cloud Service hands out, so the scripts and libraries operators already
//! have read it:
//!
//! ```text
//! {"ok":true,"statusCode":200,"integration":{"imsEndpoint":"publish.example.com",
//!  "metascopes":"read,write","technicalAccount":{"clientId":"..","clientSecret":".."},
//!  "email":"..@techacct.publish.example.com","id":"..@techacct.publish.example.com",
//!  "org":"..","privateKey":"-----BEGIN RSA PRIVATE KEY-----..",
//!  "publicKey":"-----BEGIN CERTIFICATE-----..","certificateExpirationDate":".."}}
//! ```
//!
//! Reading tolerates fields this crate does not use: documents made by
//! other tools carry more, and a client must not break on them.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::public_url::PublicUrl;

/// A credentials document is small; anything larger is not one.
const MAX_DOCUMENT_LEN: u64 = 64 * 1024;

/// The whole document.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Credentials {
    /// Always true in a document that holds credentials.
    pub ok: bool,
    /// 200, as the Developer Console's download says.
    pub status_code: u16,
    /// The account.
    pub integration: Integration,
}

/// One technical account's credentials.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    /// The token endpoint's host (`https://` implied), or a whole
    /// `http://` origin for plain-http local development.
    pub ims_endpoint: String,
    /// The scopes the account may ask for, comma-separated.
    pub metascopes: String,
    /// The client id and secret.
    pub technical_account: TechnicalAccount,
    /// The account's address; the same as `id` here.
    pub email: String,
    /// The technical account id: the subject of its access tokens.
    pub id: String,
    /// The organisation: the issuer of its assertions.
    pub org: String,
    /// The RSA private key, PKCS#1 PEM.
    pub private_key: Zeroizing<String>,
    /// The certificate of its public key, PEM.
    pub public_key: String,
    /// When the certificate expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_expiration_date: Option<String>,
}

/// The client id and secret.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TechnicalAccount {
    /// Public: names the client.
    pub client_id: String,
    /// Secret: shown once, stored hashed by the server.
    pub client_secret: Zeroizing<String>,
}

impl Credentials {
    /// Reads a credentials document (at most 64 KiB of JSON).
    pub fn read(path: &Path) -> Result<Self, String> {
        let mut text = Zeroizing::new(Vec::new());
        File::open(path)
            .and_then(|f| f.take(MAX_DOCUMENT_LEN + 1).read_to_end(&mut text))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if text.len() as u64 > MAX_DOCUMENT_LEN {
            return Err(format!(
                "{}: larger than {MAX_DOCUMENT_LEN} bytes, not a credentials document",
                path.display()
            ));
        }
        Self::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses a credentials document.
    pub fn from_json(text: &[u8]) -> Result<Self, String> {
        let credentials: Self =
            serde_json::from_slice(text).map_err(|e| format!("not a credentials document: {e}"))?;
        if !credentials.ok {
            return Err("the credentials document says \"ok\": false".into());
        }
        Ok(credentials)
    }

    /// The document as JSON, with a final newline.
    pub fn to_json(&self) -> Result<Zeroizing<String>, String> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        text.push('\n');
        Ok(Zeroizing::new(text))
    }

    /// The farm's URL, from `imsEndpoint`.
    pub fn public_url(&self) -> Result<PublicUrl, String> {
        PublicUrl::from_endpoint(&self.integration.ims_endpoint)
    }

    /// The scopes of `metascopes`.
    pub fn scopes(&self) -> Vec<&str> {
        self.integration
            .metascopes
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect()
    }
}
