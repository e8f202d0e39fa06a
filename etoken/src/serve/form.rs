//! The body of a token request, as clients send it: form fields either
//! `application/x-www-form-urlencoded` or `multipart/form-data` (IMS clients
//! send both), each field at most once, and client credentials from HTTP
//! Basic. The body limit (64 KiB) is a layer on the routes; over it the
//! answer is 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use zeroize::Zeroizing;

use crate::grants::{Basic, Fields, OAuthError};

/// The largest token request body.
pub const MAX_BODY: usize = super::guard::TOKEN_BODY_LIMIT;

/// A token request's fields and Basic credentials.
pub struct TokenForm {
    pub fields: Fields,
    pub basic: Option<Basic>,
}

/// A refusal before the grant rules run: the status and the OAuth error.
pub struct FormRefusal(pub StatusCode, pub OAuthError);

impl FormRefusal {
    fn bad(description: impl Into<String>) -> Self {
        Self(
            StatusCode::BAD_REQUEST,
            OAuthError::invalid_request(description),
        )
    }

    fn from_status(status: StatusCode, what: &str) -> Self {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Self(
                status,
                OAuthError::invalid_request(format!("the body is over {MAX_BODY} bytes")),
            )
        } else {
            Self::bad(format!("the body cannot be read: {what}"))
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for TokenForm {
    type Rejection = FormRefusal;

    async fn from_request(request: Request, state: &S) -> Result<Self, FormRefusal> {
        let basic = basic(request.headers())?;
        let pairs = match essence(request.headers()).as_deref() {
            Some("application/x-www-form-urlencoded") => {
                let body = Bytes::from_request(request, state)
                    .await
                    .map_err(|e| FormRefusal::from_status(e.status(), &e.body_text()))?;
                form_urlencoded::parse(&body)
                    .map(|(k, v)| (k.into_owned(), Zeroizing::new(v.into_owned())))
                    .collect()
            }
            Some("multipart/form-data") => {
                let multipart = Multipart::from_request(request, state)
                    .await
                    .map_err(|e| FormRefusal::bad(format!("not multipart: {}", e.body_text())))?;
                multipart_fields(multipart).await?
            }
            _ => {
                return Err(FormRefusal::bad(
                    "send the parameters as application/x-www-form-urlencoded or multipart/form-data",
                ));
            }
        };
        let fields = Fields::new(pairs).map_err(|e| FormRefusal(StatusCode::BAD_REQUEST, e))?;
        Ok(Self { fields, basic })
    }
}

/// The media type without parameters, lower-case.
fn essence(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    Some(essence)
}

async fn multipart_fields(
    mut multipart: Multipart,
) -> Result<Vec<(String, Zeroizing<String>)>, FormRefusal> {
    let mut pairs = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => return Ok(pairs),
            Err(e) => return Err(FormRefusal::from_status(e.status(), &e.body_text())),
        };
        let Some(name) = field.name().map(str::to_owned) else {
            return Err(FormRefusal::bad("a multipart field has no name"));
        };
        if field.file_name().is_some() {
            return Err(FormRefusal::bad(format!(
                "field {:?} is a file upload: send text fields",
                etoken::truncated(&name)
            )));
        }
        let value = field
            .text()
            .await
            .map_err(|e| FormRefusal::from_status(e.status(), &e.body_text()))?;
        pairs.push((name, Zeroizing::new(value)));
    }
}

/// Client credentials in `Authorization: Basic` (RFC 6749 §2.3.1: the id
/// and secret form-urlencoded, then joined by `:` and base64-encoded).
/// Other schemes are not client authentication and are ignored.
fn basic(headers: &HeaderMap) -> Result<Option<Basic>, FormRefusal> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let refused = |why: &str| {
        let mut error =
            OAuthError::invalid_request(format!("malformed HTTP Basic credentials: {why}"));
        error.basic = true;
        FormRefusal(StatusCode::BAD_REQUEST, error)
    };
    let text = value.to_str().map_err(|_| refused("not ASCII"))?;
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = Zeroizing::new(
        STANDARD
            .decode(encoded.trim())
            .map_err(|_| refused("not base64"))?,
    );
    let text = std::str::from_utf8(&decoded).map_err(|_| refused("not UTF-8"))?;
    let (id, secret) = text.split_once(':').ok_or_else(|| refused("no ':'"))?;
    let form_decode = |part: &str| -> Result<Zeroizing<String>, FormRefusal> {
        let spaced = Zeroizing::new(part.replace('+', " "));
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8()
            .map(|s| Zeroizing::new(s.into_owned()))
            .map_err(|_| refused("not UTF-8 once decoded"))
    };
    Ok(Some(Basic {
        client_id: form_decode(id)?.to_string(),
        secret: form_decode(secret)?,
    }))
}
