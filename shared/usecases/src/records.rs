//! The load–decide–write kernel every service uses: read a conversation's record, decide
//! on it, write conditionally on the version read; on a version conflict wait a little
//! (backoff with jitter), read again and decide again.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::backoff::Backoff;
use crate::config::{
    CoordinatorConfig, PagePolicy, DEFAULT_IDLE_EXPIRY_DAYS, DEFAULT_TIMELINE_RETENTION_DAYS,
};
use crate::ports::{ConversationWrite, LeaseChange, Store, StoreError, WriteOutcome};
use routing_domain::transition::Transition;
use routing_domain::{note_write, Clock, Conversation, EpochMillis};

/// Attempts at one decision when other writers keep changing the record.
pub const MAX_ATTEMPTS: u32 = 12;
/// The waits between attempts: 2–4 ms at first, at most 128–256 ms.
const CONFLICT_BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(4),
    max: Duration::from_millis(256),
};

/// Why a load–decide–write did not finish.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the conversation kept changing; gave up after {MAX_ATTEMPTS} attempts")]
    Contention,
}

/// What one load–decide–write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Committed {
    /// The record as written.
    Written(Conversation),
    /// The write's applied-event key existed: applied before, nothing written.
    Duplicate,
    /// The decision was to write nothing; the record as read (`None`: not stored).
    Unchanged(Option<Conversation>),
}

/// The conversation records: configuration, store and clock, shared by every service.
#[derive(Clone)]
pub struct Records {
    config: Arc<CoordinatorConfig>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
}

impl Records {
    pub fn new(
        config: Arc<CoordinatorConfig>,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Records {
            config,
            store,
            clock,
        }
    }

    pub fn config(&self) -> &Arc<CoordinatorConfig> {
        &self.config
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn now(&self) -> EpochMillis {
        self.clock.now_millis()
    }

    /// The record, read strongly consistently.
    pub async fn load(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Conversation>, RecordError> {
        Ok(self.store.conversation(page_id, psid).await?)
    }

    /// The kernel: read (the first time, `first` instead when given), decide the write,
    /// write it conditionally; on a version conflict back off, read and decide again.
    pub async fn commit<F>(
        &self,
        page_id: &str,
        psid: &str,
        mut first: Option<Conversation>,
        mut decide: F,
    ) -> Result<Committed, RecordError>
    where
        F: FnMut(Option<&Conversation>, EpochMillis) -> Option<ConversationWrite> + Send,
    {
        // The token of the previous attempt, when its outcome is not known for sure.
        let mut attempted: Option<String> = None;
        for attempt in 1..=MAX_ATTEMPTS {
            let now = self.now();
            let current = match first.take() {
                Some(known) => Some(known),
                None => self.store.conversation(page_id, psid).await?,
            };
            if let Some(ours) = current.as_ref().filter(|c| is_ours(c, &attempted)) {
                return Ok(Committed::Written(ours.clone()));
            }
            let Some(write) = decide(current.as_ref(), now) else {
                return Ok(Committed::Unchanged(current));
            };
            let write = self.noted(current.as_ref(), write).stamped(write_token());
            let state = write.state.clone();
            match self.store.write(write).await {
                Ok(WriteOutcome::Written) => return Ok(Committed::Written(state)),
                Ok(WriteOutcome::Duplicate) => {
                    return self.duplicate_or_ours(page_id, psid, state).await
                }
                Err(StoreError::VersionConflict) => {
                    // Another writer, or our own write committed and its answer was lost
                    // (the SDK's retry then fails its own condition): the next read tells.
                    tracing::debug!(attempt, "version conflict; reading again");
                    attempted = state.write_token;
                    tokio::time::sleep(CONFLICT_BACKOFF.jittered(attempt)).await;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(RecordError::Contention)
    }

    /// `write` with what every write notes (the newest change of control, the unclaimed
    /// timer: `domain::note_write`; when the record expires without activity; whether its
    /// events may name people; its alias), its lease item following the record's wake-up.
    fn noted(
        &self,
        before: Option<&Conversation>,
        mut write: ConversationWrite,
    ) -> ConversationWrite {
        let page = self.config.page(&write.state.page_id);
        let policy = page.map(PagePolicy::handover_policy).unwrap_or_default();
        note_write(before, &mut write.state, &write.timeline, &policy);
        let state = &mut write.state;
        state.note_expiry(page.map_or(DEFAULT_IDLE_EXPIRY_DAYS as i64 * 86_400, |p| {
            p.idle_expiry_secs()
        }));
        state.events_identify_people = page.is_some_and(|p| p.events_identify_people);
        state.alias.get_or_insert_with(conversation_alias);
        write.lease = lease_of(before, &write.state, write.lease);
        write
    }

    /// A write refused as a duplicate: applied before, unless the record was stored by this
    /// very write (its first attempt committed, the answer was lost, the retry found its own
    /// applied-event key).
    async fn duplicate_or_ours(
        &self,
        page_id: &str,
        psid: &str,
        state: Conversation,
    ) -> Result<Committed, RecordError> {
        let stored = self.store.conversation(page_id, psid).await?;
        if stored.is_some_and(|s| is_ours(&s, &state.write_token)) {
            return Ok(Committed::Written(state));
        }
        Ok(Committed::Duplicate)
    }

    /// Read, decide a transition, write; a conversation never stored is decided on as new
    /// (version 0). The record as it is afterwards.
    pub async fn update<F>(
        &self,
        page_id: &str,
        psid: &str,
        decide: F,
    ) -> Result<Conversation, RecordError>
    where
        F: FnMut(&Conversation) -> Option<Transition> + Send,
    {
        self.update_from(page_id, psid, None, decide).await
    }

    /// [`Records::update`], deciding the first time on `first` (a record read or written
    /// earlier) instead of reading it again: the write is conditional on its version, so a
    /// record that changed since is read and decided again like any conflict. A `None`
    /// decision on `first` itself returns `first` unchecked: hand in a record on which
    /// `decide` writes (the timed reset's own claim), or one whose staleness is harmless.
    pub async fn update_from<F>(
        &self,
        page_id: &str,
        psid: &str,
        first: Option<Conversation>,
        mut decide: F,
    ) -> Result<Conversation, RecordError>
    where
        F: FnMut(&Conversation) -> Option<Transition> + Send,
    {
        let retention = self.retention_secs(page_id);
        let committed = self
            .commit(page_id, psid, first, |current, now| {
                let fresh;
                let record = match current {
                    Some(record) => record,
                    None => {
                        fresh = Conversation::new(page_id, psid, now);
                        &fresh
                    }
                };
                let transition = decide(record)?;
                Some(write_of(transition, current, retention, now))
            })
            .await?;
        Ok(match committed {
            Committed::Written(record) | Committed::Unchanged(Some(record)) => record,
            Committed::Unchanged(None) | Committed::Duplicate => {
                Conversation::new(page_id, psid, self.now())
            }
        })
    }

    /// Flag a stored conversation `needs_resync` (the scheduled batch finds it through the
    /// `resync` index); the record as it is afterwards.
    pub async fn flag_for_resync(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Conversation, RecordError> {
        self.update(page_id, psid, |current| {
            if current.needs_resync || current.version == 0 {
                return None;
            }
            let mut next = Transition::successor(current);
            next.state.needs_resync = true;
            Some(next)
        })
        .await
    }

    /// How long a Page's timeline entries are kept; a Page no longer configured (a re-sync
    /// moving its flag) keeps the default.
    pub fn retention_secs(&self, page_id: &str) -> i64 {
        self.config.page(page_id).map_or(
            DEFAULT_TIMELINE_RETENTION_DAYS as i64 * 86_400,
            PagePolicy::timeline_retention_secs,
        )
    }
}

/// The store write of `transition`, decided on `before` (`None`: nothing stored yet), its
/// timeline entries kept `timeline_retention_secs` from `now`. The lease item follows the
/// record's lease; taking or dropping a timed reset's claim rewrites it as it is, so a
/// lease TTL deleted meanwhile is back in the `leases` index and the sweep finds it again
/// if that reset never finishes (a crash, a timeout, a Graph outage).
pub fn write_of(
    transition: Transition,
    before: Option<&Conversation>,
    timeline_retention_secs: i64,
    now: EpochMillis,
) -> ConversationWrite {
    let before_lease = before.and_then(|c| c.control_expires_at);
    let claim_changed =
        transition.state.reset_claimed_at != before.and_then(|c| c.reset_claimed_at);
    let lease = match transition.state.control_expires_at {
        Some(due) if claim_changed => LeaseChange::Set { due },
        after => LeaseChange::between(before_lease, after),
    };
    ConversationWrite {
        expected_version: transition.expected_version,
        lease,
        state: transition.state,
        timeline: transition.timeline,
        applied_key: None,
        more_applied_keys: Vec::new(),
        timeline_expires_at: now / 1000 + timeline_retention_secs,
        applied_keys_expire_at: 0,
    }
}

/// The lease item change that takes the record from `before` to `after`, given the change
/// the write decided (`Set` when a timed reset's claim is taken or dropped): the item is
/// rewritten whenever the reset's deadline (its TTL) or the wake-up (its index sort key,
/// `Conversation::lease_wake`) moves.
fn lease_of(
    before: Option<&Conversation>,
    after: &Conversation,
    decided: LeaseChange,
) -> LeaseChange {
    let timer = |c: &Conversation| (c.control_expires_at, c.lease_wake());
    match after.lease_wake() {
        Some(due) if matches!(decided, LeaseChange::Set { .. }) => LeaseChange::Set { due },
        Some(due) if before.map(timer) != Some(timer(after)) => LeaseChange::Set { due },
        Some(_) => LeaseChange::Unchanged,
        None if decided == LeaseChange::Remove => LeaseChange::Remove,
        None if before.and_then(Conversation::lease_wake).is_some() => LeaseChange::Remove,
        None => LeaseChange::Unchanged,
    }
}

/// The stored record was written by the write stamped `token`.
fn is_ours(stored: &Conversation, token: &Option<String>) -> bool {
    token.is_some() && stored.write_token == *token
}

static CHANGE_SEQ: AtomicU64 = AtomicU64::new(0);

/// This container's random identity (64 bits from std's randomly keyed SipHash, whose keys
/// come from the OS's random source), so that two containers never make the same key.
fn container_id() -> u64 {
    static ID: OnceLock<u64> = OnceLock::new();
    *ID.get_or_init(|| RandomState::new().hash_one(std::process::id()))
}

static WRITE_SEQ: AtomicU64 = AtomicU64::new(0);

/// A token no other write carries (36 characters): this container's identity and a counter.
fn write_token() -> String {
    format!(
        "{:016x}{:020}",
        container_id(),
        WRITE_SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

static ALIAS_SEQ: AtomicU64 = AtomicU64::new(0);

/// A new conversation's alias for events: 128 bits from std's randomly keyed SipHash (keys
/// from the OS's random source), unrelated to the psid, so events that must not name the
/// customer still let consumers tell conversations apart.
fn conversation_alias() -> String {
    let seq = ALIAS_SEQ.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:016x}{:016x}",
        RandomState::new().hash_one((seq, 0_u8)),
        RandomState::new().hash_one((seq, 1_u8))
    )
}

/// The unique key of a change the coordinator makes itself (an API call, a trigger, a
/// timed reset, a re-sync): its timeline entry's key and its ordering tie-break. Unique
/// across containers (their random identity) and within one (a counter, which also orders
/// one container's changes of one millisecond).
pub fn change_key(kind: &str, now: EpochMillis) -> String {
    format!(
        "api:{kind}:{now}:{:010}:{:016x}",
        CHANGE_SEQ.fetch_add(1, Ordering::Relaxed),
        container_id()
    )
}
