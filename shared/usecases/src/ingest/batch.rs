//! One conversation's events of a delivery, applied as a batch: the record and which of
//! the events' applied-event keys exist are read once (together), the events are folded in
//! order over the record in memory by the same rules, and the result is written as one
//! transaction per chunk: the record (conditional on the version read), every applied
//! event's key (each conditional on its absence), their timeline entries and the lease,
//! under DynamoDB's 100 items and 4 MB. A 1000-event delivery to one conversation is
//! about 25 transactions instead of 1000 read–write round trips (Meta retries a POST not
//! answered within 5 s).
//!
//! Exactly once: an event whose key is stored is a duplicate and is not folded; a key
//! stored meanwhile by another writer refuses the chunk (a duplicate), and the keys are
//! read again. Order: the fold takes the events oldest first, and each chunk starts from
//! the record the previous one wrote. A chunk is atomic: when one fails, the chunks before
//! it are stored with their keys and the delivery answers 500 (Meta's retry skips them).

use std::collections::{HashMap, HashSet};

use super::apply::{Applied, Done, EventOutcome, Group};
use super::{WebhookIngest, APPLIED_KEY_RETENTION_SECS};
use crate::config::PagePolicy;
use crate::ports::write_budget::{
    item_size_bound, MAX_ITEM_BYTES, MAX_TRANSACTION_BYTES, MAX_TRANSACTION_ITEMS,
};
use crate::ports::ConversationWrite;
use crate::records::{write_of, Committed, RecordError, MAX_ATTEMPTS};
use crate::triggers::Triggers;
use routing_domain::transition::{apply_event, Decision, EventContext, Transition};
use routing_domain::{Conversation, EpochMillis, TimelineEntry, WebhookEvent};

/// An event to fold: its place in the delivery, the event, its applied-event key.
type Keyed = (usize, WebhookEvent, String);

/// What one fold decided for a prefix of the events.
#[derive(Default)]
struct Plan {
    /// How many events (from the first not yet done) the fold took.
    taken: usize,
    outcomes: Vec<Applied>,
    /// The keys the write stores.
    keys: Vec<String>,
}

impl WebhookIngest {
    /// Apply one conversation's events (two or more, oldest first) as a batch.
    pub(super) async fn apply_batch(
        &self,
        app_id: &str,
        group: Group,
    ) -> (Vec<Done>, Option<RecordError>) {
        let mut done = Vec::with_capacity(group.len());
        let mut keyed: Vec<Keyed> = Vec::with_capacity(group.len());
        let mut page = None;
        for (index, event) in group {
            let skipped = |applied| EventOutcome {
                applied,
                action_runnable: false,
            };
            if !event.kind.touches_conversation() || event.psid.is_none() {
                done.push((index, event, skipped(Applied::Unchanged)));
                continue;
            }
            let Some(config) = self.records().config().page(&event.page_id) else {
                tracing::warn!(app_id, page_id = %event.page_id, "event for a page that is not configured");
                done.push((index, event, skipped(Applied::UnknownPage)));
                continue;
            };
            page = Some(config);
            let key = event.applied_key(app_id);
            keyed.push((index, event, key));
        }
        let (Some(page), Some((_, first, _))) = (page, keyed.first()) else {
            return (done, None);
        };
        let page_id = first.page_id.clone();
        let psid = first.psid.clone().unwrap_or_default();
        let failure = self
            .apply_folded(app_id, page, (&page_id, &psid), keyed, &mut done)
            .await
            .err();
        (done, failure)
    }

    async fn apply_folded(
        &self,
        app_id: &str,
        page: &PagePolicy,
        (page_id, psid): (&str, &str),
        keyed: Vec<Keyed>,
        done: &mut Vec<Done>,
    ) -> Result<(), RecordError> {
        let records = self.records();
        let store = records.store();
        let keys: Vec<String> = keyed.iter().map(|(_, _, key)| key.clone()).collect();
        let (record, applied) = futures::try_join!(records.load(page_id, psid), async {
            Ok(store.applied(page_id, psid, &keys).await?)
        })?;
        let mut applied: HashSet<String> = applied;
        let mut known = record;
        let retention = page.timeline_retention_secs();
        let mut rest = keyed.as_slice();
        let mut duplicates = 0usize;
        let mut refusals = 0;
        while !rest.is_empty() {
            let fold_of = Fold {
                app_id,
                page,
                rest,
                applied: &applied,
                retention,
            };
            let (committed, plan) = self
                .commit_fold((page_id, psid), known.take(), fold_of)
                .await?;
            let record = match committed {
                Committed::Written(record) => Some(record),
                Committed::Unchanged(record) => record,
                Committed::Duplicate => {
                    // Another writer stored some of these events meanwhile: read which.
                    refusals += 1;
                    if refusals >= MAX_ATTEMPTS {
                        return Err(RecordError::Contention);
                    }
                    applied.extend(store.applied(page_id, psid, &keys).await?);
                    continue;
                }
            };
            let runnable = record
                .as_ref()
                .is_some_and(|r| Triggers::is_runnable(r, records.now()));
            let (taken, remaining) = rest.split_at(plan.taken);
            duplicates += record_outcomes(done, taken, plan.outcomes, runnable);
            applied.extend(plan.keys);
            rest = remaining;
            known = record;
        }
        if duplicates > 0 {
            tracing::info!(app_id, duplicates, "duplicate deliveries ignored");
        }
        Ok(())
    }
}

/// One fold's inputs: the events left, the keys known applied, the Page.
struct Fold<'a> {
    app_id: &'a str,
    page: &'a PagePolicy,
    rest: &'a [Keyed],
    applied: &'a HashSet<String>,
    retention: i64,
}

impl WebhookIngest {
    /// Fold the events left over the record and write the result as one transaction.
    async fn commit_fold(
        &self,
        (page_id, psid): (&str, &str),
        known: Option<Conversation>,
        fold_of: Fold<'_>,
    ) -> Result<(Committed, Plan), RecordError> {
        let mut plan = Plan::default();
        let committed = self
            .records()
            .commit(page_id, psid, known, |current, now| {
                let ctx = EventContext {
                    page: fold_of.page,
                    receiving_app: fold_of.app_id,
                    now,
                };
                let (write, decided) = fold(
                    fold_of.rest,
                    current,
                    fold_of.applied,
                    &ctx,
                    fold_of.retention,
                );
                plan = decided;
                write
            })
            .await?;
        Ok((committed, plan))
    }
}

/// Note what became of each event taken; how many were duplicates. A duplicate's action
/// may still be runnable (its first delivery may have stopped before the action ran); the
/// others' as the record says.
fn record_outcomes(
    done: &mut Vec<Done>,
    taken: &[Keyed],
    applied: Vec<Applied>,
    runnable: bool,
) -> usize {
    let duplicates = applied.iter().filter(|a| **a == Applied::Duplicate).count();
    done.extend(
        taken
            .iter()
            .zip(applied)
            .map(|((index, event, _), applied)| {
                let action_runnable = applied == Applied::Duplicate || runnable;
                let outcome = EventOutcome {
                    applied,
                    action_runnable,
                };
                (*index, event.clone(), outcome)
            }),
    );
    duplicates
}

/// What one transaction has room for: DynamoDB's 100 items and 4 MB.
struct TransactionBudget {
    items: usize,
    bytes: usize,
}

impl TransactionBudget {
    /// The record and the lease; the record's own size is reserved from the bytes.
    fn new() -> Self {
        TransactionBudget {
            items: 2,
            bytes: MAX_ITEM_BYTES,
        }
    }

    /// Take room for `entries` and one applied-event key unless it is full; the `first`
    /// event of a transaction is always taken (a transaction holds at least one event).
    fn take(&mut self, entries: &[TimelineEntry], first: bool) -> bool {
        let items = 1 + entries.len();
        let bytes: usize = entries
            .iter()
            .map(|e| item_size_bound(e).unwrap_or(0))
            .sum();
        let full = self.items + items > MAX_TRANSACTION_ITEMS
            || self.bytes + bytes > MAX_TRANSACTION_BYTES;
        if full && !first {
            return false;
        }
        self.items += items;
        self.bytes += bytes;
        true
    }
}

/// The timeline entries of a fold, one operation per item (a later entry with the same
/// time and key replaces the earlier).
#[derive(Default)]
struct FoldedTimeline {
    entries: Vec<TimelineEntry>,
    positions: HashMap<(EpochMillis, String), usize>,
}

impl FoldedTimeline {
    fn extend(&mut self, entries: Vec<TimelineEntry>) {
        for entry in entries {
            match self.positions.get(&(entry.at, entry.key.clone())) {
                Some(&at) => self.entries[at] = entry,
                None => {
                    let position = (entry.at, entry.key.clone());
                    self.positions.insert(position, self.entries.len());
                    self.entries.push(entry);
                }
            }
        }
    }
}

/// Fold the events (oldest first) over `start` while they fit one transaction; the write,
/// if any event changes the record, and what became of each event taken.
fn fold(
    events: &[Keyed],
    start: Option<&Conversation>,
    applied: &HashSet<String>,
    ctx: &EventContext<'_>,
    retention: i64,
) -> (Option<ConversationWrite>, Plan) {
    let mut plan = Plan::default();
    let mut state: Option<Conversation> = None;
    let mut timeline = FoldedTimeline::default();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut budget = TransactionBudget::new();
    for (_, event, key) in events {
        let decision = if applied.contains(key) || seen.contains(key.as_str()) {
            Err(Applied::Duplicate)
        } else {
            match apply_event(state.as_ref().or(start), event, key, ctx) {
                Decision::Write(transition) => Ok(*transition),
                _ => Err(Applied::Unchanged),
            }
        };
        let transition = match decision {
            Err(outcome) => {
                plan.outcomes.push(outcome);
                plan.taken += 1;
                continue;
            }
            Ok(transition) => transition,
        };
        if !budget.take(&transition.timeline, plan.keys.is_empty()) {
            break;
        }
        timeline.extend(transition.timeline);
        seen.insert(key);
        plan.keys.push(key.clone());
        plan.outcomes.push(Applied::Written);
        plan.taken += 1;
        state = Some(transition.state);
    }
    let write =
        state.map(|state| write_of_fold(state, timeline.entries, start, &plan, ctx, retention));
    (write, plan)
}

/// The one write of a fold: the record at the next version, its timeline entries and lease,
/// and the applied-event keys of the events it took.
fn write_of_fold(
    mut state: Conversation,
    timeline: Vec<TimelineEntry>,
    start: Option<&Conversation>,
    plan: &Plan,
    ctx: &EventContext<'_>,
    retention: i64,
) -> ConversationWrite {
    let expected_version = start.map_or(0, |c| c.version);
    state.version = expected_version + 1;
    let transition = Transition {
        expected_version,
        state,
        timeline,
    };
    let write = write_of(transition, start, retention, ctx.now);
    let mut keys = plan.keys.clone().into_iter();
    ConversationWrite {
        applied_key: keys.next(),
        more_applied_keys: keys.collect(),
        applied_keys_expire_at: ctx.now / 1000 + APPLIED_KEY_RETENTION_SECS,
        ..write
    }
}
