//! Handover keywords: whole-word, case-insensitive matching of a customer's text.

/// The first configured keyword that appears as whole words in `text` (case-insensitive).
pub fn matching_keyword<'k>(text: &str, keywords: &'k [String]) -> Option<&'k str> {
    let words = normalise_words(text);
    keywords
        .iter()
        .find(|k| {
            let k = normalise_words(k);
            !k.trim().is_empty() && words.contains(&k)
        })
        .map(String::as_str)
}

/// " word word " (lowercase, single spaces, padded) for whole-word matching.
fn normalise_words(text: &str) -> String {
    let mut out = String::from(" ");
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        out.push_str(&word.to_lowercase());
        out.push(' ');
    }
    out
}
