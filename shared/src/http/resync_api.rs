//! The re-sync route: `POST /pages/{page_id}/conversations/{psid}/resync` (bearer token
//! required, like the control API).

use super::auth::{authorize, permit};
use super::reply::{ApiError, Reply};
use super::routes::route_segments;
use super::views::ResyncView;
use routing_usecases::config::TokenScope;
use routing_usecases::resync::Resync;

pub async fn handle(
    resync: &Resync,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    _body: &[u8],
) -> Reply {
    let token = match authorize(resync.records().config(), authorization) {
        Ok(token) => token,
        Err(err) => return err.reply(),
    };
    let segments = route_segments(path, "pages").unwrap_or_default();
    match (method, segments.as_slice()) {
        ("POST", ["pages", page_id, "conversations", psid, "resync"]) => {
            if let Err(err) = permit(token, page_id, TokenScope::Act) {
                return err.reply();
            }
            match resync.resync(page_id, psid).await {
                Ok(outcome) => {
                    let now = resync.records().now();
                    Reply::json(200, &ResyncView::of(&outcome, now))
                }
                Err(err) => ApiError::from(err).reply(),
            }
        }
        (_, ["pages", _, "conversations", _, "resync"]) => {
            ApiError::method_not_allowed(format!("{method} is not allowed on {path}")).reply()
        }
        _ => ApiError::not_found(
            "unknown_route",
            format!("no route {method} {path}: expected POST /pages/{{page_id}}/conversations/{{psid}}/resync"),
        )
        .reply(),
    }
}
