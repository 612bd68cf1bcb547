//! The Page's reset action (`reset_action`: release, or pass to the bot): the thread
//! control that performs it, the owner it leads to, and its call at Meta. Used by the
//! API's `reset`, a message sent with `reset_after`, and the timed reset.

use crate::config::{PagePolicy, ResetAction, Secret};
use crate::ports::{GraphApi, GraphError, ThreadControl};
use routing_domain::{Owner, OwnerRole};

/// The thread control that performs the Page's reset, the owner it leads to, and the
/// event's name.
pub fn reset_move(page: &PagePolicy) -> (ThreadControl, Owner, &'static str) {
    match page.reset_action {
        ResetAction::Release => (
            ThreadControl::Release,
            Owner::idle(),
            "release_thread_control",
        ),
        ResetAction::PassToBot => (
            ThreadControl::Pass {
                app_id: page.bot_app_id.clone(),
            },
            Owner::app(&page.bot_app_id, OwnerRole::Bot),
            "pass_thread_control",
        ),
    }
}

/// The Page's reset action at Meta with `token`: the owner it leads to, the event's name,
/// and Meta's answer.
pub async fn perform_reset(
    graph: &dyn GraphApi,
    page: &PagePolicy,
    psid: &str,
    token: &Secret,
    metadata: Option<&str>,
) -> (Owner, &'static str, Result<(), GraphError>) {
    let (control, to, event) = reset_move(page);
    let answer = match control {
        ThreadControl::Release => {
            graph
                .release_thread_control(token, &page.id, psid, metadata)
                .await
        }
        ThreadControl::Pass { app_id } => {
            graph
                .pass_thread_control(token, &page.id, psid, &app_id, metadata)
                .await
        }
    };
    (to, event, answer)
}
