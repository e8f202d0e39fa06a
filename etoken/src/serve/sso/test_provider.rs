//! For tests: a small provider's signing side. A fixed RSA key (test use
//! only), its JWKS served over HTTP on loopback by the test, the document
//! swappable (a key rotation) and its fetches counted, and tokens signed
//! with jsonwebtoken as a provider would sign them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;

/// A 2048-bit RSA key made for these tests with `openssl genrsa`.
pub const PRIVATE_PEM: &str = include_str!("testdata/rsa-test-key.pem");
pub const ISSUER: &str = "http://127.0.0.1:1/issuer";
pub const CLIENT_ID: &str = "farm";
pub const KID: &str = "test-key-1";

/// The public key as PKCS#1 PEM, what an attacker finds in the JWKS.
pub fn public_pem() -> String {
    use rsa::pkcs1::EncodeRsaPublicKey;
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(PRIVATE_PEM).unwrap();
    key.to_public_key()
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap()
}

/// The JWKS holding the key under `kid`.
pub fn jwks(kid: &str) -> String {
    let key = rsa::RsaPrivateKey::from_pkcs1_pem(PRIVATE_PEM).unwrap();
    let n = URL_SAFE_NO_PAD.encode(key.n().to_bytes_be());
    let e = URL_SAFE_NO_PAD.encode(key.e().to_bytes_be());
    serde_json::json!({"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e}]})
        .to_string()
}

/// Signs `claims` with the key (RS256) under `kid`.
pub fn sign(kid: &str, claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_rsa_pem(PRIVATE_PEM.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// HS256 "signed" with the RSA public key as the HMAC secret: the
/// algorithm-confusion attack.
pub fn sign_hs256_with_public_key(kid: &str, claims: &serde_json::Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.into());
    let key = EncodingKey::from_secret(public_pem().as_bytes());
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

/// An unsigned token (`alg: none`), as an attacker writes one.
pub fn unsigned(kid: &str, claims: &serde_json::Value) -> String {
    let header = serde_json::json!({"alg": "none", "typ": "JWT", "kid": kid});
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

/// The JWKS served on 127.0.0.1.
pub struct JwksServer {
    pub url: String,
    pub document: Arc<Mutex<String>>,
    pub fetches: Arc<AtomicUsize>,
}

impl JwksServer {
    pub async fn start(document: String) -> Self {
        let document = Arc::new(Mutex::new(document));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (document.clone(), fetches.clone());
        let app = axum::Router::new().route(
            "/jwks",
            get(move || {
                let (served, counted) = (served.clone(), counted.clone());
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().unwrap().clone();
                    (
                        [(axum::http::header::CONTENT_TYPE, "application/json")],
                        body,
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            url,
            document,
            fetches,
        }
    }

    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}
