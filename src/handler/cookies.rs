//! `Set-Cookie` values for login, refresh and logout, built with the
//! `cookie` crate. Login and logout carry the same attributes, so a browser
//! treats the logout cookie as the same cookie and drops it.

use cookie::Cookie;
use http::HeaderValue;
use http::header::InvalidHeaderValue;

use super::config::{AuthConfig, SameSite};

/// `name=value; HttpOnly; SameSite=..; Secure; Path=/; Max-Age=..`.
/// `max_age` below zero is sent as zero.
pub(crate) fn set_cookie(
    config: &AuthConfig,
    value: &str,
    max_age: time::Duration,
) -> Result<HeaderValue, InvalidHeaderValue> {
    let same_site = match config.same_site() {
        SameSite::Lax => cookie::SameSite::Lax,
        SameSite::Strict => cookie::SameSite::Strict,
        SameSite::None => cookie::SameSite::None,
    };
    let cookie = Cookie::build((config.cookie_name(), value))
        .http_only(true)
        .secure(config.secure())
        .same_site(same_site)
        .path("/")
        .max_age(max_age.max(time::Duration::ZERO))
        .build();
    HeaderValue::try_from(cookie.to_string())
}

/// The logout cookie: empty value, `Max-Age=0`, the login attributes.
pub(crate) fn clear_cookie(config: &AuthConfig) -> Result<HeaderValue, InvalidHeaderValue> {
    set_cookie(config, "", time::Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(value: &HeaderValue) -> Cookie<'static> {
        Cookie::parse(value.to_str().unwrap().to_owned()).unwrap()
    }

    #[test]
    fn login_cookie_attributes() {
        let value =
            set_cookie(&AuthConfig::new(), "et2.abc", time::Duration::seconds(3600)).unwrap();
        let c = parse(&value);
        assert_eq!(c.name_value(), ("login-token", "et2.abc"));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.same_site(), Some(cookie::SameSite::Lax));
        assert_eq!(c.path(), Some("/"));
        assert_eq!(c.max_age(), Some(time::Duration::seconds(3600)));
    }

    #[test]
    fn insecure_only_when_asked_and_never_with_same_site_none() {
        let dev = AuthConfig::new().with_secure(false);
        let c = parse(&set_cookie(&dev, "t", time::Duration::seconds(1)).unwrap());
        assert_eq!(c.secure(), None);
        let none = dev.with_same_site(SameSite::None);
        let c = parse(&set_cookie(&none, "t", time::Duration::seconds(1)).unwrap());
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.same_site(), Some(cookie::SameSite::None));
    }

    #[test]
    fn a_host_prefixed_cookie_has_what_browsers_require() {
        let config = AuthConfig::new().with_cookie_name("__Host-login");
        for value in [
            set_cookie(&config, "t", time::Duration::seconds(1)).unwrap(),
            clear_cookie(&config).unwrap(),
        ] {
            let c = parse(&value);
            assert_eq!(c.name(), "__Host-login");
            assert_eq!(c.secure(), Some(true));
            assert_eq!(c.path(), Some("/"));
            assert_eq!(c.domain(), None);
        }
    }

    #[test]
    fn logout_clears_with_the_same_attributes() {
        let config = AuthConfig::new()
            .with_cookie_name("sid")
            .with_same_site(SameSite::Strict);
        let c = parse(&clear_cookie(&config).unwrap());
        assert_eq!(c.name_value(), ("sid", ""));
        assert_eq!(c.max_age(), Some(time::Duration::ZERO));
        assert_eq!(c.http_only(), Some(true));
        assert_eq!(c.secure(), Some(true));
        assert_eq!(c.same_site(), Some(cookie::SameSite::Strict));
        assert_eq!(c.path(), Some("/"));
    }
}
