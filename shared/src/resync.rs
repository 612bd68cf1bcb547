//! The re-sync (DESIGN §4, "resync"): ask Meta who holds a thread (`GET
//! /{page_id}/thread_owner`) and correct the record.
//!
//! - On demand: [`Resync::resync`], served as `POST
//!   /pages/{page_id}/conversations/{psid}/resync` by [`Resync::handle`], and run inline by
//!   the control API when Meta answers "not owner".
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

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::PageConfig;
use crate::domain::{
    rfc3339_secs, Cause, Conversation, EpochMillis, EpochSeconds, Owner, OwnerRole, META_IDLE_SECS,
};
use crate::graph::{GraphError, OutageStreak, ThreadOwner, MAX_OUTAGES_IN_A_ROW};
use crate::handoff::{api_key, graph_error, ControlService, ConversationView};
use crate::http::{route_segments, ApiError, Reply};
use crate::store::{LEASE_SHARDS, MAX_PAGE_SIZE, RESYNC_SHARDS};
use crate::transition::{apply_control_change, ControlChange, Transition};

/// How many times one re-sync asks Meta when control events keep landing meanwhile.
pub const MAX_ROUNDS: u32 = 3;
/// Default of `RESYNC_RATE_PER_SECOND`: Graph calls per second of the batch.
pub const DEFAULT_RATE_PER_SECOND: u32 = 5;
/// Default of `RESYNC_LEASE_SLICE`: leased conversations checked per batch.
pub const DEFAULT_LEASE_SLICE: u32 = 50;
/// The batch moves on to the next lease shard every this many seconds.
pub const LEASE_ROTATION_SECS: i64 = 300;
/// Flagged conversations read per index query.
const FLAGGED_PAGE_SIZE: u32 = 100;
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

/// The HTTP answer: `{"owner","control_expires_at","changed"}` (DESIGN §4) and the state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResyncView {
    pub owner: Owner,
    pub control_expires_at: Option<String>,
    pub changed: bool,
    pub asked_as: String,
    pub conversation: ConversationView,
}

impl ResyncOutcome {
    pub fn view(&self, now: EpochMillis) -> ResyncView {
        ResyncView {
            owner: self.conversation.owner.clone(),
            control_expires_at: self.conversation.control_expires_at.map(rfc3339_secs),
            changed: self.changed,
            asked_as: self.asked_as.clone(),
            conversation: ConversationView::of(&self.conversation, now),
        }
    }
}

/// Limits of one batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResyncLimits {
    /// Start no Graph call after this instant (before the Lambda's own deadline).
    pub stop_at: Instant,
    /// At most this many Graph calls per second (0 is treated as 1).
    pub rate_per_second: u32,
    /// Leased conversations checked after the flagged ones (0: none).
    pub lease_slice: u32,
}

/// A limit in the environment that is not a positive integer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name} must be a positive integer, got {value:?}")]
pub struct LimitsError {
    pub name: &'static str,
    pub value: String,
}

impl ResyncLimits {
    /// `RESYNC_RATE_PER_SECOND` (default 5) and `RESYNC_LEASE_SLICE` (default 50).
    pub fn from_env(stop_at: Instant) -> Result<Self, LimitsError> {
        Self::from_lookup(stop_at, |name| std::env::var(name).ok())
    }

    /// [`ResyncLimits::from_env`] over any source of variables.
    pub fn from_lookup(
        stop_at: Instant,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LimitsError> {
        let positive = |name: &'static str, default: u32| -> Result<u32, LimitsError> {
            match lookup(name) {
                None => Ok(default),
                Some(value) => value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(LimitsError { name, value }),
            }
        };
        Ok(ResyncLimits {
            stop_at,
            rate_per_second: positive("RESYNC_RATE_PER_SECOND", DEFAULT_RATE_PER_SECOND)?,
            lease_slice: positive("RESYNC_LEASE_SLICE", DEFAULT_LEASE_SLICE)?,
        })
    }
}

/// What one batch did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ResyncBatchReport {
    /// Conversations re-synced (or attempted).
    pub examined: u64,
    /// Of those, found flagged through the `resync` index.
    pub flagged_examined: u64,
    /// Of those, taken from the lease slice.
    pub leases_examined: u64,
    /// The lease shard checked this run.
    pub lease_shard: u32,
    /// Where this run's lease slice started (a due time, epoch seconds; it wraps around to
    /// the shard's earliest lease when fewer than a slice are due after it).
    pub lease_slice_from: EpochSeconds,
    /// The record named another owner and was corrected.
    pub changed: u64,
    /// The record was right (the flag was cleared and the lease set from Meta's).
    pub unchanged: u64,
    /// Could not be re-synced now (left flagged for the next run).
    pub failed: u64,
    /// Meta answered "rate limited": the batch stopped there, the rest waits for the next run.
    pub rate_limited: bool,
    /// The time budget ran out: the rest waits for the next run.
    pub stopped_early: bool,
    /// The Graph API was unavailable for [`MAX_OUTAGES_IN_A_ROW`] re-syncs in a row: the
    /// batch stopped there, the rest waits for the next run.
    pub graph_unavailable: bool,
    /// Listing the indexes failed (storage unavailable).
    pub store_unavailable: bool,
    /// `thread_owner` calls made.
    pub graph_calls: u64,
}

/// Why a re-sync did not finish.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Meta's answer (mapped to the contract with the owner the record names).
    #[error("{error}")]
    Graph { error: GraphError, owner: Owner },
    /// The batch's time budget leaves no room for another Graph call.
    #[error("out of time for another Graph call")]
    OutOfTime,
}

impl Failure {
    fn into_api(self) -> ApiError {
        match self {
            Failure::Api(err) => err,
            Failure::Graph { error, owner } => graph_error(&error, &owner),
            Failure::OutOfTime => ApiError::new(503, "out_of_time", "out of time"),
        }
    }
}

/// One batch as it goes: its pacing, its report, and how many re-syncs in a row found the
/// Graph API unavailable.
struct BatchProgress {
    pacer: Pacer,
    report: ResyncBatchReport,
    outages: OutageStreak,
}

/// Spaces the batch's Graph calls `1 s / rate` apart.
struct Pacer {
    interval: Duration,
    next: Instant,
    stop_at: Instant,
}

impl Pacer {
    fn new(rate_per_second: u32, stop_at: Instant) -> Self {
        Pacer {
            interval: Duration::from_secs(1) / rate_per_second.max(1),
            next: Instant::now(),
            stop_at,
        }
    }

    /// Wait for the next slot; `false` when it falls after the time budget.
    async fn slot(&mut self) -> bool {
        let now = Instant::now();
        let at = self.next.max(now);
        if at >= self.stop_at {
            return false;
        }
        if at > now {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
        }
        self.next = at + self.interval;
        true
    }
}

/// What a re-sync's write decided.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// A newer control event landed since the record was read: ask again.
    Stale,
    Changed,
    Unchanged,
}

fn describe(owner: &Owner) -> String {
    match &owner.app_id {
        Some(id) => format!("{id} ({})", owner.role.as_str()),
        None => owner.role.as_str().to_string(),
    }
}

/// The re-sync service: built once per container.
#[derive(Clone)]
pub struct Resync {
    control: ControlService,
}

impl Resync {
    pub fn new(control: ControlService) -> Self {
        Resync { control }
    }

    fn now(&self) -> EpochMillis {
        self.control.clock.now_millis()
    }

    /// Ask Meta who holds the thread and correct the record.
    pub async fn resync(&self, page_id: &str, psid: &str) -> Result<ResyncOutcome, ApiError> {
        let mut graph_calls = 0;
        self.run(page_id, psid, None, None, &mut graph_calls)
            .await
            .map_err(Failure::into_api)
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
    ) -> Result<ResyncOutcome, Failure> {
        let page = self.control.page(page_id)?;
        let mut before = match first {
            Some(record) => record,
            None => self.control.load(page_id, psid).await?.ok_or_else(|| {
                ApiError::not_found(
                    "unknown_conversation",
                    format!("no conversation with {psid} on page {page_id}"),
                )
            })?,
        };
        for _ in 0..MAX_ROUNDS {
            // The answer holds from the moment Meta is asked: a webhook event stamped
            // later than this is newer than the answer and may still change the owner.
            let at = self.now();
            let (answer, asked_as) = self
                .ask(page, psid, &before.owner, pacer.as_deref_mut(), graph_calls)
                .await?;
            let meta_owner = match &answer {
                Some(ThreadOwner { app_id, .. }) => Owner::app(app_id, page.role_of(app_id)),
                None => Owner::idle(),
            };
            let meta_expires = answer.as_ref().and_then(|a| a.expires_at);
            let key = api_key("resync", at);
            let mut verdict = Verdict::Stale;
            let read_before = before.clone();
            let record = self
                .control
                .update_from(page_id, psid, Some(before.clone()), |current| {
                    if current.control_marker() != read_before.control_marker() {
                        // A control event landed after the record was read: Meta's answer
                        // may be older than it. Never overwrite it; ask again.
                        verdict = Verdict::Stale;
                        return None;
                    }
                    let (next, changed) = self.correct(
                        current,
                        page,
                        &meta_owner,
                        meta_expires,
                        &asked_as,
                        at,
                        &key,
                    );
                    verdict = if changed {
                        Verdict::Changed
                    } else {
                        Verdict::Unchanged
                    };
                    next
                })
                .await?;
            match verdict {
                Verdict::Stale => {
                    tracing::info!(page_id, "control changed while asking Meta; asking again");
                    before = record;
                }
                Verdict::Changed | Verdict::Unchanged => {
                    let changed = verdict == Verdict::Changed;
                    if changed {
                        tracing::info!(
                            page_id,
                            from = %describe(&read_before.owner),
                            to = %describe(&record.owner),
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
            }
        }
        // Control kept changing: leave it (or keep it) flagged for the batch.
        self.control.flag_for_resync(page_id, psid).await?;
        Err(Failure::Api(ApiError::new(
            503,
            "contention",
            "control kept changing while Meta was asked; flagged for the next re-sync batch",
        )))
    }

    /// The record corrected to Meta's answer; `None` when it already says so. The flag is
    /// always cleared.
    #[allow(clippy::too_many_arguments)]
    fn correct(
        &self,
        current: &Conversation,
        page: &PageConfig,
        meta_owner: &Owner,
        meta_expires: Option<EpochSeconds>,
        asked_as: &str,
        at: EpochMillis,
        key: &str,
    ) -> (Option<Transition>, bool) {
        let ours = meta_owner
            .app_id
            .as_deref()
            .is_some_and(|id| self.control.acting_app(page, id).is_ok());
        if current.owner != *meta_owner {
            let metadata = format!(
                "{} -> {} (asked as {asked_as})",
                describe(&current.owner),
                describe(meta_owner)
            );
            let mut next = apply_control_change(
                current,
                &ControlChange {
                    to: meta_owner.clone(),
                    cause: Cause::Resync,
                    actor: None,
                    event: RESYNC_EVENT,
                    metadata: Some(&metadata),
                    at,
                    key: key.to_string(),
                },
                page,
            );
            let state = &mut next.state;
            state.control_expires_at = lease(
                meta_owner.role,
                state.control_expires_at,
                meta_expires,
                ours,
                at,
                page,
            );
            // A handover to our agents that we missed: it must show in their queue.
            if meta_owner.role == OwnerRole::Inbox {
                state.unread = current.unread || !current.owner.role.is_human();
            }
            state.needs_resync = false;
            return (Some(next), true);
        }
        let expires = lease(
            current.owner.role,
            current.control_expires_at,
            meta_expires,
            ours,
            at,
            page,
        );
        if expires == current.control_expires_at && !current.needs_resync {
            return (None, false);
        }
        let mut next = Transition::successor(current);
        next.state.control_expires_at = expires;
        next.state.needs_resync = false;
        next.state.updated_at = at;
        (Some(next), false)
    }

    /// A flagged conversation whose re-sync failed for a reason that will not pass by
    /// itself (a refusal, a Page no longer configured, no app that may ask) goes to the back
    /// of its shard's `resync` index (ordered by `updated_at`): it stays flagged and is tried
    /// again, but the conversations flagged after it go first, so a few that always fail
    /// never take every run's time. Best effort: when this write fails, nothing is lost.
    async fn to_the_back(&self, page_id: &str, psid: &str) {
        let now = self.now();
        let moved = self
            .control
            .update(page_id, psid, |current| {
                if !current.needs_resync || current.version == 0 {
                    return None;
                }
                let mut next = Transition::successor(current);
                next.state.updated_at = now.max(current.updated_at);
                Some(next)
            })
            .await;
        if let Err(err) = moved {
            tracing::warn!(page_id, error = %err, "could not move a failing re-sync to the back");
        }
    }

    /// Ask `thread_owner` as an app Meta answers: the recorded owner (when it is ours),
    /// the Page's bot, its inbox, then any other app with a token for the Page. An app Meta
    /// will not show the owner to (2018234), or that has no role (2018171) or a dead token,
    /// passes the question on. Returns the answer and the app that got it.
    async fn ask(
        &self,
        page: &PageConfig,
        psid: &str,
        recorded: &Owner,
        mut pacer: Option<&mut Pacer>,
        graph_calls: &mut u32,
    ) -> Result<(Option<ThreadOwner>, String), Failure> {
        let config = &self.control.config;
        let mut seen = HashSet::new();
        let candidates = recorded
            .app_id
            .iter()
            .map(String::as_str)
            .chain([page.bot_app_id.as_str(), page.inbox_app_id.as_str()])
            .chain(config.apps.iter().map(|a| a.id.as_str()))
            .filter(|id| seen.insert(*id));
        let mut refused = None;
        for app_id in candidates {
            let Ok((app, token)) = self.control.acting_app(page, app_id) else {
                continue;
            };
            if let Some(pacer) = pacer.as_deref_mut() {
                if !pacer.slot().await {
                    return Err(Failure::OutOfTime);
                }
            }
            *graph_calls += 1;
            match self.control.graph.thread_owner(token, &page.id, psid).await {
                Ok(answer) => return Ok((answer, app.id.clone())),
                Err(
                    err @ (GraphError::OwnerHidden | GraphError::NoRole | GraphError::TokenInvalid),
                ) => {
                    tracing::info!(page_id = %page.id, app_id, error = err.kind(), "Meta did not show the owner to this app; asking another");
                    refused = Some(err);
                }
                Err(error) => {
                    return Err(Failure::Graph {
                        error,
                        owner: recorded.clone(),
                    })
                }
            }
        }
        Err(match refused {
            Some(error) => Failure::Graph {
                error,
                owner: recorded.clone(),
            },
            None => Failure::Api(ApiError::not_found(
                "unknown_app",
                format!("no app with a token for page {}", page.id),
            )),
        })
    }

    /// Re-sync the conversations flagged `needs_resync`, then a rotating slice of the
    /// conversations holding a lease, at most `limits.rate_per_second` Graph calls per
    /// second, until done, out of time, rate limited by Meta, or Meta is down (see
    /// [`MAX_OUTAGES_IN_A_ROW`]).
    pub async fn batch(&self, limits: ResyncLimits) -> ResyncBatchReport {
        let mut progress = BatchProgress {
            pacer: Pacer::new(limits.rate_per_second, limits.stop_at),
            report: ResyncBatchReport::default(),
            outages: OutageStreak::default(),
        };
        let mut done: HashSet<(String, String)> = HashSet::new();
        let store = &self.control.store;

        'shards: for shard in 0..RESYNC_SHARDS {
            let mut cursor: Option<String> = None;
            loop {
                if Instant::now() >= limits.stop_at {
                    progress.report.stopped_early = true;
                    return progress.report;
                }
                let page = match store
                    .flagged_for_resync(shard, FLAGGED_PAGE_SIZE, cursor.as_deref())
                    .await
                {
                    Ok(page) => page,
                    Err(err) => {
                        tracing::warn!(shard, error = %err, "listing flagged conversations failed");
                        progress.report.store_unavailable = true;
                        continue 'shards;
                    }
                };
                for record in page.items {
                    let id = (record.page_id.clone(), record.psid.clone());
                    if !done.insert(id) {
                        continue;
                    }
                    progress.report.flagged_examined += 1;
                    let (page_id, psid) = (record.page_id.clone(), record.psid.clone());
                    if !self.one(&page_id, &psid, Some(record), &mut progress).await {
                        return progress.report;
                    }
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }

        let now_secs = self.now().div_euclid(1000);
        let horizon = self
            .control
            .config
            .pages
            .iter()
            .map(PageConfig::reset_after)
            .fold(META_IDLE_SECS, i64::max);
        let (shard, from) = lease_slice_start(now_secs, horizon);
        progress.report.lease_shard = shard;
        progress.report.lease_slice_from = from;
        let mut remaining = limits.lease_slice;
        // From the rotating start to the last lease, then around from the first.
        for due in [
            from..=EpochSeconds::MAX,
            EpochSeconds::MIN..=from.saturating_sub(1),
        ] {
            let mut cursor: Option<String> = None;
            while remaining > 0 {
                if Instant::now() >= limits.stop_at {
                    progress.report.stopped_early = true;
                    return progress.report;
                }
                let page = match store
                    .due_leases(
                        shard,
                        due.clone(),
                        remaining.min(MAX_PAGE_SIZE),
                        cursor.as_deref(),
                    )
                    .await
                {
                    Ok(page) => page,
                    Err(err) => {
                        tracing::warn!(shard, error = %err, "listing leases failed");
                        progress.report.store_unavailable = true;
                        return progress.report;
                    }
                };
                for lease in page.items {
                    remaining = remaining.saturating_sub(1);
                    if !done.insert((lease.page_id.clone(), lease.psid.clone())) {
                        continue;
                    }
                    progress.report.leases_examined += 1;
                    if !self
                        .one(&lease.page_id, &lease.psid, None, &mut progress)
                        .await
                    {
                        return progress.report;
                    }
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        progress.report
    }

    /// One conversation of a batch; `false` when the batch must stop (out of time, or
    /// rate limited).
    async fn one(
        &self,
        page_id: &str,
        psid: &str,
        first: Option<Conversation>,
        progress: &mut BatchProgress,
    ) -> bool {
        let mut calls = 0;
        let result = self
            .run(page_id, psid, first, Some(&mut progress.pacer), &mut calls)
            .await;
        progress.report.graph_calls += u64::from(calls);
        match result {
            Ok(outcome) => {
                progress.outages.answered();
                progress.report.examined += 1;
                if outcome.changed {
                    progress.report.changed += 1;
                } else {
                    progress.report.unchanged += 1;
                }
                true
            }
            Err(Failure::OutOfTime) => {
                progress.report.stopped_early = true;
                false
            }
            Err(Failure::Graph {
                error: error @ GraphError::RateLimited { .. },
                ..
            }) => {
                progress.report.examined += 1;
                progress.report.failed += 1;
                progress.report.rate_limited = true;
                tracing::warn!(page_id, error = %error, "rate limited by Meta; the batch stops here");
                false
            }
            Err(Failure::Graph {
                error: error @ GraphError::Unavailable(_),
                ..
            }) => {
                progress.report.examined += 1;
                progress.report.failed += 1;
                progress.outages.unavailable();
                if progress.outages.is_down() {
                    progress.report.graph_unavailable = true;
                    tracing::warn!(page_id, error = %error, "the Graph API failed {MAX_OUTAGES_IN_A_ROW} re-syncs in a row; the batch stops here");
                    return false;
                }
                tracing::warn!(page_id, error = %error, "re-sync failed; left for the next run");
                true
            }
            Err(failure) => {
                progress.report.examined += 1;
                progress.report.failed += 1;
                tracing::warn!(page_id, error = %failure, "re-sync failed; left for the next run");
                self.to_the_back(page_id, psid).await;
                true
            }
        }
    }

    /// Route an HTTP request (bearer token required, like the control API).
    pub async fn handle(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        _body: &[u8],
    ) -> Reply {
        if let Err(err) = self.control.authorize(authorization) {
            return err.reply();
        }
        let segments = route_segments(path, "pages").unwrap_or_default();
        match (method, segments.as_slice()) {
            ("POST", ["pages", page_id, "conversations", psid, "resync"]) => {
                match self.resync(page_id, psid).await {
                    Ok(outcome) => Reply::json(200, &outcome.view(self.now())),
                    Err(err) => err.reply(),
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
}

/// The lease shard and the due time this run's lease slice starts from. The shard rotates
/// every [`LEASE_ROTATION_SECS`]; successive visits to one shard start at points of a Weyl
/// sequence (steps of the golden ratio) spread over the next `horizon` seconds, so a shard
/// holding more leases than a slice is covered within a few visits, whatever the leases'
/// due times, and no lease is always passed over.
fn lease_slice_start(now_secs: EpochSeconds, horizon: i64) -> (u32, EpochSeconds) {
    let rotation = now_secs.div_euclid(LEASE_ROTATION_SECS);
    let shards = i64::from(LEASE_SHARDS);
    let shard = u32::try_from(rotation.rem_euclid(shards)).unwrap_or(0);
    let visit = rotation.div_euclid(shards) as u64;
    // The fractional part of visit × φ, in units of 2⁻³².
    let fraction = visit.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
    let horizon = u64::try_from(horizon.max(1)).unwrap_or(1);
    let offset = i64::try_from((u128::from(fraction) * u128::from(horizon)) >> 32).unwrap_or(0);
    (shard, now_secs.saturating_add(offset))
}

/// The lease after a re-sync: none unless the role holds one; for an owner we act as, the
/// Page's own window (`base`) but never later than Meta's expiration (Meta idles the thread
/// then); for Meta's inbox or another app, Meta's expiration (when Meta idles it); when
/// Meta names no expiration, the Page's window.
fn lease(
    role: OwnerRole,
    base: Option<EpochSeconds>,
    meta: Option<EpochSeconds>,
    ours: bool,
    at: EpochMillis,
    page: &PageConfig,
) -> Option<EpochSeconds> {
    if !role.holds_lease() {
        return None;
    }
    let window = || at.div_euclid(1000) + page.reset_after();
    Some(match (meta, ours) {
        (Some(meta), true) => base.map_or(meta, |b| b.min(meta)),
        (Some(meta), false) => meta,
        (None, _) => base.unwrap_or_else(window),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> PageConfig {
        crate::testing::config().pages[0].clone()
    }

    #[test]
    fn limits_default_and_name_the_bad_variable() {
        let at = Instant::now();
        let none = ResyncLimits::from_lookup(at, |_| None).unwrap();
        assert_eq!((none.rate_per_second, none.lease_slice), (5, 50));
        let set = ResyncLimits::from_lookup(at, |name| {
            Some(
                if name == "RESYNC_RATE_PER_SECOND" {
                    "20"
                } else {
                    "7"
                }
                .to_string(),
            )
        })
        .unwrap();
        assert_eq!((set.rate_per_second, set.lease_slice), (20, 7));
        for bad in ["0", "-1", "fast", ""] {
            let err = ResyncLimits::from_lookup(at, |name| {
                (name == "RESYNC_LEASE_SLICE").then(|| bad.to_string())
            })
            .unwrap_err();
            assert_eq!(err.name, "RESYNC_LEASE_SLICE");
            assert!(err.to_string().contains("RESYNC_LEASE_SLICE"), "{err}");
        }
    }

    #[test]
    fn the_lease_slice_rotates_through_shards_and_through_each_shard() {
        let horizon = META_IDLE_SECS;
        let cycle = LEASE_ROTATION_SECS * i64::from(LEASE_SHARDS);
        // Any phase of the clock: the first visit of a shard may fall anywhere in the
        // sequence.
        for first in [0, 1_700_000_000, 1_800_000_123, 4_000_000_000_i64] {
            let first = first - first.rem_euclid(cycle);
            let shards: Vec<u32> = (0..i64::from(LEASE_SHARDS))
                .map(|i| lease_slice_start(first + i * LEASE_ROTATION_SECS + 7, horizon).0)
                .collect();
            assert_eq!(shards, (0..LEASE_SHARDS).collect::<Vec<_>>(), "at {first}");
            // Eight visits of shard 0 start at offsets spread over the horizon: no part of
            // it longer than a quarter is left out, so no lease is always passed over.
            let mut offsets: Vec<i64> = (0..8)
                .map(|visit| {
                    let now = first + visit * cycle;
                    let (shard, from) = lease_slice_start(now, horizon);
                    assert_eq!(shard, 0);
                    let offset = from - now;
                    assert!((0..horizon).contains(&offset), "{offset}");
                    offset
                })
                .collect();
            offsets.sort_unstable();
            let widest = offsets
                .windows(2)
                .map(|w| w[1] - w[0])
                .chain([offsets[0] + horizon - offsets[7]])
                .max()
                .unwrap();
            assert!(
                widest < horizon / 4,
                "offsets {offsets:?} leave {widest} s of {horizon} unvisited (at {first})"
            );
        }
    }

    #[test]
    fn leases_follow_meta_and_the_page_window() {
        let p = page();
        let at = 1_000_000_000_000;
        let window = at / 1000 + p.reset_after();
        // No lease with the bot or idle.
        assert_eq!(lease(OwnerRole::Bot, Some(5), Some(9), true, at, &p), None);
        assert_eq!(lease(OwnerRole::Idle, None, Some(9), false, at, &p), None);
        // Meta's inbox or another app: Meta's expiration.
        assert_eq!(
            lease(
                OwnerRole::PageInbox,
                Some(window),
                Some(window + 500),
                false,
                at,
                &p
            ),
            Some(window + 500)
        );
        // Our inbox: the Page's window, never after Meta's expiration.
        assert_eq!(
            lease(
                OwnerRole::Inbox,
                Some(window),
                Some(window + 500),
                true,
                at,
                &p
            ),
            Some(window)
        );
        assert_eq!(
            lease(
                OwnerRole::Inbox,
                Some(window),
                Some(window - 500),
                true,
                at,
                &p
            ),
            Some(window - 500)
        );
        assert_eq!(
            lease(OwnerRole::Inbox, None, Some(window + 500), true, at, &p),
            Some(window + 500)
        );
        // Meta names no expiration: the Page's window.
        assert_eq!(
            lease(OwnerRole::Other, None, None, false, at, &p),
            Some(window)
        );
    }

    #[tokio::test]
    async fn the_pacer_spaces_calls_and_respects_the_budget() {
        let stop_at = Instant::now() + Duration::from_secs(60);
        let mut pacer = Pacer::new(1000, stop_at);
        assert!(pacer.slot().await);
        let first = pacer.next;
        assert!(pacer.slot().await);
        assert_eq!(pacer.next - first, Duration::from_millis(1));
        let mut late = Pacer::new(1, Instant::now());
        assert!(!late.slot().await, "no call after the budget");
    }
}
