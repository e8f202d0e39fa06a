//! The HTML pages: the login form, the signed-in greeting with a logout
//! button, and the developer page. Plain forms, no script, so they work behind any proxy.

use super::redirect::LocalTarget;

/// What the login page offers: the password form, single sign-on, or both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginPage {
    /// The provider's name for "Sign in with ...", when configured.
    pub sso: Option<String>,
    /// Whether the password form is shown (`--password-login`).
    pub password: bool,
}

impl Default for LoginPage {
    fn default() -> Self {
        Self {
            sso: None,
            password: true,
        }
    }
}

/// The login page; `resource` is where to go after logging in. An
/// `error` is announced (`role="alert"`) and tied to both fields, which
/// are marked invalid, so a screen reader says why the form came back.
pub fn login(offer: &LoginPage, resource: &LocalTarget, error: Option<&str>) -> String {
    let (error, described) = match error {
        Some(e) => (
            format!(
                "<p class=\"error\" id=\"login-error\" role=\"alert\">{}</p>",
                escape(e)
            ),
            " aria-invalid=\"true\" aria-describedby=\"login-error\"",
        ),
        None => (String::new(), ""),
    };
    let sso = offer
        .sso
        .as_ref()
        .map(|name| {
            let target: String =
                form_urlencoded::byte_serialize(resource.as_str().as_bytes()).collect();
            format!(
                "<p><a id=\"sso-login\" href=\"/sso/login?resource={}\">Sign in with {}</a></p>",
                escape(&target),
                escape(name)
            )
        })
        .unwrap_or_default();
    if !offer.password {
        return page(
            "Sign in",
            &format!("<main><h1>Sign in</h1>{error}{sso}</main>"),
        );
    }
    page(
        "Sign in",
        &format!(
            "<main><h1>Sign in</h1>{error}{sso}\
             <form method=\"post\" action=\"/j_security_check\">\
             <label for=\"j_username\">User name</label>\
             <input id=\"j_username\" name=\"j_username\" autocomplete=\"username\" \
             autocapitalize=\"none\" spellcheck=\"false\" required autofocus{described}>\
             <label for=\"j_password\">Password</label>\
             <input id=\"j_password\" name=\"j_password\" type=\"password\" \
             autocomplete=\"current-password\" required{described}>\
             <input type=\"hidden\" name=\"resource\" value=\"{}\">\
             <button type=\"submit\">Sign in</button></form></main>",
            escape(resource.as_str())
        ),
    )
}

/// A refused single sign-on: why, in words for a person, and a link that
/// starts again.
pub fn sso_refused(message: &str, again: &str) -> String {
    page(
        "Sign-in refused",
        &format!(
            "<main><h1>Sign-in refused</h1><p class=\"error\" role=\"alert\">{}</p>\
             <p><a id=\"try-again\" href=\"{}\">Try again</a></p></main>",
            escape(message),
            escape(again)
        ),
    )
}

/// The page for a signed-in user.
pub fn signed_in(subject: &str, instance: &str) -> String {
    page(
        "Signed in",
        &format!(
            "<main><h1>Signed in as {}</h1><p>Served by instance {}.</p>\
             <form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form></main>",
            escape(subject),
            escape(instance)
        ),
    )
}

/// The developer page: a button that gets a local development token, and
/// the token once got.
pub fn developer(subject: &str, token: Option<(&str, std::time::Duration)>) -> String {
    let shown = token
        .map(|(token, lifetime)| {
            format!(
                "<p>Your local development token, valid {}; send it as \
                 <code>Authorization: Bearer</code>:</p>\
                 <textarea id=\"token\" aria-label=\"Local development token\" readonly rows=\"6\">{}</textarea>",
                humantime::format_duration(lifetime),
                escape(token)
            )
        })
        .unwrap_or_default();
    page(
        "Developer",
        &format!(
            "<main><h1>Local development token</h1><p>Signed in as {}.</p>\
             <form method=\"post\" action=\"/developer/token\">\
             <button type=\"submit\" id=\"get-token\">Get local development token</button></form>{shown}</main>",
            escape(subject)
        ),
    )
}

/// The pages' only style, inline. The Content-Security-Policy allows it by
/// its hash (`guard::content_security_policy`), so a page with any other
/// inline style or script is not rendered as written: new pages use
/// [`page`].
pub const STYLE: &str = "body{font:1rem/1.5 system-ui,sans-serif;color:#1b1b1b;\
     background:#f6f6f6;margin:0;padding:1em}\
     main{max-width:24em;margin:3em auto;padding:1.5em 2em;background:#fff;\
     border:1px solid #ccc;border-radius:.5em}\
     h1{font-size:1.5em;margin:0 0 .75em}\
     label{display:block;margin:.75em 0 .25em;font-weight:600}\
     input{display:block;box-sizing:border-box;width:100%;padding:.5em;font:inherit;\
     border:1px solid #767676;border-radius:.25em}\
     input[aria-invalid=true]{border-color:#b00020}\
     button{margin-top:1.25em;padding:.5em 1.25em;font:inherit;color:#fff;\
     background:#1a5fb4;border:0;border-radius:.25em;cursor:pointer}\
     :focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}\
     .error{color:#b00020;background:#fdecee;border-left:4px solid #b00020;padding:.5em .75em}\
     textarea{width:100%;box-sizing:border-box;font-family:monospace}";

/// A whole HTML page with the shared style.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title>\
         <style>{STYLE}</style></head><body>{body}</body></html>"
    )
}

/// Escapes text for HTML content and double-quoted attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_login_field_has_a_label_and_an_error_is_announced_and_tied_to_them() {
        let plain = login(&LoginPage::default(), &LocalTarget::root(), None);
        for id in ["j_username", "j_password"] {
            assert!(plain.contains(&format!("<label for=\"{id}\">")), "{plain}");
            assert!(
                plain.contains(&format!("<input id=\"{id}\" name=\"{id}\"")),
                "{plain}"
            );
        }
        assert!(!plain.contains("role=\"alert\"") && !plain.contains("aria-invalid=\"true\""));
        assert!(plain.contains("autofocus"), "focus starts in the form");

        let failed = login(
            &LoginPage::default(),
            &LocalTarget::root(),
            Some("Wrong <user>"),
        );
        assert!(failed.contains(
            "<p class=\"error\" id=\"login-error\" role=\"alert\">Wrong &lt;user&gt;</p>"
        ));
        assert_eq!(
            failed.matches("aria-describedby=\"login-error\"").count(),
            2
        );
        assert_eq!(failed.matches("aria-invalid=\"true\"").count(), 2);
        assert!(!failed.contains("<script"), "works without JavaScript");
    }

    #[test]
    fn single_sign_on_is_offered_with_the_resource_and_the_form_can_go() {
        let offer = LoginPage {
            sso: Some("idp.example.com".into()),
            password: true,
        };
        let both = login(&offer, &LocalTarget::judge(Some("/a?b=c")), None);
        assert!(
            both.contains(
                "href=\"/sso/login?resource=%2Fa%3Fb%3Dc\">Sign in with idp.example.com</a>"
            ),
            "{both}"
        );
        assert!(both.contains("j_password"));
        let only = login(
            &LoginPage {
                password: false,
                ..offer
            },
            &LocalTarget::root(),
            None,
        );
        assert!(
            only.contains("Sign in with") && !only.contains("j_password"),
            "{only}"
        );
        let refused = sso_refused("No <way>", "/sso/login?resource=%2F");
        assert!(
            refused.contains("No &lt;way&gt;")
                && refused.contains("href=\"/sso/login?resource=%2F\">Try again")
        );
    }
}
