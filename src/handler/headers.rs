//! [`RequestHeaders`]: the headers of a request as the handler reads them,
//! whatever the web framework, so the tower layer and the actix-web
//! middleware share one decision (actix-web 4 has its own `HeaderMap`, of
//! the `http` 0.2 crate).

/// Every value of a header, in the order the client sent them, as bytes:
/// all the handler reads of a request's headers (`Authorization`, `Cookie`,
/// `X-Token-Refresh`). Implemented for `http::HeaderMap` (tower, axum,
/// hyper) and, with the `actix` feature, actix-web's `HeaderMap`, so
/// [`Authenticator::authenticate`](super::Authenticator::authenticate)
/// takes either. Implement it to use the handler with another framework.
///
/// ```
/// use encapsulated_token::handler::RequestHeaders;
///
/// let mut headers = http::HeaderMap::new();
/// headers.append("cookie", "a=1".parse().unwrap());
/// headers.append("cookie", "b=2".parse().unwrap());
/// let values: Vec<&[u8]> = headers.values_of("cookie").collect();
/// assert_eq!(values, [b"a=1".as_slice(), b"b=2".as_slice()]);
/// assert_eq!(headers.values_of("authorization").count(), 0);
/// ```
pub trait RequestHeaders {
    /// The values of the header `name` (lowercase), in order; none when
    /// the request does not have it.
    fn values_of<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]>;
}

impl RequestHeaders for http::HeaderMap {
    fn values_of<'a>(&'a self, name: &'static str) -> impl Iterator<Item = &'a [u8]> {
        self.get_all(name).iter().map(http::HeaderValue::as_bytes)
    }
}

/// `bytes` as text if every byte is visible ASCII or a tab: what
/// `http::HeaderValue::to_str` accepts, for header values of any framework.
pub(crate) fn visible_ascii(bytes: &[u8]) -> Option<&str> {
    if bytes
        .iter()
        .all(|&b| b == b'\t' || (b' '..=b'~').contains(&b))
    {
        std::str::from_utf8(bytes).ok()
    } else {
        None
    }
}
