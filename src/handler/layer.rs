//! The tower [`Layer`] and [`Service`]: authenticate every request before
//! the inner service sees it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::header::{CACHE_CONTROL, LOCATION, SET_COOKIE, WWW_AUTHENTICATE};
use http::{HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};

use super::authenticator::Authenticator;
use super::decision::{Decision, Guard, LayerRan};
use super::headers::RequestHeaders;

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
    guard: Guard<HeaderValue>,
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
            guard: Guard::new(auth),
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
        self.guard.login_url = Some(login_url);
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
        self.guard.optional = true;
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
            let decision = layer
                .guard
                .decide(request.uri().path(), request.headers())
                .await;
            request.extensions_mut().insert(LayerRan);
            let (identity, refresh) = match decision {
                Decision::Admit { identity, refresh } => (identity, refresh),
                Decision::Anonymous => return inner.call(request).await,
                Decision::Refuse { clear_cookie } => return Ok(layer.refusal(clear_cookie)),
                Decision::Unavailable => return Ok(empty(StatusCode::SERVICE_UNAVAILABLE)),
            };
            let renew = refresh.then(|| identity.clone());
            request.extensions_mut().insert(identity);
            let mut response = inner.call(request).await?;
            if let Some(identity) = renew
                && let Some(value) = layer
                    .guard
                    .renewal(&identity, response.headers().values_of("set-cookie"))
            {
                response.headers_mut().append(SET_COOKIE, value);
            }
            Ok(response)
        })
    }
}

impl AuthLayer {
    /// A refused request's answer: 401, or 302 to the login page; with the
    /// logout cookie when `clear_cookie`.
    fn refusal<RB: Default>(&self, clear_cookie: bool) -> Response<RB> {
        let mut response = match &self.guard.login_url {
            None => unauthorized(),
            Some(url) => {
                let mut response = empty(StatusCode::FOUND);
                response.headers_mut().insert(LOCATION, url.clone());
                response
            }
        };
        if clear_cookie {
            response
                .headers_mut()
                .append(SET_COOKIE, self.guard.auth.logout_cookie());
        }
        response
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
