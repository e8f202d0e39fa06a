//! The HTML pages: the login form, the signed-in greeting with a logout
//! button, and the developer page. Plain forms, no script, so they work behind any proxy.

use super::redirect::LocalTarget;

/// The login page; `resource` is where to go after logging in.
pub fn login(resource: &LocalTarget, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    page(
        "Sign in",
        &format!(
            "<h1>Sign in</h1>{error}\
             <form method=\"post\" action=\"/j_security_check\">\
             <label>User <input name=\"j_username\" autocomplete=\"username\" required autofocus></label>\
             <label>Password <input name=\"j_password\" type=\"password\" autocomplete=\"current-password\" required></label>\
             <input type=\"hidden\" name=\"resource\" value=\"{}\">\
             <button type=\"submit\">Sign in</button></form>",
            escape(resource.as_str())
        ),
    )
}

/// The page for a signed-in user.
pub fn signed_in(subject: &str, instance: &str) -> String {
    page(
        "Signed in",
        &format!(
            "<h1>Signed in as {}</h1><p>Served by instance {}.</p>\
             <form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form>",
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
                 <textarea id=\"token\" readonly rows=\"6\">{}</textarea>",
                humantime::format_duration(lifetime),
                escape(token)
            )
        })
        .unwrap_or_default();
    page(
        "Developer",
        &format!(
            "<h1>Local development token</h1><p>Signed in as {}.</p>\
             <form method=\"post\" action=\"/developer/token\">\
             <button type=\"submit\" id=\"get-token\">Get local development token</button></form>{shown}",
            escape(subject)
        ),
    )
}

/// The pages' only style, inline. The Content-Security-Policy allows it by
/// its hash (`guard::content_security_policy`), so a page with any other
/// inline style or script is not rendered as written: new pages use
/// [`page`].
pub const STYLE: &str = "body{font-family:sans-serif;max-width:22em;margin:4em auto}\
     label{display:block;margin:.5em 0}input{display:block;width:100%}\
     .error{color:#b00}textarea{width:100%;font-family:monospace}";

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
