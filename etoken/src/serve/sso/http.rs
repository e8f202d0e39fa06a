//! The HTTP client `openidconnect` calls the provider with: our reqwest
//! (openidconnect's own `reqwest` feature pins another major version), with
//! no redirects followed, timeouts, and a bound on what a response may
//! carry, so a provider (or whoever answers in its place) cannot hold a
//! login or fill our memory.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::http;
use openidconnect::{AsyncHttpClient, HttpRequest, HttpResponse};

/// The longest response body read from the provider (discovery, JWKS,
/// token, userinfo responses are a few KiB).
pub const MAX_RESPONSE: usize = 1 << 20;
/// How long one call to the provider may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A client for the provider's endpoints.
#[derive(Clone)]
pub struct Http(reqwest::Client);

/// Why a call to the provider failed.
#[derive(Debug)]
pub struct HttpError(String);

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

impl Http {
    pub fn new() -> Result<Self, String> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .build()
            .map(Self)
            .map_err(|e| format!("cannot build the HTTP client: {e}"))
    }

    /// Sends `request`; the response's body is read up to [`MAX_RESPONSE`].
    pub async fn send(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let url = request.uri().to_string();
        let failed = |e: &dyn std::error::Error| {
            let mut text = format!("{url}: {e}");
            let mut source = e.source();
            while let Some(cause) = source {
                text.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            HttpError(text)
        };
        let request = reqwest::Request::try_from(request).map_err(|e| failed(&e))?;
        let mut response = self.0.execute(request).await.map_err(|e| failed(&e))?;
        let mut answer = http::Response::builder().status(response.status());
        if let Some(headers) = answer.headers_mut() {
            *headers = response.headers().clone();
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| failed(&e))? {
            if body.len() + chunk.len() > MAX_RESPONSE {
                return Err(HttpError(format!(
                    "{url}: the response is over {MAX_RESPONSE} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        answer.body(body).map_err(|e| failed(&e))
    }

    /// GETs `url` and returns the body of a 200 answer.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, HttpError> {
        let request = http::Request::get(url)
            .header(http::header::ACCEPT, "application/json")
            .body(Vec::new())
            .map_err(|e| HttpError(format!("{url}: {e}")))?;
        let response = self.send(request).await?;
        if response.status() != http::StatusCode::OK {
            return Err(HttpError(format!("{url}: answered {}", response.status())));
        }
        Ok(response.into_body())
    }
}

impl<'c> AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}
