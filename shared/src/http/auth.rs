//! API-token authorization of the HTTP API: `Authorization: Bearer <token>`, compared in
//! constant time with every configured token.

use subtle::ConstantTimeEq;

use super::reply::ApiError;
use crate::config::CoordinatorConfig;

/// The bearer token check (constant time over the configured tokens).
pub fn authorize(config: &CoordinatorConfig, authorization: Option<&str>) -> Result<(), ApiError> {
    let token = authorization
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "unauthorized",
                "Authorization: Bearer <api token> is required",
            )
        })?;
    let allowed = config.api_tokens.iter().fold(false, |found, t| {
        found | bool::from(t.expose().as_bytes().ct_eq(token.as_bytes()))
    });
    if allowed {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "forbidden",
            "this API token is not allowed",
        ))
    }
}
