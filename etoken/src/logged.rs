//! Text a client sent, made fit for a log line: at most 80 characters,
//! escaped (quotes, controls, non-printing characters), with the length of
//! what was cut, so a 5,000-character user name is one short line.

/// `text` as a log line shows it.
pub fn client_text(text: &str) -> String {
    const SHOWN: usize = 80;
    match text.char_indices().nth(SHOWN) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}… ({} bytes)", &text[..cut], text.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_escaped_and_long_text_cut() {
        assert_eq!(client_text("alice"), "\"alice\"");
        assert_eq!(client_text("a\nb\"c"), "\"a\\nb\\\"c\"");
        let long = "x".repeat(5000);
        let shown = client_text(&long);
        assert!(shown.len() < 100, "{shown}");
        assert!(shown.ends_with("… (5000 bytes)"), "{shown}");
        let wide = "日".repeat(100);
        assert!(client_text(&wide).starts_with(&format!("\"{}", "日".repeat(80))));
    }
}
