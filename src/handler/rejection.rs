//! [`AuthRejection`]: why the identity extractors of axum and actix-web
//! refused a request; each framework's module turns it into its response.

/// Why an [`Identity`](super::Identity) extractor (axum or actix-web) failed. Its response
/// is the uniform 401, or 500 for a missing middleware.
///
/// ```
/// use encapsulated_token::handler::AuthRejection;
/// let rejection = AuthRejection::Unauthenticated;
/// assert_eq!(rejection.to_string(), "request is not authenticated");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthRejection {
    /// The request has no valid credentials (the layer or middleware was
    /// optional): the uniform 401.
    Unauthenticated,
    /// No [`AuthLayer`](super::AuthLayer) (nor actix-web middleware) ran for
    /// this route: a wiring mistake of the application, answered 500 and
    /// logged as an error.
    MissingLayer,
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Unauthenticated => "request is not authenticated",
            Self::MissingLayer => {
                "the Identity extractor needs the handler on the route: add `.layer(auth.layer())` \
                 (axum) or `.wrap(auth.middleware())` (actix-web)"
            }
        })
    }
}

impl std::error::Error for AuthRejection {}
