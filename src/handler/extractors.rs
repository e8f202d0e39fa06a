//! axum extractors: `Identity` requires an authenticated user,
//! `Option<Identity>` makes one optional. Both read what the
//! [`AuthLayer`](super::AuthLayer) put in the request extensions.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::decision::LayerRan;
use super::identity::Identity;
use super::layer::{empty, unauthorized};
use super::rejection::AuthRejection;

/// The uniform 401 for [`Unauthenticated`](AuthRejection::Unauthenticated),
/// 500 for [`MissingLayer`](AuthRejection::MissingLayer).
///
/// ```
/// use axum::response::IntoResponse;
/// use encapsulated_token::handler::AuthRejection;
/// let response = AuthRejection::Unauthenticated.into_response();
/// assert_eq!(response.status(), 401);
/// ```
impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Unauthenticated => unauthorized(),
            Self::MissingLayer => {
                tracing::error!("{self}");
                empty(StatusCode::INTERNAL_SERVER_ERROR)
            }
        }
    }
}

/// Requires an authenticated user: 401 without one.
///
/// ```
/// use axum::{Router, routing::get};
/// use encapsulated_token::handler::{AuthConfig, Authenticator, Identity};
/// use encapsulated_token::{Key, KeyRing};
///
/// async fn me(identity: Identity) -> String {
///     identity.subject
/// }
///
/// let auth = Authenticator::new(KeyRing::new(Key::generate().unwrap()), AuthConfig::new(),
///     std::collections::HashSet::<String>::new()).unwrap();
/// let app: Router = Router::new().route("/me", get(me)).layer(auth.layer());
/// ```
impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match <Self as OptionalFromRequestParts<S>>::from_request_parts(parts, _state).await? {
            Some(identity) => Ok(identity),
            None => Err(AuthRejection::Unauthenticated),
        }
    }
}

/// Makes the user optional: `None` when the request is not authenticated
/// (behind an [`optional`](super::AuthLayer::optional) layer).
///
/// ```
/// use axum::{Router, routing::get};
/// use encapsulated_token::handler::{AuthConfig, Authenticator, Identity};
/// use encapsulated_token::{Key, KeyRing};
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
/// let app: Router = Router::new().route("/", get(home)).layer(auth.layer().optional());
/// ```
impl<S: Send + Sync> OptionalFromRequestParts<S> for Identity {
    type Rejection = AuthRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if let Some(identity) = parts.extensions.get::<Identity>() {
            return Ok(Some(identity.clone()));
        }
        if parts.extensions.get::<LayerRan>().is_none() {
            return Err(AuthRejection::MissingLayer);
        }
        Ok(None)
    }
}
