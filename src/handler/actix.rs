//! actix-web glue (feature `actix`): [`AuthMiddleware`], a `Transform`
//! over the same [`Authenticator`] and the same decision as the tower
//! [`AuthLayer`](super::AuthLayer), and [`Identity`] (required) and
//! `Option<Identity>` (optional) as extractors.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, HeaderMap, HeaderValue, LOCATION, SET_COOKIE, WWW_AUTHENTICATE,
};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};

use super::authenticator::Authenticator;
use super::decision::{Decision, Guard, LayerRan};
use super::headers::RequestHeaders;
use super::identity::Identity;
use super::rejection::AuthRejection;

impl RequestHeaders for HeaderMap {
    fn values_of<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> {
        self.get_all(name).map(HeaderValue::as_bytes)
    }
}

/// actix-web middleware that authenticates requests with an
/// [`Authenticator`]: the same rules as the tower
/// [`AuthLayer`](super::AuthLayer). On success the [`Identity`] goes into
/// the request extensions (extract it in a handler), and the response
/// carries a renewed cookie when the token is past its refresh threshold
/// (unless the handler set the cookie itself, as a login or logout route
/// does). On failure the handler is not called: a uniform 401 in API mode
/// (the default), a 302 to the login page in browser mode
/// ([`redirect_to`](Self::redirect_to)); 503 when the user directory cannot
/// be asked. An [`optional`](Self::optional) middleware lets refused
/// requests through without an identity.
///
/// ```
/// use actix_web::{App, test, web};
/// use encapsulated_token::handler::{AuthConfig, Authenticator, Identity};
/// use encapsulated_token::{Key, KeyRing};
///
/// async fn whoami(identity: Identity) -> String {
///     identity.subject
/// }
///
/// # actix_web::rt::System::new().block_on(async {
/// let auth = Authenticator::new(KeyRing::new(Key::generate()?), AuthConfig::new(),
///     std::collections::HashSet::from(["alice".to_string()]))?;
/// let app = test::init_service(
///     App::new().wrap(auth.middleware()).route("/whoami", web::get().to(whoami)),
/// ).await;
///
/// let token = auth.mint(&auth.claims_for("alice"))?;
/// let request = test::TestRequest::get().uri("/whoami")
///     .insert_header(("authorization", format!("Bearer {token}"))).to_request();
/// assert_eq!(test::call_and_read_body(&app, request).await, "alice");
///
/// let request = test::TestRequest::get().uri("/whoami").to_request();
/// assert_eq!(test::call_service(&app, request).await.status(), 401);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct AuthMiddleware {
    guard: Guard<HeaderValue>,
}

impl AuthMiddleware {
    /// An API-mode middleware: refused requests get 401.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, AuthMiddleware, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let middleware = AuthMiddleware::new(auth);
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
    /// use actix_web::http::header::HeaderValue;
    /// use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let middleware = auth.middleware().redirect_to(HeaderValue::from_static("/login"));
    /// ```
    pub fn redirect_to(mut self, login_url: HeaderValue) -> Self {
        self.guard.login_url = Some(login_url);
        self
    }

    /// Let requests without valid credentials through, with no
    /// [`Identity`]: for pages that greet logged-in users but serve
    /// everyone (extract `Option<Identity>`). Valid cookies are still
    /// refreshed.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let middleware = auth.middleware().optional();
    /// ```
    pub fn optional(mut self) -> Self {
        self.guard.optional = true;
        self
    }
}

impl Authenticator {
    /// An API-mode actix-web [`AuthMiddleware`] over this authenticator,
    /// for `App::wrap` or `Scope::wrap`.
    ///
    /// ```
    /// use encapsulated_token::handler::{AuthConfig, Authenticator};
    /// use encapsulated_token::{Key, KeyRing};
    /// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
    ///     std::collections::HashSet::<String>::new()).unwrap();
    /// let app = actix_web::App::new().wrap(auth.middleware());
    /// ```
    pub fn middleware(&self) -> AuthMiddleware {
        AuthMiddleware::new(self.clone())
    }
}

impl<S, B> Transform<S, ServiceRequest> for AuthMiddleware
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = AuthMiddlewareService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(AuthMiddlewareService {
            service: Rc::new(service),
            guard: Rc::new(self.guard.clone()),
        }))
    }
}

/// The service [`AuthMiddleware`] wraps around the application's (actix-web
/// builds it; applications name it only in type signatures).
///
/// ```
/// use encapsulated_token::handler::AuthMiddlewareService;
/// fn takes<S>(_: &AuthMiddlewareService<S>) {}
/// ```
pub struct AuthMiddlewareService<S> {
    service: Rc<S>,
    guard: Rc<Guard<HeaderValue>>,
}

impl<S> std::fmt::Debug for AuthMiddlewareService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthMiddlewareService")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

type Answer<B> = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

impl<S, B> Service<ServiceRequest> for AuthMiddlewareService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Answer<B>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let guard = Rc::clone(&self.guard);
        Box::pin(async move {
            let decision = guard.decide(request.path(), request.headers()).await;
            request.extensions_mut().insert(LayerRan);
            let (identity, refresh) = match decision {
                Decision::Admit { identity, refresh } => (identity, refresh),
                Decision::Anonymous => {
                    return Ok(service.call(request).await?.map_into_left_body());
                }
                Decision::Refuse { clear_cookie } => {
                    let response = refusal(&guard, clear_cookie);
                    return Ok(request.into_response(response).map_into_right_body());
                }
                Decision::Unavailable => {
                    let response = empty(StatusCode::SERVICE_UNAVAILABLE);
                    return Ok(request.into_response(response).map_into_right_body());
                }
            };
            let renew = refresh.then(|| identity.clone());
            request.extensions_mut().insert(identity);
            let mut response = service.call(request).await?;
            if let Some(identity) = renew
                && let Some(value) =
                    guard.renewal(&identity, response.headers().values_of("set-cookie"))
                && let Some(value) = converted(&value)
            {
                response.headers_mut().append(SET_COOKIE, value);
            }
            Ok(response.map_into_left_body())
        })
    }
}

/// A refused request's answer: 401, or 302 to the login page; with the
/// logout cookie when `clear_cookie`.
fn refusal(guard: &Guard<HeaderValue>, clear_cookie: bool) -> HttpResponse {
    let mut response = match &guard.login_url {
        None => unauthorized(),
        Some(url) => {
            let mut response = empty(StatusCode::FOUND);
            response.headers_mut().insert(LOCATION, url.clone());
            response
        }
    };
    if clear_cookie && let Some(value) = converted(&guard.auth.logout_cookie()) {
        response.headers_mut().append(SET_COOKIE, value);
    }
    response
}

/// The uniform 401: the same for every reason, nothing about which.
fn unauthorized() -> HttpResponse {
    let mut response = empty(StatusCode::UNAUTHORIZED);
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

/// A response with `status`, an empty body and `Cache-Control: no-store`
/// (an authentication answer is for this request only).
fn empty(status: StatusCode) -> HttpResponse {
    let mut response = HttpResponse::new(status);
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A `Set-Cookie` value of the handler (`http` 1) as actix-web's (`http`
/// 0.2): the same bytes, which both accept, so `None` never happens.
fn converted(value: &http::HeaderValue) -> Option<HeaderValue> {
    HeaderValue::from_bytes(value.as_bytes()).ok()
}

/// Requires an authenticated user: 401 without one. `Option<Identity>`
/// makes it optional (behind an [`optional`](AuthMiddleware::optional)
/// middleware): `None` when the request is not authenticated. On a route
/// without the middleware, `Identity` answers 500 and `Option<Identity>`
/// is `None` (actix-web turns an extractor's error into `None`); both log
/// the wiring mistake as an error.
///
/// ```
/// use actix_web::{App, web};
/// use encapsulated_token::handler::{AuthConfig, Authenticator, Identity};
/// use encapsulated_token::{Key, KeyRing};
///
/// async fn me(identity: Identity) -> String {
///     identity.subject
/// }
///
/// async fn home(identity: Option<Identity>) -> String {
///     match identity {
///         Some(identity) => format!("hello {}", identity.subject),
///         None => "hello stranger".into(),
///     }
/// }
///
/// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
///     std::collections::HashSet::<String>::new()).unwrap();
/// let app = App::new()
///     .service(web::scope("/api").wrap(auth.middleware()).route("/me", web::get().to(me)))
///     .service(web::scope("").wrap(auth.middleware().optional()).route("/", web::get().to(home)));
/// ```
impl FromRequest for Identity {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, AuthRejection>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let extensions = request.extensions();
        ready(match extensions.get::<Identity>() {
            Some(identity) => Ok(identity.clone()),
            None if extensions.get::<LayerRan>().is_none() => {
                // Logged here too, since `Option<Identity>` turns every
                // error into `None`.
                tracing::error!("{}", AuthRejection::MissingLayer);
                Err(AuthRejection::MissingLayer)
            }
            None => Err(AuthRejection::Unauthenticated),
        })
    }
}

/// 401 (with `WWW-Authenticate: Bearer`) for
/// [`Unauthenticated`](AuthRejection::Unauthenticated), 500 for
/// [`MissingLayer`](AuthRejection::MissingLayer); empty bodies.
///
/// ```
/// use actix_web::ResponseError;
/// use encapsulated_token::handler::AuthRejection;
/// assert_eq!(AuthRejection::Unauthenticated.error_response().status(), 401);
/// assert_eq!(AuthRejection::MissingLayer.status_code(), 500);
/// ```
impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::MissingLayer => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Unauthenticated => unauthorized(),
            Self::MissingLayer => empty(StatusCode::INTERNAL_SERVER_ERROR),
        }
    }
}
