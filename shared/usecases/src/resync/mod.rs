//! The re-sync (docs/architecture.md, "Re-sync"): ask Meta who holds a thread (`GET
//! /{page_id}/thread_owner`) and correct the record.
//!
//! - On demand: [`Resync::resync`], served as `POST
//!   /pages/{page_id}/conversations/{psid}/resync`, and run inline by the control service
//!   when Meta answers "not owner".
//! - Scheduled: [`Resync::batch`] re-syncs the conversations flagged `needs_resync` (through
//!   the `resync` index) and then a rotating slice of conversations holding a lease (through
//!   the `leases` index), at a bounded rate of Graph calls, within a time budget, and backs
//!   off at the first rate-limit answer.
//!
//! Meta only shows a thread's owner to some apps (the owner itself and the Page's default
//! app; a secondary receiver asking about another one gets 100/2018234), so the question is
//! asked as the recorded owner first, then the Page's bot (usually the default app), then
//! the inbox, then any other app we hold a token for.
//!
//! Ordering: the record read before the Graph call is remembered; when a newer control
//! event (or another change of owner) lands between that read and the write, Meta's answer
//! may predate it, so it is not written: Meta is asked again (at most [`MAX_ROUNDS`] times,
//! after which the conversation stays flagged for the batch).

mod ask;
mod batch;
mod correction;

pub use batch::{
    ResyncBatchReport, ResyncLimits, ResyncPace, DEFAULT_RESYNC_LEASE_SLICE,
    DEFAULT_RESYNC_RATE_PER_SECOND, LEASE_ROTATION_SECS,
};

use std::sync::Arc;

use crate::config::PagePolicy;
use crate::ports::{GraphApi, GraphError, ThreadOwner};
use crate::records::{change_key, RecordError, Records};
use crate::triggers::Triggers;
use batch::Pacer;
use correction::Verdict;
use routing_domain::{Conversation, EpochMillis, Owner};

/// How many times one re-sync asks Meta when control events keep landing meanwhile.
pub const MAX_ROUNDS: u32 = 3;
/// The timeline event of a re-sync's change of control.
pub const RESYNC_EVENT: &str = "thread_owner";

/// What one re-sync found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResyncOutcome {
    /// The record after the re-sync.
    pub conversation: Conversation,
    /// The owner was corrected (and a timeline entry written).
    pub changed: bool,
    /// The app whose token Meta answered.
    pub asked_as: String,
    /// `thread_owner` calls made (apps Meta would not answer, and re-asks after a race,
    /// included).
    pub graph_calls: u32,
}

/// Why a re-sync did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    #[error("page {0:?} is not configured")]
    UnknownPage(String),
    #[error("no conversation with {psid} on page {page_id}")]
    UnknownConversation { page_id: String, psid: String },
    /// No app we hold a token for could ask.
    #[error("no app with a token for page {0}")]
    NoAppToAsk(String),
    /// Meta's answer (with the owner the record names).
    #[error("{error}")]
    Graph { error: GraphError, owner: Owner },
    /// Control kept changing while Meta was asked: left flagged for the batch.
    #[error("control kept changing while Meta was asked; flagged for the next re-sync batch")]
    KeptChanging,
    /// The batch's time budget leaves no room for another Graph call.
    #[error("out of time for another Graph call")]
    OutOfTime,
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// The re-sync service: built once per container.
#[derive(Clone)]
pub struct Resync {
    records: Records,
    graph: Arc<dyn GraphApi>,
    triggers: Triggers,
}

impl Resync {
    pub fn new(records: Records, graph: Arc<dyn GraphApi>) -> Self {
        let triggers = Triggers::new(records.clone(), graph.clone());
        Resync {
            records,
            graph,
            triggers,
        }
    }

    pub fn records(&self) -> &Records {
        &self.records
    }

    fn now(&self) -> EpochMillis {
        self.records.now()
    }

    /// Ask Meta who holds the thread and correct the record.
    pub async fn resync(&self, page_id: &str, psid: &str) -> Result<ResyncOutcome, ResyncError> {
        let mut graph_calls = 0;
        self.run(page_id, psid, None, None, &mut graph_calls).await
    }

    /// Meta's owner of a thread (`None`: idle), asked as the apps Meta answers (the
    /// recorded owner first); nothing is read or written in the store.
    pub async fn meta_owner(
        &self,
        page: &PagePolicy,
        psid: &str,
        recorded: &Owner,
    ) -> Result<Option<ThreadOwner>, ResyncError> {
        let mut graph_calls = 0;
        let (answer, _) = self
            .ask(page, psid, recorded, None, &mut graph_calls)
            .await?;
        Ok(answer)
    }

    /// One re-sync. `first` is a copy of the record read before (from an index), `pacer`
    /// spaces the Graph calls of a batch.
    async fn run(
        &self,
        page_id: &str,
        psid: &str,
        first: Option<Conversation>,
        mut pacer: Option<&mut Pacer>,
        graph_calls: &mut u32,
    ) -> Result<ResyncOutcome, ResyncError> {
        let page = self
            .records
            .config()
            .page(page_id)
            .ok_or_else(|| ResyncError::UnknownPage(page_id.to_string()))?;
        let mut before = match first {
            Some(record) => record,
            None => self.stored(page_id, psid).await?,
        };
        if Triggers::is_runnable(&before, self.now()) {
            before = self.finish_trigger(page_id, psid, before).await?;
        }
        for _ in 0..MAX_ROUNDS {
            let (record, verdict, asked_as) = self
                .round(page, psid, &before, pacer.as_deref_mut(), graph_calls)
                .await?;
            if verdict == Verdict::Stale {
                tracing::info!(page_id, "control changed while asking Meta; asking again");
                before = record;
                continue;
            }
            let changed = verdict == Verdict::Changed;
            if changed {
                tracing::info!(
                    page_id,
                    from = %correction::describe(&before.owner),
                    to = %correction::describe(&record.owner),
                    "re-sync corrected the owner"
                );
            }
            return Ok(ResyncOutcome {
                conversation: record,
                changed,
                asked_as,
                graph_calls: *graph_calls,
            });
        }
        // Control kept changing: leave it (or keep it) flagged for the batch.
        self.records.flag_for_resync(page_id, psid).await?;
        Err(ResyncError::KeptChanging)
    }

    /// A trigger's action no delivery executed (a failure, a dead executor): execute it
    /// before asking Meta; the record afterwards. A failure leaves it pending and flagged.
    async fn finish_trigger(
        &self,
        page_id: &str,
        psid: &str,
        before: Conversation,
    ) -> Result<Conversation, ResyncError> {
        match self.triggers.execute(page_id, psid).await {
            Ok(Some(record)) => return Ok(record),
            Ok(None) => {}
            Err(err) => {
                tracing::warn!(page_id, error = %err, "pending trigger not executed by the re-sync")
            }
        }
        Ok(self.records.load(page_id, psid).await?.unwrap_or(before))
    }

    async fn stored(&self, page_id: &str, psid: &str) -> Result<Conversation, ResyncError> {
        self.records
            .load(page_id, psid)
            .await?
            .ok_or_else(|| ResyncError::UnknownConversation {
                page_id: page_id.to_string(),
                psid: psid.to_string(),
            })
    }

    /// Ask Meta once and write its answer, unless a control event landed after `before`
    /// was read (then the verdict is `Stale` and the record is the newer one).
    async fn round(
        &self,
        page: &PagePolicy,
        psid: &str,
        before: &Conversation,
        pacer: Option<&mut Pacer>,
        graph_calls: &mut u32,
    ) -> Result<(Conversation, Verdict, String), ResyncError> {
        // The answer holds from the moment Meta is asked: a webhook event stamped later
        // than this is newer than the answer and may still change the owner.
        let at = self.now();
        let (answer, asked_as) = self
            .ask(page, psid, &before.owner, pacer, graph_calls)
            .await?;
        let meta_owner = match &answer {
            Some(ThreadOwner {
                app_id: Some(app_id),
                ..
            }) => Owner::app(app_id, page.role_of(app_id)),
            // Owned by an app none of ours may name.
            Some(ThreadOwner { app_id: None, .. }) => Owner::unknown_other(),
            None => Owner::idle(),
        };
        let meta_expires = answer.as_ref().and_then(|a| a.expires_at);
        let key = change_key("resync", at);
        let mut verdict = Verdict::Stale;
        let answer = correction::MetaAnswer {
            owner: &meta_owner,
            expires: meta_expires,
            asked_as: &asked_as,
            at,
            key: &key,
        };
        let record = self
            .records
            .update_from(&page.id, psid, Some(before.clone()), |current| {
                if current.control_marker() != before.control_marker() {
                    // A control event landed after the record was read: Meta's answer
                    // may be older than it. Never overwrite it; ask again.
                    verdict = Verdict::Stale;
                    return None;
                }
                let (next, found) = self.correct(current, page, &answer);
                verdict = found;
                next
            })
            .await?;
        Ok((record, verdict, asked_as))
    }
}
