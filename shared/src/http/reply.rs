//! Replies of the HTTP contract, independent of the Lambda event types: a status, a
//! content type and a body; errors as `{"error":{"code":"snake_case","message":"..."}}`.

use serde::Serialize;
use serde_json::json;

/// The Content-Security-Policy of every reply that is not a page: nothing may load, and
/// no page may frame it.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
                           form-action 'none'";

/// A reply, independent of the Lambda event type (the function adapts it, with
/// [`Reply::security_headers`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    /// A page's own Content-Security-Policy; `None`: [`API_CSP`].
    pub csp: Option<&'static str>,
}

impl Reply {
    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
            csp: None,
        }
    }

    /// An HTML page, under its own Content-Security-Policy.
    pub fn html(status: u16, body: impl Into<String>, csp: &'static str) -> Self {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            body: body.into(),
            csp: Some(csp),
        }
    }

    /// The headers every reply carries, pages and API answers alike: its
    /// Content-Security-Policy (never `unsafe-inline`, never framed), no framing, no
    /// content sniffing, no caching, no referrer.
    pub fn security_headers(&self) -> [(&'static str, &'static str); 5] {
        [
            ("content-security-policy", self.csp.unwrap_or(API_CSP)),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("cache-control", "no-store"),
            ("referrer-policy", "no-referrer"),
        ]
    }

    /// A JSON answer kept earlier (an idempotency key's).
    pub fn stored(status: u16, body: String) -> Self {
        Reply {
            status,
            content_type: "application/json",
            body,
            csp: None,
        }
    }

    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(body) => Reply {
                status,
                content_type: "application/json",
                body,
                csp: None,
            },
            Err(err) => ApiError::internal(format!("response could not be encoded: {err}")).reply(),
        }
    }
}

/// An error of the HTTP contract: `{"error":{"code":"snake_case","message":"..."}}`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// Extra fields inside `error` (for example the current owner with `not_owner`).
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(401, code, message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(403, code, message)
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "method_not_allowed", message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "internal_error", message)
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn reply(&self) -> Reply {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(serde_json::Value::Object(extra)), Some(obj)) =
            (&self.details, error.as_object_mut())
        {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        Reply::json(self.status, &json!({ "error": error }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_follow_the_contract() {
        let reply = ApiError::forbidden("bad_verify_token", "nope")
            .with_details(json!({"owner": {"app_id": "1"}}))
            .reply();
        assert_eq!(reply.status, 403);
        let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
        assert_eq!(body["error"]["code"], "bad_verify_token");
        assert_eq!(body["error"]["message"], "nope");
        assert_eq!(body["error"]["owner"]["app_id"], "1");
    }
}
