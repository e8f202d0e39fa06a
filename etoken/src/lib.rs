//! The client side of `etoken`'s service credentials, for Rust backends:
//! read the credentials document an operator hands over
//! ([`credentials`]), sign the short-lived JWT assertion it proves itself
//! with and check one ([`assertion`]), naming the farm by its public URL
//! ([`public_url`]). `etoken service token` and `etoken serve` use exactly
//! this code.
#![forbid(unsafe_code)]

pub mod assertion;
pub mod certificate;
pub mod credentials;
pub mod public_url;

/// Client-supplied text for a log line or a message: at most 64
/// characters, control characters escaped.
///
/// ```
/// assert_eq!(etoken::truncated("a\nb"), "a\\nb");
/// assert_eq!(etoken::truncated(&"x".repeat(100)).chars().count(), 65);
/// ```
pub fn truncated(text: &str) -> String {
    const MAX: usize = 64;
    let mut out: String = text
        .chars()
        .take(MAX)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

/// [`truncated`] in double quotes, as a log line names client text.
///
/// ```
/// assert_eq!(etoken::quoted("alice"), "\"alice\"");
/// assert!(etoken::quoted(&"x".repeat(5000)).len() < 80);
/// ```
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", truncated(text))
}
