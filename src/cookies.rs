//! The login cookies of a request, framework-neutral: every cookie of a
//! name among all the `Cookie` headers, within a bound. The handler and
//! the nginx module both read cookies this way (then
//! [`Verifier::verify_one_of_at`](crate::Verifier::verify_one_of_at)).

use std::fmt;

use cookie::Cookie;

/// The most `Cookie` header bytes of one request that are read, all headers
/// together: every login cookie within them is considered (a planted cookie
/// must not push the user's own out of view), and a request with more is
/// refused. Browsers send at most a few KiB; a proxy in front (nginx: 8 KiB
/// per header line) usually refuses far less.
///
/// ```
/// assert_eq!(encapsulated_token::cookies::MAX_COOKIE_BYTES, 64 * 1024);
/// ```
pub const MAX_COOKIE_BYTES: usize = 64 * 1024;

/// The `Cookie` headers of a request are over [`MAX_COOKIE_BYTES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooManyCookieBytes;

impl fmt::Display for TooManyCookieBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("over 64 KiB of Cookie headers")
    }
}

impl std::error::Error for TooManyCookieBytes {}

/// Every cookie whose name `is_ours` accepts, as (name, value), across all
/// of `headers` (the values of the `Cookie` headers), in the order the
/// client sent them (browsers put the most specific path first). Each
/// `;`-separated pair is parsed by the `cookie` crate on its own, so a pair
/// that is not UTF-8 or does not parse (some other application's cookie)
/// spoils only itself.
///
/// ```
/// use encapsulated_token::cookies::named_cookies;
///
/// let headers: [&[u8]; 2] = [b"a=1; login-token=x; b=\xff", b"login-token=y"];
/// let found = named_cookies(&headers, |name| name == "login-token").unwrap();
/// assert_eq!(found, [("login-token", "x"), ("login-token", "y")]);
/// ```
pub fn named_cookies<'h>(
    headers: &[&'h [u8]],
    is_ours: impl Fn(&str) -> bool,
) -> Result<Vec<(&'h str, &'h str)>, TooManyCookieBytes> {
    let total: usize = headers.iter().map(|value| value.len()).sum();
    if total > MAX_COOKIE_BYTES {
        return Err(TooManyCookieBytes);
    }
    Ok(headers
        .iter()
        .flat_map(|value| value.split(|&byte| byte == b';'))
        .filter_map(|pair| std::str::from_utf8(pair).ok())
        .filter_map(|pair| Cookie::parse(pair.trim()).ok())
        .filter_map(|cookie| Some((cookie.name_raw()?, cookie.value_raw()?)))
        .filter(|(name, _)| is_ours(name))
        .collect())
}
