//! The webhook routes: `GET /webhook/{app_id}` (Meta's subscription handshake) and `POST
//! /webhook/{app_id}` (deliveries), answered through the ingest service.

use std::collections::HashMap;

use super::reply::{ApiError, Reply};
use super::routes::route_segments;
use routing_usecases::ingest::WebhookIngest;

/// Handle one request; every outcome is a reply.
pub async fn handle(
    ingest: &WebhookIngest,
    method: &str,
    path: &str,
    query: &HashMap<String, String>,
    signature: Option<&str>,
    body: &[u8],
) -> Reply {
    let app_id = match route_segments(path, "webhook").as_deref() {
        Some(["webhook", app_id]) => *app_id,
        _ => return ApiError::not_found("unknown_route", "expected /webhook/{app_id}").reply(),
    };
    match method {
        "GET" => {
            let param = |name: &str| query.get(name).map(String::as_str);
            let verified = ingest.verify_subscription(
                app_id,
                param("hub.mode"),
                param("hub.verify_token"),
                param("hub.challenge"),
            );
            match verified {
                Ok(challenge) => Reply::text(200, challenge),
                Err(err) => ApiError::from(&err).reply(),
            }
        }
        "POST" => match ingest.receive(app_id, signature, body).await {
            Ok(report) => Reply::json(200, &report),
            Err(err) => ApiError::from(&err).reply(),
        },
        other => {
            ApiError::method_not_allowed(format!("{other} is not allowed; use GET or POST")).reply()
        }
    }
}
