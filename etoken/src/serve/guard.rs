//! The HTTP surface's defences, each a kept layer configured here and
//! applied in `app.rs`:
//! - a CSRF check on every state-changing browser route ([`Guard::browser_form`]),
//!   deciding from `Sec-Fetch-Site`, else `Origin`, else `Referer`
//!   ([`CsrfPolicy::judge`]), run as axum middleware;
//! - request body limits (tower-http): 16 KiB for browser forms, 64 KiB for
//!   machine clients' token endpoints ([`token_endpoint`]), refused with 413
//!   before the body is read whole;
//! - a body read timeout (tower-http): a client that stalls its body is cut;
//! - security headers on every HTML response (tower-http's
//!   `SetResponseHeaderLayer`): a strict Content-Security-Policy, no framing,
//!   no sniffing, same-origin referrers, and HSTS when cookies are Secure.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, ORIGIN, REFERER, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::MethodRouter;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::{MakeHeaderValue, SetResponseHeaderLayer};
use tower_http::timeout::RequestBodyTimeoutLayer;
use url::{Origin, Url};

use super::page;

/// The largest body a browser form (login, logout) may send.
pub const FORM_BODY_LIMIT: usize = 16 * 1024;
/// The largest body a machine client may send to a token endpoint.
pub const TOKEN_BODY_LIMIT: usize = 64 * 1024;

/// `Sec-Fetch-Site`, which `http` does not name.
static SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");

/// What the layers are configured with, fixed at start-up.
pub struct Guard {
    csrf: Arc<[Origin]>,
    secure: bool,
    body_timeout: Duration,
}

impl Guard {
    /// `public_urls`: the URLs clients use to reach the farm (`--public-url`);
    /// their origins count as this server's own in the CSRF check.
    /// `secure`: cookies are Secure, so the site is served over HTTPS (HSTS).
    /// `body_timeout`: the longest a request body may stall.
    pub fn new(public_urls: &[Url], secure: bool, body_timeout: Duration) -> Self {
        Self {
            csrf: public_urls.iter().map(Url::origin).collect(),
            secure,
            body_timeout,
        }
    }

    /// A state-changing browser route: refused (403, logged, handler not
    /// run) unless same-origin, and its body limited to 16 KiB.
    /// `headerless` says whether a client that sends none of
    /// `Sec-Fetch-Site`, `Origin`, `Referer` (curl, old clients) may use it.
    pub fn browser_form<S>(&self, route: MethodRouter<S>, headerless: Headerless) -> MethodRouter<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let policy = self.csrf(headerless);
        // route_layer: a method the route lacks still gets its 405.
        route
            .route_layer(RequestBodyLimitLayer::new(FORM_BODY_LIMIT))
            .route_layer(from_fn_with_state(policy, refuse_cross_site))
    }

    /// The CSRF decision of a route.
    pub fn csrf(&self, headerless: Headerless) -> CsrfPolicy {
        CsrfPolicy {
            own: self.csrf.clone(),
            headerless,
        }
    }

    /// The security headers and the body read timeout, around every route.
    pub fn around(&self, mut router: Router) -> Router {
        for (name, value, scope) in security_headers(self.secure) {
            router = router.layer(SetResponseHeaderLayer::if_not_present(
                name,
                Scoped { value, scope },
            ));
        }
        router.layer(RequestBodyTimeoutLayer::new(self.body_timeout))
    }
}

/// A token endpoint for machine clients: not cookie-authenticated, so no
/// CSRF check; its body limited to 64 KiB.
pub fn token_endpoint<S>(route: MethodRouter<S>) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    route.route_layer(RequestBodyLimitLayer::new(TOKEN_BODY_LIMIT))
}

/// Whether a request with no `Sec-Fetch-Site`, `Origin` or `Referer` passes
/// the CSRF check. Only login allows it: logging a curl user in is harmless,
/// whereas logout and minting tokens act on a session the browser holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Headerless {
    Allowed,
    Refused,
}

/// The CSRF decision of one route.
#[derive(Clone)]
pub struct CsrfPolicy {
    /// The `--public-url` origins; the request's own (`http://` + `Host`)
    /// is added per request.
    own: Arc<[Origin]>,
    headerless: Headerless,
}

/// Why a request was taken for a cross-site one. Client text is quoted,
/// escaped and truncated for the log.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `Sec-Fetch-Site` is `same-site`, `cross-site`, or not a known value.
    FetchSite(String),
    /// `Origin` (or, without it, `Referer`) names another origin, or none
    /// (`null`, unparsable).
    Foreign { header: &'static str, value: String },
    /// A header that decides was sent more than once.
    Repeated(&'static str),
    /// None of the three on a route that needs one.
    Headerless,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FetchSite(site) => write!(f, "cross-site request: Sec-Fetch-Site {site}"),
            Self::Foreign { header, value } => write!(
                f,
                "cross-site request: {header} {value} is not this server's origin \
                 (http:// + Host, or a --public-url)"
            ),
            Self::Repeated(header) => write!(f, "{header} sent more than once"),
            Self::Headerless => f.write_str(
                "no Sec-Fetch-Site, Origin or Referer: this route needs a browser's same-origin request",
            ),
        }
    }
}

impl CsrfPolicy {
    /// Allows a same-origin request. `Sec-Fetch-Site` decides when present
    /// (`same-origin`, or `none`: the user typed it); else `Origin`, parsed
    /// and compared with the request's own origin and the public ones; else
    /// `Referer`, the same way; else [`Headerless`] decides.
    pub fn judge(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        if let Some(site) = single(headers, &SEC_FETCH_SITE, "Sec-Fetch-Site")? {
            return match site.as_bytes() {
                b"same-origin" | b"none" => Ok(()),
                other => Err(Refusal::FetchSite(quoted(other))),
            };
        }
        for (name, label) in [(&ORIGIN, "Origin"), (&REFERER, "Referer")] {
            if let Some(value) = single(headers, name, label)? {
                return match self.is_own(headers, value) {
                    true => Ok(()),
                    false => Err(Refusal::Foreign {
                        header: label,
                        value: quoted(value.as_bytes()),
                    }),
                };
            }
        }
        match self.headerless {
            Headerless::Allowed => Ok(()),
            Headerless::Refused => Err(Refusal::Headerless),
        }
    }

    /// Whether the URL in `value` (an `Origin` or a `Referer`) has this
    /// server's origin. Parsed by the WHATWG parser, never by prefix.
    fn is_own(&self, headers: &HeaderMap, value: &HeaderValue) -> bool {
        let Some(origin) = value
            .to_str()
            .ok()
            .and_then(|text| Url::parse(text).ok())
            .map(|url| url.origin())
            .filter(Origin::is_tuple)
        else {
            return false;
        };
        request_origin(headers).as_ref() == Some(&origin) || self.own.contains(&origin)
    }
}

/// `http://` + the `Host` header: this server speaks plain HTTP, and without
/// a trusted proxy no forwarded scheme or host is believed. A `Host` that
/// is not a bare authority (a path, user info) names no origin.
fn request_origin(headers: &HeaderMap) -> Option<Origin> {
    let host = headers.get(HOST)?.to_str().ok()?;
    let authority: Authority = host.parse().ok()?;
    if authority.as_str().contains('@') {
        return None;
    }
    Url::parse(&format!("http://{authority}/"))
        .ok()
        .map(|url| url.origin())
}

/// The one value of `name`, if any; a repeated header is refused rather
/// than guessed at.
fn single<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
    label: &'static str,
) -> Result<Option<&'a HeaderValue>, Refusal> {
    let mut values = headers.get_all(name).iter();
    let first = values.next();
    match values.next() {
        Some(_) => Err(Refusal::Repeated(label)),
        None => Ok(first),
    }
}

/// Client-supplied header bytes for a log line: escaped and cut.
fn quoted(bytes: &[u8]) -> String {
    etoken::quoted(&String::from_utf8_lossy(bytes))
}

/// The middleware: a cross-site request gets 403 and a log line, and never
/// reaches the handler, so no cookie is set or cleared.
async fn refuse_cross_site(
    State(policy): State<CsrfPolicy>,
    request: Request,
    next: Next,
) -> axum::response::Response {
    match policy.judge(request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::info!(
                "refused {} {}: {refusal}",
                request.method(),
                quoted(request.uri().path().as_bytes())
            );
            (StatusCode::FORBIDDEN, "cross-site request refused\n").into_response()
        }
    }
}

/// `Content-Security-Policy` of the HTML pages: nothing but the pages' own
/// style (by hash), forms only to this origin, never framed, no `<base>`.
pub fn content_security_policy() -> String {
    let style = STANDARD.encode(Sha256::digest(page::STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{style}'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// Which responses a header goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    Html,
    Every,
}

/// The headers, their values and where they go. HSTS only when cookies are
/// Secure: a plain-http development server must not pin browsers to HTTPS.
fn security_headers(secure: bool) -> Vec<(HeaderName, HeaderValue, Scope)> {
    let fixed = HeaderValue::from_static;
    let mut headers = vec![
        (X_CONTENT_TYPE_OPTIONS, fixed("nosniff"), Scope::Every),
        (REFERRER_POLICY, fixed("same-origin"), Scope::Html),
        (X_FRAME_OPTIONS, fixed("DENY"), Scope::Html),
    ];
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy()) {
        headers.push((CONTENT_SECURITY_POLICY, csp, Scope::Html));
    }
    if secure {
        headers.push((
            STRICT_TRANSPORT_SECURITY,
            fixed("max-age=31536000"),
            Scope::Every,
        ));
    }
    headers
}

/// A header value for [`SetResponseHeaderLayer`], given to the responses of
/// its [`Scope`].
#[derive(Clone)]
struct Scoped {
    value: HeaderValue,
    scope: Scope,
}

impl<B> MakeHeaderValue<Response<B>> for Scoped {
    fn make_header_value(&mut self, response: &Response<B>) -> Option<HeaderValue> {
        (self.scope == Scope::Every || is_html(response)).then(|| self.value.clone())
    }
}

/// Whether the response's media type is `text/html`.
fn is_html<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("text/html"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn policy(public: &[Url], headerless: Headerless) -> CsrfPolicy {
        Guard::new(public, false, Duration::from_secs(1)).csrf(headerless)
    }

    fn login() -> CsrfPolicy {
        policy(&[], Headerless::Allowed)
    }

    fn logout() -> CsrfPolicy {
        policy(&[], Headerless::Refused)
    }

    #[test]
    fn sec_fetch_site_decides_when_present() {
        for site in ["same-origin", "none"] {
            let h = headers(&[("sec-fetch-site", site), ("origin", "http://evil.example")]);
            assert_eq!(logout().judge(&h), Ok(()), "{site}");
        }
        for site in ["same-site", "cross-site", "Same-Origin", ""] {
            let h = headers(&[
                ("host", "a.example"),
                ("sec-fetch-site", site),
                ("origin", "http://a.example"),
            ]);
            assert!(
                matches!(logout().judge(&h), Err(Refusal::FetchSite(_))),
                "{site}"
            );
        }
    }

    #[test]
    fn origin_is_compared_with_the_host_and_the_public_urls() {
        let own = headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
        ]);
        assert_eq!(logout().judge(&own), Ok(()));
        // The default port is the same origin, by the URL parser's rules.
        let port = headers(&[("host", "a.example"), ("origin", "http://a.example:80")]);
        assert_eq!(logout().judge(&port), Ok(()));
        for origin in [
            "http://127.0.0.1:8081",
            "https://127.0.0.1:8080",
            "http://127.0.0.1:8080.evil.example",
            "http://evil.example",
            "null",
            "not a url",
            "file:///etc/passwd",
        ] {
            let h = headers(&[("host", "127.0.0.1:8080"), ("origin", origin)]);
            assert!(
                matches!(
                    logout().judge(&h),
                    Err(Refusal::Foreign {
                        header: "Origin",
                        ..
                    })
                ),
                "{origin}"
            );
        }
        let url = Url::parse("https://publish.example/").unwrap();
        let public = policy(&[url], Headerless::Refused);
        let proxied = headers(&[
            ("host", "etoken_farm"),
            ("origin", "https://publish.example"),
        ]);
        assert_eq!(public.judge(&proxied), Ok(()));
        assert!(logout().judge(&proxied).is_err());
    }

    #[test]
    fn a_host_that_is_not_an_authority_names_no_origin() {
        for host in ["evil.example/@127.0.0.1", "user@evil.example", "a b"] {
            let h = headers(&[("host", host), ("origin", "http://evil.example")]);
            assert!(logout().judge(&h).is_err(), "{host}");
        }
    }

    #[test]
    fn referer_counts_only_without_origin() {
        let own = headers(&[
            ("host", "a.example"),
            ("referer", "http://a.example/login?x=1"),
        ]);
        assert_eq!(logout().judge(&own), Ok(()));
        let foreign = headers(&[
            ("host", "a.example"),
            ("referer", "http://evil.example/a.example"),
        ]);
        assert!(matches!(
            logout().judge(&foreign),
            Err(Refusal::Foreign {
                header: "Referer",
                ..
            })
        ));
        let both = headers(&[
            ("host", "a.example"),
            ("origin", "http://evil.example"),
            ("referer", "http://a.example/"),
        ]);
        assert!(logout().judge(&both).is_err());
    }

    #[test]
    fn headerless_requests_pass_only_where_allowed() {
        let curl = headers(&[("host", "a.example")]);
        assert_eq!(login().judge(&curl), Ok(()));
        assert_eq!(logout().judge(&curl), Err(Refusal::Headerless));
        // Login still refuses a cross-site browser.
        let evil = headers(&[("host", "a.example"), ("origin", "http://evil.example")]);
        assert!(login().judge(&evil).is_err());
    }

    #[test]
    fn repeated_deciding_headers_are_refused() {
        let h = headers(&[
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "cross-site"),
        ]);
        assert_eq!(login().judge(&h), Err(Refusal::Repeated("Sec-Fetch-Site")));
        let h = headers(&[
            ("host", "a.example"),
            ("origin", "http://a.example"),
            ("origin", "http://evil.example"),
        ]);
        assert_eq!(login().judge(&h), Err(Refusal::Repeated("Origin")));
    }

    #[test]
    fn client_text_in_the_log_is_escaped_and_truncated() {
        let long = format!("http://evil.example/\n{}", "x".repeat(500));
        let h = headers(&[
            ("host", "a.example"),
            ("referer", &long.replace('\n', "%0A")),
        ]);
        let reason = logout().judge(&h).unwrap_err().to_string();
        assert!(reason.len() < 250, "{reason}");
        assert!(reason.contains('…'), "{reason}");
        assert_eq!(quoted(b"a\nb\"c"), r#""a\nb\"c""#);
    }

    #[test]
    fn the_policy_allows_exactly_the_pages_style() {
        let page = page::login(
            &page::LoginPage::default(),
            &crate::serve::redirect::LocalTarget::root(),
            Some("error"),
        );
        let style = page
            .split_once("<style>")
            .and_then(|(_, rest)| rest.split_once("</style>"))
            .map(|(style, _)| style)
            .unwrap();
        assert_eq!(style, page::STYLE);
        let hash = STANDARD.encode(Sha256::digest(style.as_bytes()));
        assert!(content_security_policy().contains(&format!("style-src 'sha256-{hash}';")));
        assert_eq!(page.matches("<style>").count(), 1);
        assert!(!page.contains("<script") && !page.contains(" style="));
    }

    #[test]
    fn hsts_only_with_secure_cookies() {
        let has_hsts = |secure| {
            security_headers(secure)
                .iter()
                .any(|(name, _, _)| *name == STRICT_TRANSPORT_SECURITY)
        };
        assert!(has_hsts(true));
        assert!(!has_hsts(false));
        assert_eq!(
            security_headers(false).len(),
            4,
            "CSP built from the style hash"
        );
    }

    /// What `POST` of `len` bytes to a route of `router` answers.
    async fn post_status(router: Router, len: usize) -> StatusCode {
        use tower::ServiceExt;
        let request = axum::http::Request::post("/t")
            .header("sec-fetch-site", "same-origin")
            .body(axum::body::Body::from(vec![b'x'; len]))
            .unwrap();
        router.oneshot(request).await.unwrap().status()
    }

    #[tokio::test]
    async fn body_limits_are_16_kib_for_browser_forms_and_64_kib_for_token_endpoints() {
        async fn read(body: axum::body::Bytes) -> String {
            body.len().to_string()
        }
        let guard = Guard::new(&[], false, Duration::from_secs(1));
        let form = || {
            Router::new().route(
                "/t",
                guard.browser_form(axum::routing::post(read), Headerless::Refused),
            )
        };
        let token = || Router::new().route("/t", token_endpoint(axum::routing::post(read)));
        assert_eq!(post_status(form(), FORM_BODY_LIMIT).await, StatusCode::OK);
        assert_eq!(
            post_status(form(), FORM_BODY_LIMIT + 1).await,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(post_status(token(), TOKEN_BODY_LIMIT).await, StatusCode::OK);
        assert_eq!(
            post_status(token(), TOKEN_BODY_LIMIT + 1).await,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(FORM_BODY_LIMIT, 16 * 1024);
        assert_eq!(TOKEN_BODY_LIMIT, 64 * 1024);
    }
}
