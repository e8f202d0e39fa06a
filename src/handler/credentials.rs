//! Finding the token in a request: `Authorization: Bearer`, else the login
//! cookie among all the cookies of all the `Cookie` headers.

use super::error::AuthError;
use super::headers::{RequestHeaders, visible_ascii};
use crate::cookies::named_cookies;

pub use crate::cookies::MAX_COOKIE_BYTES;

/// The credential a request carries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Credential<'h> {
    /// The token after `Bearer `.
    Bearer(&'h str),
    /// The values of the login cookies, in the order the client sent them
    /// (browsers put the most specific path first), never empty.
    Cookies(Vec<&'h str>),
}

/// Finds the credential of a request. A bearer token wins over the cookie
/// (see the module documentation of `handler` for why); an `Authorization`
/// header with another scheme (`Basic`...) is not ours and is ignored.
pub(crate) fn extract<'h>(
    headers: &'h impl RequestHeaders,
    cookie_name: &str,
) -> Result<Credential<'h>, AuthError> {
    if let Some(token) = bearer(headers)? {
        return Ok(Credential::Bearer(token));
    }
    let cookies = login_cookies(headers, cookie_name)?;
    if cookies.is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(Credential::Cookies(cookies))
}

/// The token of `Authorization: Bearer <token>` (scheme case-insensitive, as
/// RFC 9110 says), `None` without the header or with another scheme.
fn bearer(headers: &impl RequestHeaders) -> Result<Option<&str>, AuthError> {
    let mut values = headers.values_of("authorization");
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::BadAuthorization {
            problem: "several Authorization headers",
        });
    }
    let Some(value) = visible_ascii(value) else {
        return Err(AuthError::BadAuthorization {
            problem: "not visible ASCII",
        });
    };
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    let token = token.trim_matches(' ');
    if token.is_empty() {
        return Err(AuthError::BadAuthorization {
            problem: "Bearer scheme without a token",
        });
    }
    Ok(Some(token))
}

/// The values of every cookie named `name`, across every `Cookie` header
/// ([`named_cookies`]: a pair that is not UTF-8 or does not parse spoils
/// only itself).
fn login_cookies<'h>(
    headers: &'h impl RequestHeaders,
    name: &str,
) -> Result<Vec<&'h str>, AuthError> {
    let values: Vec<&[u8]> = headers.values_of("cookie").collect();
    let cookies =
        named_cookies(&values, |found| found == name).map_err(|_| AuthError::BadCookies {
            problem: "over 64 KiB of Cookie headers",
        })?;
    Ok(cookies.into_iter().map(|(_, value)| value).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{AUTHORIZATION, COOKIE};
    use http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(http::HeaderName, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn finds_the_cookie_among_others_and_across_headers() {
        let h = headers(&[
            (COOKIE, "a=1; b=2"),
            (COOKIE, "theme=dark; login-token=et2.x; c=3"),
        ]);
        assert_eq!(
            extract(&h, "login-token").unwrap(),
            Credential::Cookies(vec!["et2.x"])
        );
    }

    #[test]
    fn keeps_every_login_cookie_in_order() {
        let h = headers(&[
            (COOKIE, "login-token=one; login-token=two"),
            (
                COOKIE,
                "login-token=three; login-token=four; login-token=five",
            ),
        ]);
        assert_eq!(
            extract(&h, "login-token").unwrap(),
            Credential::Cookies(vec!["one", "two", "three", "four", "five"])
        );
    }

    #[test]
    fn refuses_cookie_headers_over_the_bound() {
        let mut h = HeaderMap::new();
        let filler = format!("x={}", "a".repeat(32 * 1024));
        h.append(COOKIE, HeaderValue::from_str(&filler).unwrap());
        h.append(COOKIE, HeaderValue::from_static("login-token=t"));
        assert_eq!(
            extract(&h, "login-token").unwrap(),
            Credential::Cookies(vec!["t"])
        );
        h.append(COOKIE, HeaderValue::from_str(&filler).unwrap());
        let err = extract(&h, "login-token").unwrap_err();
        assert_eq!(err.kind(), "bad_cookies");
    }

    #[test]
    fn bearer_wins_over_cookie() {
        let h = headers(&[(COOKIE, "login-token=c"), (AUTHORIZATION, "bearer  b ")]);
        assert_eq!(extract(&h, "login-token").unwrap(), Credential::Bearer("b"));
    }

    #[test]
    fn other_schemes_fall_back_to_the_cookie() {
        let h = headers(&[(COOKIE, "login-token=c"), (AUTHORIZATION, "Basic YTpi")]);
        assert_eq!(
            extract(&h, "login-token").unwrap(),
            Credential::Cookies(vec!["c"])
        );
    }

    #[test]
    fn refuses_unusable_authorization() {
        for h in [
            headers(&[(AUTHORIZATION, "Bearer")]),
            headers(&[(AUTHORIZATION, "Bearer   ")]),
            headers(&[(AUTHORIZATION, "Bearer a"), (AUTHORIZATION, "Bearer b")]),
        ] {
            let err = extract(&h, "login-token").unwrap_err();
            assert_eq!(err.kind(), "bad_authorization", "{h:?}");
        }
    }

    #[test]
    fn missing_when_no_cookie_has_the_name() {
        let h = headers(&[(COOKIE, "login-tokenx=1; xlogin-token=2; garbage")]);
        assert!(matches!(
            extract(&h, "login-token"),
            Err(AuthError::Missing)
        ));
        assert!(matches!(
            extract(&HeaderMap::new(), "login-token"),
            Err(AuthError::Missing)
        ));
    }

    #[test]
    fn skips_non_utf8_cookie_headers() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_bytes(b"x=\xff").unwrap());
        h.append(COOKIE, HeaderValue::from_static("login-token=t"));
        assert_eq!(
            extract(&h, "login-token").unwrap(),
            Credential::Cookies(vec!["t"])
        );
    }

    #[test]
    fn a_non_utf8_byte_spoils_only_its_own_cookie() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_bytes(b"a=1; theme=\xffdark; login-token=t; b=\xfe").unwrap(),
        );
        assert_eq!(
            extract(&h, "login-token").unwrap(),
            Credential::Cookies(vec!["t"])
        );
    }
}
