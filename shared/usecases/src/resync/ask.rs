//! Who is asked: Meta shows a thread's owner only to some apps, so the question goes to the
//! recorded owner (when it is ours), the Page's bot, its inbox, then any other app with a
//! token for the Page.

use std::collections::HashSet;

use super::batch::Pacer;
use super::{Resync, ResyncError};
use crate::config::{CoordinatorConfig, PagePolicy};
use crate::ports::{GraphError, ThreadOwner};
use routing_domain::Owner;

impl Resync {
    /// Ask `thread_owner` as an app Meta answers: the recorded owner (when it is ours),
    /// the Page's bot, its inbox, then any other app with a token for the Page. An app Meta
    /// will not show the owner to (2018234), or that has no role (2018171) or a dead token,
    /// passes the question on; so does an answer that says the thread is owned without
    /// naming the owner (Meta names it only to the owner and the Page's default app): when
    /// no app names it, that answer is returned. Returns the answer and the app that got it.
    pub(super) async fn ask(
        &self,
        page: &PagePolicy,
        psid: &str,
        recorded: &Owner,
        mut pacer: Option<&mut Pacer>,
        graph_calls: &mut u32,
    ) -> Result<(Option<ThreadOwner>, String), ResyncError> {
        let config = self.records.config();
        let mut refused = None;
        // An answer that says the thread is owned but not by whom: another app may name it.
        let mut unnamed: Option<(ThreadOwner, String)> = None;
        for app_id in apps_to_ask(page, recorded, config) {
            let Some((app, token)) = config.app_with_token(app_id, &page.id) else {
                continue;
            };
            if let Some(pacer) = pacer.as_deref_mut() {
                if !pacer.slot().await {
                    return Err(ResyncError::OutOfTime);
                }
            }
            *graph_calls += 1;
            match self.graph.thread_owner(token, &page.id, psid).await {
                Ok(Some(answer)) if answer.app_id.is_none() => {
                    tracing::info!(page_id = %page.id, app_id, "Meta did not name the owner to this app; asking another");
                    unnamed.get_or_insert((answer, app.id.clone()));
                }
                Ok(answer) => return Ok((answer, app.id.clone())),
                Err(
                    err @ (GraphError::OwnerHidden | GraphError::NoRole | GraphError::TokenInvalid),
                ) => {
                    tracing::info!(page_id = %page.id, app_id, error = err.kind(), "Meta did not show the owner to this app; asking another");
                    refused = Some(err);
                }
                Err(error) => {
                    return Err(ResyncError::Graph {
                        error,
                        owner: recorded.clone(),
                    })
                }
            }
        }
        if let Some((answer, asked_as)) = unnamed {
            // Owned by an app none of ours may name, until the expiration Meta gave.
            return Ok((Some(answer), asked_as));
        }
        Err(match refused {
            Some(error) => ResyncError::Graph {
                error,
                owner: recorded.clone(),
            },
            None => ResyncError::NoAppToAsk(page.id.clone()),
        })
    }
}

/// The apps to ask, each once: the recorded owner, the Page's bot, its inbox, then any
/// other of ours.
fn apps_to_ask<'a>(
    page: &'a PagePolicy,
    recorded: &'a Owner,
    config: &'a CoordinatorConfig,
) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    recorded
        .app_id
        .iter()
        .map(String::as_str)
        .chain([page.bot_app_id.as_str(), page.inbox_app_id.as_str()])
        .chain(config.apps.iter().map(|a| a.id.as_str()))
        .filter(|id| seen.insert(*id))
        .collect()
}
