//! A parse error of the configuration document as it is shown: serde quotes the values it
//! rejects (`invalid type: string "…", expected a sequence`), so within a secret field the
//! value never appears, only what was expected; a map key under `page_tokens` that is not
//! a Page id (a token pasted as a key) is not shown either.

/// Fields whose values (and everything inside them) are secrets.
const SECRET_FIELDS: [&str; 4] = ["app_secret", "verify_token", "page_tokens", "api_tokens"];

/// The path and message of a parse error, safe to print.
pub(super) fn shown(path: &str, message: &str) -> (String, String) {
    let path = path_shown(path);
    let secret = path
        .split(['.', '['])
        .any(|segment| SECRET_FIELDS.contains(&segment));
    if !secret {
        return (path, message.to_string());
    }
    let expected = message
        .find("expected")
        .map(|at| format!(", {}", without_values(&message[at..])))
        .unwrap_or_default();
    (
        path,
        format!("invalid value (not shown: this field holds secrets){expected}"),
    )
}

/// The path with every `page_tokens` key that is not a numeric Page id hidden.
fn path_shown(path: &str) -> String {
    let mut shown = Vec::new();
    let mut after_page_tokens = false;
    for segment in path.split('.') {
        let hide = after_page_tokens && !segment.chars().all(|c| c.is_ascii_digit());
        shown.push(if hide { "<key>" } else { segment });
        after_page_tokens = segment.ends_with("page_tokens");
    }
    shown.join(".")
}

/// `expected …` as serde writes it names types and field names, but an `invalid length`
/// or a custom message could carry more: keep only text outside quotes.
fn without_values(text: &str) -> String {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(open) if c == open => quote = None,
            Some(_) => {}
            None if c == '"' => {
                quote = Some(c);
                out.push_str("\"…\"");
            }
            None => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_and_keys_are_not_shown() {
        let (path, message) = shown(
            "api_tokens",
            r#"invalid type: string "EAAG-secret", expected a sequence at line 1 column 9"#,
        );
        assert_eq!(path, "api_tokens");
        assert_eq!(
            message,
            "invalid value (not shown: this field holds secrets), expected a sequence at line 1 column 9"
        );
        let (path, _) = shown(
            "apps[0].page_tokens.EAAG-secret",
            "invalid type: integer `5`",
        );
        assert_eq!(path, "apps[0].page_tokens.<key>");
        let (path, message) = shown("pages[0].reset_action", "unknown variant `explode`");
        assert_eq!(
            (path.as_str(), message.as_str()),
            ("pages[0].reset_action", "unknown variant `explode`")
        );
    }
}
