//! Meta's answers: error bodies mapped to typed errors by code and subcode, transport
//! failures, and the shapes of successful answers.

use crate::meta::json as meta_json;
use routing_domain::normalise_expiry;
use routing_usecases::ports::{GraphError, SentMessage, ThreadOwner};

/// Map Meta's error body fields to a typed error.
pub fn error_of_meta(status: u16, code: i64, subcode: Option<i64>, message: &str) -> GraphError {
    match (code, subcode) {
        (_, Some(2_534_037)) | (_, Some(2_018_300)) => GraphError::NotOwner {
            code,
            subcode: subcode.unwrap_or_default(),
        },
        (_, Some(2_018_171)) | (2_018_171, _) => GraphError::NoRole,
        (_, Some(2_018_234)) => GraphError::OwnerHidden,
        (_, Some(2_018_164)) => GraphError::WrongAppId,
        (_, Some(2_018_278)) | (_, Some(2_534_022)) => GraphError::WindowClosed,
        (190, _) => GraphError::TokenInvalid,
        (4 | 17 | 32 | 613 | 80_001 | 80_006, _) => GraphError::RateLimited { code },
        (_, Some(1_545_041)) => GraphError::PersonUnavailable,
        (_, Some(2_018_321)) | (2_018_321, _) => GraphError::AutomatedFlowInControl,
        _ if status >= 500 => GraphError::Unavailable(format!("{status}: {message}")),
        _ => GraphError::Other {
            status,
            code,
            subcode,
            message: message.to_string(),
        },
    }
}

/// `(status, code, subcode)` of an error, for log fields.
pub(super) fn log_fields(err: &GraphError) -> (Option<u16>, Option<i64>, Option<i64>) {
    match err {
        GraphError::NotOwner { code, subcode } => (None, Some(*code), Some(*subcode)),
        GraphError::RateLimited { code } => (None, Some(*code), None),
        GraphError::Other {
            status,
            code,
            subcode,
            ..
        } => (Some(*status), Some(*code), *subcode),
        _ => (None, None, None),
    }
}

/// An error and its sources, one line (reqwest's own text names no URL after
/// `without_url`, and no token is ever part of a request's URL).
pub(super) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}

/// Timeouts, connection and body failures are `Unavailable` (transient); a request that
/// cannot even be built (e.g. a token that is not a valid header value) is permanent.
pub(super) fn transport_error(err: reqwest::Error) -> GraphError {
    let err = err.without_url();
    if err.is_builder() {
        return GraphError::local(0, format!("cannot build the request: {}", chain(&err)));
    }
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    GraphError::Unavailable(format!("{what}: {}", chain(&err)))
}

/// Meta's `{"error":{"message","type","code","error_subcode","fbtrace_id"}}`.
fn meta_error(status: u16, body: &serde_json::Value) -> Option<GraphError> {
    let error = body.get("error")?.as_object()?;
    let code = error.get("code").and_then(meta_json::integer).unwrap_or(0);
    let subcode = error.get("error_subcode").and_then(meta_json::integer);
    let message = error
        .get("message")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    Some(error_of_meta(status, code, subcode, message))
}

/// One HTTP answer: Meta's error body (any status) → typed error; other non-2xx →
/// `Unavailable` (5xx, 429) or `Other`; a 2xx must be JSON and not `"success": false`.
pub(super) fn interpret_answer(status: u16, body: &[u8]) -> Result<serde_json::Value, GraphError> {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if let Some(err) = parsed.as_ref().and_then(|v| meta_error(status, v)) {
        return Err(err);
    }
    if !(200..300).contains(&status) {
        return Err(if status >= 500 || status == 429 {
            GraphError::Unavailable(format!("HTTP {status} without a Graph error body"))
        } else {
            GraphError::local(status, format!("HTTP {status} without a Graph error body"))
        });
    }
    let Some(value) = parsed else {
        return Err(GraphError::local(
            status,
            "the Graph API answer is not JSON",
        ));
    };
    let refused = match &value {
        serde_json::Value::Bool(ok) => !ok,
        serde_json::Value::Object(object) => {
            matches!(object.get("success"), Some(serde_json::Value::Bool(false)))
        }
        _ => false,
    };
    if refused {
        return Err(GraphError::local(
            status,
            "the Graph API answered \"success\": false",
        ));
    }
    Ok(value)
}

/// `{"data":[{"thread_owner":{"app_id"?,"expiration"?}}]}`, or `{"data":[]}` when idle.
pub(super) fn parse_thread_owner(
    body: &serde_json::Value,
) -> Result<Option<ThreadOwner>, GraphError> {
    let unexpected = || GraphError::local(200, "unexpected thread_owner answer from the Graph API");
    let data = body
        .get("data")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(unexpected)?;
    let Some(first) = data.first() else {
        return Ok(None);
    };
    let owner = match first.get("thread_owner") {
        None => return Err(unexpected()),
        Some(serde_json::Value::Null) => return Ok(None),
        Some(owner) => owner,
    };
    // Meta names the owner only to the owner and the Page's default app; any other app
    // gets only the expiration.
    let app_id = owner.get("app_id").and_then(meta_json::id);
    let expires_at = owner
        .get("expiration")
        .and_then(meta_json::integer)
        .and_then(normalise_expiry);
    if app_id.is_none() && expires_at.is_none() {
        return Err(unexpected());
    }
    Ok(Some(ThreadOwner { app_id, expires_at }))
}

/// `{"recipient_id","message_id"}`.
pub(super) fn parse_sent_message(body: &serde_json::Value) -> Result<SentMessage, GraphError> {
    let message_id = body
        .get("message_id")
        .and_then(meta_json::id)
        .ok_or_else(|| GraphError::local(200, "the Send API answer has no message_id"))?;
    Ok(SentMessage {
        message_id,
        recipient_id: body.get("recipient_id").and_then(meta_json::id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thread_owner_answers() {
        let owned = json!({"data":[{"thread_owner":{"app_id":"123","expiration":1_700_000_000}}]});
        assert_eq!(
            parse_thread_owner(&owned).unwrap(),
            Some(ThreadOwner {
                app_id: Some("123".into()),
                expires_at: Some(1_700_000_000)
            })
        );
        let unnamed = json!({"data":[{"thread_owner":{"expiration":1_700_000_000}}]});
        assert_eq!(
            parse_thread_owner(&unnamed).unwrap(),
            Some(ThreadOwner {
                app_id: None,
                expires_at: Some(1_700_000_000)
            })
        );
        let numeric_ms =
            json!({"data":[{"thread_owner":{"app_id":123,"expiration":1_700_000_000_123_i64}}]});
        assert_eq!(
            parse_thread_owner(&numeric_ms).unwrap(),
            Some(ThreadOwner {
                app_id: Some("123".into()),
                expires_at: Some(1_700_000_000)
            })
        );
        let no_expiry = json!({"data":[{"thread_owner":{"app_id":"263902037430900"}}]});
        assert_eq!(
            parse_thread_owner(&no_expiry).unwrap(),
            Some(ThreadOwner {
                app_id: Some("263902037430900".into()),
                expires_at: None
            })
        );
        assert_eq!(parse_thread_owner(&json!({"data":[]})).unwrap(), None);
        assert!(matches!(
            parse_thread_owner(&json!({"success":true})),
            Err(GraphError::Other { .. })
        ));
        assert!(matches!(
            parse_thread_owner(&json!({"data":[{"thread_owner":{}}]})),
            Err(GraphError::Other { .. })
        ));
    }

    #[test]
    fn success_answers() {
        assert!(interpret_answer(200, br#"{"success":true}"#).is_ok());
        assert!(interpret_answer(
            200,
            br#"{"data":[{"thread_owner":{"app_id":"1","expiration":1}}]}"#
        )
        .is_ok());
        assert!(matches!(
            interpret_answer(200, br#"{"success":false}"#),
            Err(GraphError::Other { status: 200, .. })
        ));
        assert!(matches!(
            interpret_answer(200, b"false"),
            Err(GraphError::Other { .. })
        ));
        assert!(matches!(
            interpret_answer(200, b"<html>"),
            Err(GraphError::Other { .. })
        ));
    }

    #[test]
    fn error_answers() {
        let not_owner = br#"{"error":{"message":"x","type":"OAuthException","code":100,"error_subcode":2534037,"fbtrace_id":"A"}}"#;
        assert_eq!(
            interpret_answer(400, not_owner),
            Err(GraphError::NotOwner {
                code: 100,
                subcode: 2_534_037
            })
        );
        let string_codes = br#"{"error":{"message":"x","code":"613"}}"#;
        assert_eq!(
            interpret_answer(400, string_codes),
            Err(GraphError::RateLimited { code: 613 })
        );
        // Meta's business-use-case limits of a Page (Pages API, Messenger) are rate limits
        // of that Page.
        for code in [32, 613, 80_001, 80_006] {
            let err = error_of_meta(400, code, None, "too many calls");
            assert_eq!(err, GraphError::RateLimited { code });
            assert!(err.is_page_rate_limit(), "{code}");
        }
        for code in [4, 17] {
            let err = error_of_meta(400, code, None, "too many calls");
            assert!(
                !err.is_page_rate_limit(),
                "{code}: the app's or the user's limit"
            );
        }
        assert!(matches!(
            interpret_answer(502, b"Bad Gateway"),
            Err(GraphError::Unavailable(_))
        ));
        assert!(matches!(
            interpret_answer(503, br#"{"error":{"message":"down","code":2}}"#),
            Err(GraphError::Unavailable(_))
        ));
        assert!(matches!(
            interpret_answer(404, b"not found"),
            Err(GraphError::Other { status: 404, .. })
        ));
    }

    #[test]
    fn epoch_normalisation() {
        assert_eq!(normalise_expiry(1_700_000_000), Some(1_700_000_000));
        assert_eq!(normalise_expiry(1_700_000_000_999), Some(1_700_000_000));
        assert_eq!(normalise_expiry(0), None);
    }
}
