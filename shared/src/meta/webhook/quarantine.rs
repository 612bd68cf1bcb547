//! What a quarantined body keeps: the entries of configured Pages as received; of a Page
//! that is not configured, no message text (its entry is replaced by its id, its time and
//! a note).

use serde_json::{json, Value};

use crate::meta::json as meta_json;

/// Keys whose values carry what a customer or an agent wrote (or sent).
const TEXT_KEYS: [&str; 5] = [
    "\"text\"",
    "\"title\"",
    "\"payload\"",
    "\"attachments\"",
    "\"quick_reply\"",
];

/// The bytes of `body` a quarantine keeps (before truncation). A JSON body keeps the
/// entries of configured Pages as received (the whole body unchanged when every entry is
/// one of them) and a note in place of any other entry. A body that is not a JSON object
/// cannot be read Page by Page: it is kept only when it carries no text-bearing field,
/// or when it names a configured Page.
pub fn kept_body(pages: &[&str], body: &[u8]) -> Vec<u8> {
    let configured = |id: &Value| meta_json::id(id).is_some_and(|id| pages.contains(&id.as_str()));
    let Ok(Value::Object(mut envelope)) = serde_json::from_slice::<Value>(body) else {
        return kept_unreadable(pages, body);
    };
    let Some(entries) = envelope.get_mut("entry") else {
        return body.to_vec();
    };
    let Value::Array(entries) = entries else {
        *entries = json!("not kept: entry is not a list");
        return serde_json::to_vec(&envelope).unwrap_or_default();
    };
    let mut redacted = false;
    for entry in entries.iter_mut() {
        if entry.get("id").is_some_and(configured) {
            continue;
        }
        redacted = true;
        *entry = json!({
            "id": entry.get("id").cloned().unwrap_or(Value::Null),
            "time": entry.get("time").cloned().unwrap_or(Value::Null),
            "not_kept": "the events of a Page that is not configured",
        });
    }
    if !redacted {
        return body.to_vec();
    }
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// A body that is not a JSON object: kept when it names a configured Page (as an id) or
/// carries no text-bearing field; else nothing of it (its length and SHA-256 remain).
fn kept_unreadable(pages: &[&str], body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let names_ours = pages.iter().any(|page| {
        compact.contains(&format!("\"id\":\"{page}\""))
            || compact.contains(&format!("\"id\":{page},"))
            || compact.contains(&format!("\"id\":{page}}}"))
    });
    let carries_text = TEXT_KEYS.iter().any(|key| text.contains(key));
    if names_ours || !carries_text {
        body.to_vec()
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_configured_pages_keep_their_events() {
        let config = ["111"];
        let ours = br#"{"object":"page","entry":[{"id":"111","time":1,"messaging":[{"message":{"text":"hi"}}]}]}"#;
        assert_eq!(kept_body(&config, ours), ours.to_vec(), "kept as received");
        let mixed = br#"{"object":"page","entry":[{"id":"111","messaging":[]},{"id":"999","time":2,"messaging":[{"message":{"text":"secret"}}]}]}"#;
        let kept = String::from_utf8(kept_body(&config, mixed)).unwrap();
        assert!(
            !kept.contains("secret") && kept.contains("999") && kept.contains("111"),
            "{kept}"
        );
        let cut =
            br#"{"object":"page","entry":[{"id":"999","messaging":[{"message":{"text":"secret"#;
        assert!(kept_body(&config, cut).is_empty());
        let cut_ours =
            br#"{"object":"page","entry":[{"id":"111","messaging":[{"message":{"text":"hi"#;
        assert_eq!(kept_body(&config, cut_ours), cut_ours.to_vec());
        let garbage = br#"{"object":"page","entry":[{"messaging":["#;
        assert_eq!(
            kept_body(&config, garbage),
            garbage.to_vec(),
            "no text in it"
        );
        assert!(kept_body(&config, br#"["secret", {"text": "x"}]"#).is_empty());
    }
}
