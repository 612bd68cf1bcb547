//! API-token authorization of the HTTP API: `Authorization: Bearer <token>`, compared in
//! constant time with every configured token; then what the token may reach (its Pages
//! and its scope).

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

use super::reply::ApiError;
use routing_usecases::config::{ApiToken, CoordinatorConfig, TokenScope};

/// The configured API token the request presents: 401 without one, 403 `forbidden` for a
/// token that is not configured. Every configured token is compared (their SHA-256
/// digests, so lengths do not show either), in constant time.
pub fn authorize<'c>(
    config: &'c CoordinatorConfig,
    authorization: Option<&str>,
) -> Result<&'c ApiToken, ApiError> {
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
    let presented = Sha256::digest(token.as_bytes());
    let mut found = u32::MAX;
    for (i, configured) in config.api_tokens.iter().enumerate() {
        let digest = Sha256::digest(configured.token.expose().as_bytes());
        let index = u32::try_from(i).unwrap_or(u32::MAX);
        found.conditional_assign(&index, digest.as_slice().ct_eq(presented.as_slice()));
    }
    usize::try_from(found)
        .ok()
        .and_then(|i| config.api_tokens.get(i))
        .ok_or_else(|| ApiError::forbidden("forbidden", "this API token is not allowed"))
}

/// The token reaches `page_id` with `scope`; else 403 `forbidden` naming the Page.
pub fn permit(token: &ApiToken, page_id: &str, scope: TokenScope) -> Result<(), ApiError> {
    if token.allows(page_id, scope) {
        return Ok(());
    }
    let what = match scope {
        TokenScope::Read => "read",
        TokenScope::Act => "act on",
    };
    Err(ApiError::forbidden(
        "forbidden",
        format!("this API token may not {what} page {page_id}"),
    ))
}
