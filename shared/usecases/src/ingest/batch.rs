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
use super::{WebhookIngest, DEDUPE_RETENTION_SECS};
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
            let key = event.dedupe_key(app_id);
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
            let mut plan = Plan::default();
            let committed = records
                .commit(page_id, psid, known.take(), |current, now| {
                    let ctx = EventContext {
                        page,
                        receiving_app: app_id,
                        now,
                    };
                    let (write, decided) = fold(rest, current, &applied, &ctx, retention);
                    plan = decided;
                    write
                })
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
            let now = records.now();
            let runnable = record
                .as_ref()
                .is_some_and(|r| Triggers::is_runnable(r, now));
            let (taken, remaining) = rest.split_at(plan.taken);
            for ((index, event, _), applied) in taken.iter().zip(plan.outcomes) {
                let action_runnable = match applied {
                    // Its first delivery may have stopped before the action ran.
                    Applied::Duplicate => {
                        duplicates += 1;
                        true
                    }
                    _ => runnable,
                };
                let outcome = EventOutcome {
                    applied,
                    action_runnable,
                };
                done.push((*index, event.clone(), outcome));
            }
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
    let mut timeline: Vec<TimelineEntry> = Vec::new();
    // Where each timeline item is in `timeline` (one operation per item in a transaction).
    let mut positions: HashMap<(EpochMillis, String), usize> = HashMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    // The record and the lease; the record's own size is reserved from the bytes.
    let mut items = 2;
    let mut bytes = MAX_ITEM_BYTES;
    for (_, event, key) in events {
        if applied.contains(key) || seen.contains(key.as_str()) {
            plan.outcomes.push(Applied::Duplicate);
            plan.taken += 1;
            continue;
        }
        let current = state.as_ref().or(start);
        let Decision::Write(transition) = apply_event(current, event, key, ctx) else {
            plan.outcomes.push(Applied::Unchanged);
            plan.taken += 1;
            continue;
        };
        let Transition {
            state: next,
            timeline: entries,
            ..
        } = *transition;
        let cost_items = 1 + entries.len();
        let cost_bytes: usize = entries
            .iter()
            .map(|e| item_size_bound(e).unwrap_or(0))
            .sum();
        let full = items + cost_items > MAX_TRANSACTION_ITEMS
            || bytes + cost_bytes > MAX_TRANSACTION_BYTES;
        if full && !plan.keys.is_empty() {
            break;
        }
        items += cost_items;
        bytes += cost_bytes;
        for entry in entries {
            match positions.get(&(entry.at, entry.key.clone())) {
                Some(&at) => timeline[at] = entry,
                None => {
                    positions.insert((entry.at, entry.key.clone()), timeline.len());
                    timeline.push(entry);
                }
            }
        }
        seen.insert(key);
        plan.keys.push(key.clone());
        plan.outcomes.push(Applied::Written);
        plan.taken += 1;
        state = Some(next);
    }
    let Some(mut state) = state else {
        return (None, plan);
    };
    let expected_version = start.map_or(0, |c| c.version);
    state.version = expected_version + 1;
    let transition = Transition {
        expected_version,
        state,
        timeline,
    };
    let write = write_of(transition, start, retention, ctx.now);
    let mut keys = plan.keys.clone().into_iter();
    let write = ConversationWrite {
        dedupe_key: keys.next(),
        more_dedupe_keys: keys.collect(),
        dedupe_expires_at: ctx.now / 1000 + DEDUPE_RETENTION_SECS,
        ..write
    };
    (Some(write), plan)
}
