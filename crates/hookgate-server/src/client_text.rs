//! Client text (a header value) escaped and cut before it reaches a log line or an answer.

/// Longest client-supplied value kept in a log line or an answer, in characters.
const MAX_CLIENT_TEXT: usize = 128;

/// `text` as it may be shown: control characters escaped (`\n`, `\u{1b}`), cut after
/// [`MAX_CLIENT_TEXT`] characters with a `…` marker.
pub(crate) fn client_text(text: &str) -> String {
    let mut shown = String::with_capacity(text.len().min(MAX_CLIENT_TEXT + 8));
    for (index, character) in text.chars().enumerate() {
        if index == MAX_CLIENT_TEXT {
            shown.push('…');
            break;
        }
        if character.is_control() {
            shown.extend(character.escape_default());
        } else {
            shown.push(character);
        }
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::client_text;

    #[test]
    fn client_text_is_escaped_and_cut() {
        assert_eq!(client_text("text/plain"), "text/plain");
        assert_eq!(client_text("a\nb\r\u{1b}[31m\u{0}"), "a\\nb\\r\\u{1b}[31m\\u{0}");
        let long = "x".repeat(60_000);
        assert_eq!(client_text(&long), format!("{}…", "x".repeat(128)));
        assert_eq!(client_text(&"é".repeat(128)), "é".repeat(128));
    }
}
