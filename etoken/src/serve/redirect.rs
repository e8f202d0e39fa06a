//! Where a client may send the browser next. Every redirect target a
//! client can influence (login's `resource` today; logout and single
//! sign-on when they take one) becomes a [`LocalTarget`] here, and only
//! here, so no handler can send a client's text unjudged.
//!
//! A target is judged the way the browser will read it: by the WHATWG URL
//! parser (the `url` crate), which drops tabs and newlines anywhere, trims
//! controls and spaces at the ends, reads `\` as `/`, and takes a run of
//! leading slashes for a host. What is sent is the parser's serialization,
//! never the client's text.

use std::sync::LazyLock;

use axum::http::HeaderValue;
use url::Url;

/// The longest target judged, and the longest sent, in bytes. `nginx`
/// passes `$request_uri` as the login page's `resource`, and its default
/// request line bound is 8 KiB; half of it is more than any real page needs
/// and keeps a `Location` header small.
pub const MAX_TARGET_LEN: usize = 4096;

/// Stand-ins for this site's origin. TLS usually ends in front of us, so
/// we cannot know whether the browser sees the site over `http` or
/// `https`: a target must stay on the site under both (`https:evil` leaves
/// an http page, `http:evil` an https one). `.invalid` is reserved
/// (RFC 6761), so no real host is ever mistaken for ours.
static SITES: LazyLock<[Url; 2]> = LazyLock::new(|| {
    ["http://etoken.invalid/", "https://etoken.invalid/"]
        .map(|site| Url::parse(site).expect("a fixed, valid URL"))
});

/// A redirect target that stays on this site: a path and its query, as the
/// WHATWG URL parser serialises them (ASCII, percent-encoded), so the text
/// is a valid header value and means to the browser what it meant to us.
/// The fragment is dropped: a browser never sends one to a server, so a
/// real page's address (nginx's `$request_uri`) has none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalTarget(String);

impl LocalTarget {
    /// The site's front page, `/`: where anything refused goes.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// Judges `target` as a browser would read it in a `Location` header:
    /// the same target on this site, or `/` when it would leave the site,
    /// is not a URL, or is longer than [`MAX_TARGET_LEN`]. `None` (no
    /// target given) is `/` too.
    pub fn judge(target: Option<&str>) -> Self {
        let Some(target) = target else {
            return Self::root();
        };
        match on_site(target) {
            Some(local) => Self(local),
            None => {
                tracing::info!(
                    "redirect target refused, sent to /: {}",
                    etoken::quoted(target)
                );
                Self::root()
            }
        }
    }

    /// The target's text: a path starting with one `/`, and its query.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The target as a `Location` header value.
    pub fn header_value(&self) -> HeaderValue {
        // Judged to be one (see `on_site`); `/` should that ever change.
        HeaderValue::from_str(&self.0).unwrap_or(HeaderValue::from_static("/"))
    }
}

/// The serialization of `target` when it stays on the site, and when that
/// serialization, read again, stays on the site and means the same (so
/// `/.//evil`, which the parser makes the path `//evil`, a host to the
/// browser, is refused).
fn on_site(target: &str) -> Option<String> {
    if target.len() > MAX_TARGET_LEN {
        return None;
    }
    let local = resolve(target)?;
    let fixed_point = resolve(&local).as_deref() == Some(local.as_str());
    let sendable = local.len() <= MAX_TARGET_LEN && HeaderValue::from_str(&local).is_ok();
    (fixed_point && sendable).then_some(local)
}

/// `target` resolved against each stand-in origin: its path and query when
/// the origin is unchanged under all of them and they agree.
fn resolve(target: &str) -> Option<String> {
    let mut agreed: Option<String> = None;
    for site in SITES.iter() {
        let url = site.join(target).ok()?;
        if url.origin() != site.origin() {
            return None;
        }
        let local = match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        };
        match &agreed {
            Some(earlier) if *earlier != local => return None,
            Some(_) => {}
            None => agreed = Some(local),
        }
    }
    agreed
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Hostile and benign targets, built from the parser's rules, and what
    /// each becomes.
    const TABLE: &[(&str, &str)] = &[
        // Benign: paths on this site, with their query; fragments dropped.
        ("/", "/"),
        ("/content/page.html", "/content/page.html"),
        (
            "/content/page.html?a=1&b=two",
            "/content/page.html?a=1&b=two",
        ),
        ("/search?q=a b", "/search?q=a%20b"),
        ("/a/../b?x=1#frag", "/b?x=1"),
        ("/caf\u{e9}", "/caf%C3%A9"),
        ("/x?next=//evil.example", "/x?next=//evil.example"),
        ("relative/page", "/relative/page"),
        ("?q=1", "/?q=1"),
        ("", "/"),
        // Escapes stay escapes: the browser does not decode them either.
        ("/%09/evil.example", "/%09/evil.example"),
        ("/%2F/evil.example", "/%2F/evil.example"),
        ("/%5Cevil.example", "/%5Cevil.example"),
        ("/%0d%0aSet-Cookie:%20x=1", "/%0d%0aSet-Cookie:%20x=1"),
        // Controls inside a path are percent-encoded, never sent raw.
        ("/a\u{0}b", "/a%00b"),
        ("/a\u{7f}b", "/a%7Fb"),
        // Tabs and newlines vanish anywhere, so these are `//evil`.
        ("/\t/evil.example", "/"),
        ("/\n/evil", "/"),
        ("/\r\n/evil", "/"),
        ("\t//evil", "/"),
        ("/\t\t/evil", "/"),
        ("ht\ttp://evil", "/"),
        // Backslash is slash in http(s) URLs.
        ("/\\evil", "/"),
        ("\\\\evil", "/"),
        ("\\/evil", "/"),
        ("/\\/evil", "/"),
        ("http:/\\evil", "/"),
        ("http:\\\\evil", "/"),
        // Any run of leading slashes is an authority.
        ("//evil", "/"),
        ("///evil", "/"),
        ("////evil", "/"),
        ("//user@evil/", "/"),
        ("//[::1]/", "/"),
        ("//127.0.0.1:8080/", "/"),
        // Dot segments that leave an empty first segment: the path `//evil`.
        ("/.//evil", "/"),
        ("/..//evil", "/"),
        ("/a/..//evil", "/"),
        ("/%2e//evil", "/"),
        // Schemes.
        ("http://evil", "/"),
        ("HTTP://evil", "/"),
        ("https://evil.example/x", "/"),
        ("https:evil", "/"),
        ("http:evil", "/"),
        ("javascript:alert(1)", "/"),
        ("JaVaScRiPt:alert(1)", "/"),
        ("java\tscript:alert(1)", "/"),
        ("data:text/html,<script>alert(1)</script>", "/"),
        ("mailto:a@evil", "/"),
        ("ftp://evil", "/"),
        ("http://etoken.invalid/x", "/"),
        // Controls and spaces at the ends are trimmed before anything else.
        (" /page ", "/page"),
        ("\u{0}\u{1f} /page\u{1f}", "/page"),
        (" //evil", "/"),
        ("\u{1f}//evil", "/"),
        ("\u{0}javascript:alert(1)", "/"),
        ("\u{b}http://evil", "/"),
        // Not URLs at all.
        ("http://", "/"),
        ("//", "/"),
        ("http://[::1", "/"),
    ];

    #[test]
    fn hostile_targets_go_home_and_benign_ones_are_serialized() {
        for (input, expected) in TABLE {
            assert_eq!(
                LocalTarget::judge(Some(input)).as_str(),
                *expected,
                "{input:?}"
            );
        }
    }

    #[test]
    fn no_target_and_an_overlong_one_go_home() {
        assert_eq!(LocalTarget::judge(None), LocalTarget::root());
        let long = format!("/{}", "a".repeat(MAX_TARGET_LEN));
        assert_eq!(LocalTarget::judge(Some(&long)).as_str(), "/");
        let just = format!("/{}", "a".repeat(MAX_TARGET_LEN - 1));
        assert_eq!(LocalTarget::judge(Some(&just)).as_str(), just);
        // A target that grows past the bound when percent-encoded.
        let grows = format!("/{}", " ".repeat(MAX_TARGET_LEN / 2));
        assert_eq!(LocalTarget::judge(Some(&grows)).as_str(), "/");
    }

    /// What a browser does with the `Location` we send: resolve it against
    /// the page it is on, whichever scheme that page has.
    fn assert_stays_on_site(input: &str) {
        let sent = LocalTarget::judge(Some(input));
        let value = sent.header_value();
        assert_eq!(
            value.to_str().unwrap(),
            sent.as_str(),
            "{input:?}: a valid header value"
        );
        for page in [
            "http://etoken.invalid/j_security_check",
            "https://etoken.invalid/login?resource=x",
        ] {
            let page = Url::parse(page).unwrap();
            let landed = page.join(sent.as_str()).unwrap();
            assert_eq!(
                landed.origin(),
                page.origin(),
                "{input:?} sent as {:?} lands on {landed}",
                sent.as_str()
            );
        }
        // Judging what we send changes nothing: it is already a local path.
        assert_eq!(LocalTarget::judge(Some(sent.as_str())), sent, "{input:?}");
    }

    /// Targets from the parser's grammar: slashes, backslashes, tabs,
    /// newlines, controls, spaces, schemes, dots, percent-escapes, hosts.
    fn grammar() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "/",
            "//",
            "\\",
            "\t",
            "\n",
            "\r",
            " ",
            "\u{0}",
            "\u{1f}",
            "\u{7f}",
            ".",
            "..",
            "%2e",
            "%2f",
            "%5c",
            "%09",
            "%0a",
            "%",
            ":",
            "@",
            "?",
            "#",
            "http:",
            "https:",
            "HTTP:",
            "javascript:",
            "data:",
            "evil.example",
            "etoken.invalid",
            "[::1]",
            "127.0.0.1",
            ":8080",
            "a",
            "\u{e9}",
            "\u{3000}",
            "\u{feff}",
        ]);
        prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        #[test]
        fn any_string_stays_on_site(input in any::<String>()) {
            assert_stays_on_site(&input);
        }

        #[test]
        fn any_grammar_target_stays_on_site(input in grammar()) {
            assert_stays_on_site(&input);
        }
    }
}
