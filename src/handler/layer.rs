//! The tower [`Layer`] and [`Service`]: authenticate every request before
//! the inner service sees it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

use super::authenticator::Authenticator;
use super::error::AuthError;

/// Put in the extensions of every request the layer let through, so the
/// axum extractors can tell "not authenticated" from "no layer at all".
#[derive(Clone, Copy, Debug)]
pub(crate) struct LayerRan;

/// What a refused request gets.
#[derive(Clone, Debug)]
enum OnRefusal {
    /// 401 with `WWW-Authenticate: Bearer` and an empty body (API mode).
    Unauthorized,
    /// 302 to the login page (browser mode).
    Redirect(HeaderValue),
}

/// A tower `Layer` that authenticates requests with an [`Authenticator`].
///
/// On success the [`Identity`](super::Identity) goes into the request extensions, and the
/// response carries a renewed cookie when the token is past its refresh
/// threshold (unless the inner service already set the cookie, as a logout
/// or login route does). On failure the inner service is not called: the
/// client gets a uniform 401 in API mode (the default) or a 302 to the login
/// page in browser mode ([`redirect_to`](Self::redirect_to)); the reason is
/// logged, never sent. If the user directory cannot be asked, the answer is
/// 503 either way. An [`optional`](Self::optional) layer lets refused
/// requests through without an identity.
///
/// ```
/// use encapsulated_token::handler::{AuthConfig, Authenticator, Identity};
/// use encapsulated_token::{Key, KeyRing};
/// use http::{Request, Response, StatusCode};
/// use tower::{Layer, ServiceExt, service_fn};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let auth = Authenticator::new(KeyRing::new(Key::generate()?), AuthConfig::new(),
///     std::collections::HashSet::from(["alice".to_string()]))?;
/// let service = auth.layer().layer(service_fn(|req: Request<String>| async move {
///     let who = req.extensions().get::<Identity>().unwrap().subject.clone();
///     Ok::<_, std::convert::Infallible>(Response::new(who))
/// }));
///
/// let token = auth.mint(&auth.claims_for("alice"))?;
/// let req = Request::get("/").header("authorization", format!("Bearer {token}")).body(String::new())?;
/// let res = service.clone().oneshot(req).await?;
/// assert_eq!(res.into_body(), "alice");
///
/// let res = service.oneshot(Request::get("/").body(String::new())?).await?;
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct AuthLayer {
    auth: Authenticator,
    on_refusal: OnRefusal,
    optional: bool,
}

impl AuthLayer {
    /// An API-mode layer: refused requests get 401.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, AuthLayer, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let layer = AuthLayer::new(auth);
    /// ```
    pub fn new(auth: Authenticator) -> Self {
        Self {
            auth,
            on_refusal: OnRefusal::Unauthorized,
            optional: false,
        }
    }

    /// Browser mode: refused requests get `302 Found` to `login_url` (a
    /// path such as `/login` or an absolute URL).
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let layer = auth.layer().redirect_to(http::HeaderValue::from_static("/login"));
    /// ```
    pub fn redirect_to(mut self, login_url: HeaderValue) -> Self {
        self.on_refusal = OnRefusal::Redirect(login_url);
        self
    }

    /// Let requests without valid credentials through, with no
    /// [`Identity`](super::Identity) in their extensions: for pages that greet logged-in
    /// users but serve everyone. Valid cookies are still refreshed.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let layer = auth.layer().optional();
    /// ```
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
}

impl Authenticator {
    /// An API-mode [`AuthLayer`] over this authenticator.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let layer = auth.layer();
    /// ```
    pub fn layer(&self) -> AuthLayer {
        AuthLayer::new(self.clone())
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`AuthLayer`] wraps around an inner service. Needs the inner
/// service to be `Clone` (as axum routers and handlers are) and its response
/// body to have a `Default` (empty) value for the bodies of 401, 302 and 503.
///
/// ```
/// use encapsulated_token::handler::{AuthConfig, AuthService, Authenticator};
/// use encapsulated_token::{Key, KeyRing};
/// use tower::{Layer, service_fn};
/// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
///     std::collections::HashSet::<String>::new()).unwrap();
/// let service: AuthService<_> = auth.layer().layer(service_fn(|_req: http::Request<String>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
/// }));
/// ```
#[derive(Clone, Debug)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S, B, RB> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
    RB: Default + Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<RB>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone is not ready; the instance that was polled ready is
        // taken for this call and the clone stays for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let outcome = layer.auth.authenticate(request.headers()).await;
            request.extensions_mut().insert(LayerRan);
            let identity = match outcome {
                Ok(identity) => identity,
                Err(AuthError::Directory(_)) => return Ok(empty(StatusCode::SERVICE_UNAVAILABLE)),
                // Neither cookie is trusted, and ours is cleared: the user
                // logs in again under one identity.
                Err(AuthError::AmbiguousCookies { .. }) => {
                    let mut response = layer.refusal();
                    response
                        .headers_mut()
                        .append(SET_COOKIE, layer.auth.logout_cookie());
                    return Ok(response);
                }
                Err(_) if layer.optional => return inner.call(request).await,
                Err(_) => return Ok(layer.refusal()),
            };
            let skip = layer
                .auth
                .config()
                .skips_refresh(request.uri().path(), request.headers());
            let refresh = !skip && layer.auth.needs_refresh(&identity);
            let subject = refresh.then(|| identity.clone());
            request.extensions_mut().insert(identity);
            let mut response = inner.call(request).await?;
            if let Some(identity) = subject
                && !sets_cookie(&response, layer.auth.config().cookie_name())
            {
                match layer.auth.refresh_cookie(&identity) {
                    Ok(value) => {
                        tracing::debug!(subject = %identity.subject, old_token_id = %identity.token_id, "token refreshed");
                        response.headers_mut().append(SET_COOKIE, value);
                    }
                    Err(e) => {
                        tracing::warn!(subject = %identity.subject, "cannot refresh token: {e}")
                    }
                }
            }
            Ok(response)
        })
    }
}

impl AuthLayer {
    fn refusal<RB: Default>(&self) -> Response<RB> {
        match &self.on_refusal {
            OnRefusal::Unauthorized => unauthorized(),
            OnRefusal::Redirect(url) => {
                let mut response = empty(StatusCode::FOUND);
                response.headers_mut().insert(LOCATION, url.clone());
                response
            }
        }
    }
}

/// The uniform 401: the same for every reason, nothing about which.
pub(crate) fn unauthorized<RB: Default>() -> Response<RB> {
    let mut response = empty(StatusCode::UNAUTHORIZED);
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// A response with `status`, an empty body, and `Cache-Control: no-store`
/// (an authentication answer is for this request only).
pub(crate) fn empty<RB: Default>(status: StatusCode) -> Response<RB> {
    let mut response = Response::new(RB::default());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Whether `response` already sets the cookie `name` (a login or logout
/// route): a refresh must not override it.
fn sets_cookie<RB>(response: &Response<RB>, name: &str) -> bool {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| cookie::Cookie::parse(value).ok())
        .any(|cookie| cookie.name() == name)
}
