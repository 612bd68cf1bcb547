//! Serialising webhook bodies the way Meta does, and signing them.

use std::io;

use hmac::{Hmac, Mac};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::ser::Formatter;
use serde_json::Value;
use sha2::Sha256;

/// A compact JSON formatter that escapes every non-ASCII character as `\uXXXX` (lowercase
/// hex, UTF-16 surrogate pairs for characters outside the BMP) and `/` as `\/`, as Meta's
/// webhook bodies do.
#[derive(Debug, Default, Clone, Copy)]
pub struct MetaFormatter;

impl Formatter for MetaFormatter {
    fn write_string_fragment<W>(&mut self, writer: &mut W, fragment: &str) -> io::Result<()>
    where
        W: ?Sized + io::Write,
    {
        let bytes = fragment.as_bytes();
        let mut start = 0;
        for (index, ch) in fragment.char_indices() {
            if ch.is_ascii() && ch != '/' {
                continue;
            }
            writer.write_all(&bytes[start..index])?;
            if ch == '/' {
                writer.write_all(b"\\/")?;
            } else {
                let mut units = [0u16; 2];
                for unit in ch.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
            start = index + ch.len_utf8();
        }
        writer.write_all(&bytes[start..])
    }
}

/// Keys in the order Meta writes them; other keys follow in their map order.
const KEY_ORDER: &[&str] = &[
    "object",
    "entry",
    "id",
    "time",
    "messaging",
    "standby",
    "sender",
    "recipient",
    "timestamp",
    "message",
    "postback",
    "read",
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "is_echo",
    "app_id",
    "previous_owner_app_id",
    "new_owner_app_id",
    "requested_owner_app_id",
    "metadata",
    "title",
    "payload",
    "mid",
    "text",
    "quick_reply",
    "watermark",
];

fn key_rank(key: &str) -> usize {
    KEY_ORDER
        .iter()
        .position(|known| *known == key)
        .unwrap_or(KEY_ORDER.len())
}

/// Serialises a [`Value`] with object keys in Meta's order (independent of whether
/// serde_json keeps insertion order).
struct MetaOrdered<'a>(&'a Value);

impl Serialize for MetaOrdered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort_by_key(|key| key_rank(key));
                let mut out = serializer.serialize_map(Some(keys.len()))?;
                for key in keys {
                    if let Some(value) = map.get(key) {
                        out.serialize_entry(key, &MetaOrdered(value))?;
                    }
                }
                out.end()
            }
            Value::Array(items) => {
                let mut out = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    out.serialize_element(&MetaOrdered(item))?;
                }
                out.end()
            }
            other => other.serialize(serializer),
        }
    }
}

/// Serialises a JSON value as Meta would put it on the wire: compact, pure ASCII, keys in
/// Meta's order.
pub fn to_meta_json(value: &Value) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(256);
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, MetaFormatter);
    MetaOrdered(value).serialize(&mut serializer)?;
    Ok(out)
}

/// The value of `X-Hub-Signature-256` for `body`: `sha256=<lowercase hex HMAC-SHA256>`.
pub fn signature_256(app_secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this never falls back in practice.
    match Hmac::<Sha256>::new_from_slice(app_secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::from("sha256="),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_non_ascii_and_slashes() {
        let value = json!({"text": "Grüße ä / 😀 \"q\"\n", "object": "page", "n": 1});
        let bytes = to_meta_json(&value).expect("serialise");
        let text = String::from_utf8(bytes.clone()).expect("ascii");
        assert!(bytes.is_ascii());
        assert_eq!(
            text,
            r#"{"object":"page","text":"Gr\u00fc\u00dfe \u00e4 \/ \ud83d\ude00 \"q\"\n","n":1}"#
        );
        let back: Value = serde_json::from_slice(&bytes).expect("parse");
        assert_eq!(back, value);
    }

    #[test]
    fn signs_like_meta() {
        // RFC 4231 test case 2.
        let sig = signature_256("Jefe", b"what do ya want for nothing?");
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
