//! From flags to settings that work, decided before listening: whether
//! cookies carry `Secure`, the [`AuthConfig`], and a probe token minted and
//! verified with them, so a setting that cannot work stops the start with
//! one line instead of failing every login.

use std::net::IpAddr;

use encapsulated_token::handler::{AuthConfig, Authenticator, ConfigError};

use super::ServeArgs;

/// Whether login cookies carry `Secure`, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cookies {
    /// `Secure`: the browser sends them over https only.
    Secure,
    /// `Secure` although this is the embedded default: it listens beyond
    /// loopback, where plain http would carry sessions in the clear.
    SecureBeyondLoopback,
    /// No `Secure`: `--insecure-cookies`, or the embedded default on a
    /// loopback address (plain-http local development).
    Insecure,
}

impl Cookies {
    /// `--insecure-cookies` (`asked`) drops `Secure` anywhere; the embedded
    /// default drops it only on loopback (127.0.0.0/8, `::1`, and
    /// IPv4-mapped 127.x): reachable from this machine alone.
    pub fn decide(asked: bool, embedded: bool, listen: IpAddr) -> Self {
        if asked || (embedded && listen.to_canonical().is_loopback()) {
            Self::Insecure
        } else if embedded {
            Self::SecureBeyondLoopback
        } else {
            Self::Secure
        }
    }

    pub fn secure(self) -> bool {
        self != Self::Insecure
    }

    /// Says at start-up what an operator might not expect.
    pub fn log(self, listen: IpAddr) {
        match self {
            Self::Secure => {}
            Self::SecureBeyondLoopback => tracing::info!(
                "cookies are Secure: the embedded default listens on {listen}, not on loopback, \
                 so browsers send the login cookie over https only; put TLS in front, or pass \
                 --insecure-cookies for plain-http development"
            ),
            Self::Insecure => {
                tracing::warn!("cookies without Secure: plain-http local development only")
            }
        }
    }
}

/// The settings `args` ask for, checked: a refusal names its flag.
pub fn auth_config(args: &ServeArgs, cookies: Cookies) -> Result<AuthConfig, String> {
    let mut config = AuthConfig::new()
        .with_lifetime(args.ttl)
        .with_max_session(args.max_session)
        .with_cookie_name(args.cookie_name.as_str())
        .with_secure(cookies.secure())
        .with_clock_offset(time::Duration::seconds(args.clock_offset));
    if let Some(audience) = &args.audience {
        config = config.with_audience(audience.as_str());
    }
    for prefix in &args.no_refresh_paths {
        config = config.with_no_refresh_path(prefix.as_str());
    }
    config.validate().map_err(|e| match e {
        ConfigError::CookiePrefix { .. } if !cookies.secure() => format!(
            "{} (--insecure-cookies and the embedded default on loopback turn Secure off)",
            refusal(&e)
        ),
        _ => refusal(&e),
    })?;
    Ok(config)
}

/// `cannot start: --FLAG: why`, for a setting the library refused.
pub fn refusal(error: &ConfigError) -> String {
    let flag = match error {
        ConfigError::Audience { .. } => "--audience: ",
        ConfigError::Lifetime { .. } => "--ttl: ",
        ConfigError::ClockOffset { .. } => "--clock-offset: ",
        ConfigError::MaxSession { .. } => "--max-session: ",
        ConfigError::CookiePrefix { .. } | ConfigError::CookieName { .. } => "--cookie-name: ",
        ConfigError::NoRefreshPath { .. } => "--no-refresh-path: ",
        _ => "",
    };
    format!("cannot start: {flag}{error}")
}

/// The subject of the probe token; never a user (it is not in the users
/// file, and the probe never asks the directory).
const PROBE_SUBJECT: &str = "etoken-start-up-probe";

/// Mints a token as a login does (configured lifetime, clock and audience,
/// the active key) and verifies it as a request is (configured audience and
/// leeway, the token clock), before anything listens.
pub fn probe(auth: &Authenticator) -> Result<(), String> {
    let config = auth.config();
    let settings = format!(
        "--ttl {}, --clock-offset {}, --audience {}",
        humantime::format_duration(config.lifetime()),
        config.clock_offset().whole_seconds(),
        config
            .audience()
            .map_or("(none)".into(), |a| format!("{a:?}")),
    );
    let failed = |what: &str, why: &dyn std::fmt::Display| {
        format!("cannot start: a probe token with {settings} {what}: {why}")
    };
    let token = auth
        .mint(&auth.claims_for(PROBE_SUBJECT))
        .map_err(|e| failed("cannot be minted", &e))?;
    let verified = auth
        .verifier()
        .verify_at(&token, auth.now())
        .map_err(|e| failed("is refused", &e))?;
    if verified.subject() != PROBE_SUBJECT || verified.audience() != config.audience() {
        return Err(failed("comes back changed", &"subject or audience"));
    }
    auth.login_cookie(PROBE_SUBJECT, std::iter::empty::<(String, String)>())
        .map_err(|e| failed("makes no login cookie", &e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_embedded_default_drops_secure_on_loopback_only() {
        for loopback in [
            "127.0.0.1",
            "127.1.2.3",
            "127.255.255.254",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            assert_eq!(
                Cookies::decide(false, true, ip(loopback)),
                Cookies::Insecure,
                "{loopback}"
            );
        }
        for beyond in [
            "0.0.0.0",
            "10.0.0.1",
            "192.168.1.1",
            "128.0.0.1",
            "::",
            "::2",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:0.0.0.0",
        ] {
            let decided = Cookies::decide(false, true, ip(beyond));
            assert_eq!(decided, Cookies::SecureBeyondLoopback, "{beyond}");
            assert!(decided.secure(), "{beyond}");
        }
    }

    #[test]
    fn insecure_cookies_is_obeyed_anywhere_and_nothing_else_drops_secure() {
        for listen in ["127.0.0.1", "0.0.0.0", "::", "10.0.0.1"] {
            for embedded in [false, true] {
                assert_eq!(
                    Cookies::decide(true, embedded, ip(listen)),
                    Cookies::Insecure
                );
            }
            assert_eq!(Cookies::decide(false, false, ip(listen)), Cookies::Secure);
        }
        assert!(!Cookies::Insecure.secure());
        assert!(Cookies::Secure.secure());
    }

    #[test]
    fn a_refusal_names_its_flag() {
        let lifetime = std::time::Duration::from_secs(u64::MAX);
        let cases = [
            (
                AuthConfig::new().with_audience(""),
                "cannot start: --audience: ",
            ),
            (
                AuthConfig::new().with_lifetime(lifetime),
                "cannot start: --ttl: ",
            ),
            (
                AuthConfig::new().with_clock_offset(time::Duration::seconds(400_000_000_000)),
                "cannot start: --clock-offset: ",
            ),
        ];
        for (config, prefix) in cases {
            let line = refusal(&config.validate().unwrap_err());
            assert!(line.starts_with(prefix), "{line}");
        }
    }

    #[test]
    fn the_probe_passes_with_good_settings_at_their_bounds() {
        let ring = encapsulated_token::KeyRing::new(encapsulated_token::Key::generate().unwrap());
        let config = AuthConfig::new()
            .with_audience("publish")
            .with_lifetime(AuthConfig::MAX_LIFETIME)
            .with_clock_offset(-AuthConfig::MAX_CLOCK_OFFSET);
        let auth =
            Authenticator::new(ring, config, std::collections::HashSet::<String>::new()).unwrap();
        probe(&auth).unwrap();
    }
}
