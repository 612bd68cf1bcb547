//! An in-memory [`Store`] with DynamoDB's semantics: conditional, all-or-nothing writes,
//! index-ordered listings, opaque cursors, and DynamoDB's item and transaction limits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::RangeInclusive;
use std::sync::Mutex;

use async_trait::async_trait;

use super::keys::{
    clamp_limit, conversation_pk, decode_cursor, encode_cursor, lease_listing, lease_shard_of,
    queue_listing, queue_pk, queue_sk, resync_listing, resync_shard_of, timeline_listing,
    timeline_sk,
};
use routing_domain::{Conversation, EpochSeconds, TimelineEntry};
use routing_usecases::ports::write_budget::{check_quarantine, check_write};
use routing_usecases::ports::{
    ConversationWrite, DueLease, LeaseChange, Listing, QuarantinedBody, QueueQuery, Store,
    StoreError, TimelineOrder, WriteOutcome, LEASE_SHARDS, RESYNC_SHARDS,
};

mod idempotency;

#[derive(Default)]
struct Tables {
    conversations: HashMap<String, Conversation>,
    /// pk -> sk -> entry
    timelines: HashMap<String, BTreeMap<String, TimelineEntry>>,
    applied_keys: HashSet<(String, String)>,
    /// pk -> lease
    leases: HashMap<String, DueLease>,
    quarantine: Vec<QuarantinedBody>,
    /// (pk, key) -> idempotency record
    idempotency: HashMap<(String, String), routing_usecases::ports::KeyUse>,
}

#[derive(Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Tables>, StoreError> {
        self.tables
            .lock()
            .map_err(|_| StoreError::Backend("memory store lock poisoned".into()))
    }

    /// How many applied-event keys are stored (tests).
    pub fn applied_key_count(&self) -> usize {
        self.lock().map_or(0, |t| t.applied_keys.len())
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn conversation(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Conversation>, StoreError> {
        let tables = self.lock()?;
        Ok(tables
            .conversations
            .get(&conversation_pk(page_id, psid))
            .cloned())
    }

    async fn write(&self, write: ConversationWrite) -> Result<WriteOutcome, StoreError> {
        check_write(&write)?;
        let mut tables = self.lock()?;
        let pk = conversation_pk(&write.state.page_id, &write.state.psid);
        let keys: Vec<&String> = write.applied_keys().collect();
        if keys.iter().collect::<HashSet<_>>().len() != keys.len() {
            // DynamoDB refuses two operations on one item in a transaction.
            return Err(StoreError::Backend(
                "an applied-event key twice in one write".into(),
            ));
        }
        if keys
            .iter()
            .any(|key| tables.applied_keys.contains(&(pk.clone(), (*key).clone())))
        {
            return Ok(WriteOutcome::Duplicate);
        }
        let current = tables.conversations.get(&pk).map(|c| c.version);
        let matches = match current {
            None => write.expected_version == 0,
            Some(v) => v == write.expected_version && write.expected_version != 0,
        };
        if !matches {
            return Err(StoreError::VersionConflict);
        }
        for key in write.applied_key.into_iter().chain(write.more_applied_keys) {
            tables.applied_keys.insert((pk.clone(), key));
        }
        let timeline = tables.timelines.entry(pk.clone()).or_default();
        for entry in write.timeline {
            timeline.insert(timeline_sk(&entry), entry);
        }
        match write.lease {
            LeaseChange::Unchanged => {}
            LeaseChange::Remove => {
                tables.leases.remove(&pk);
            }
            LeaseChange::Set { due } => {
                tables.leases.insert(
                    pk.clone(),
                    DueLease {
                        page_id: write.state.page_id.clone(),
                        psid: write.state.psid.clone(),
                        due,
                    },
                );
            }
        }
        tables.conversations.insert(pk, write.state);
        Ok(WriteOutcome::Written)
    }

    async fn applied(
        &self,
        page_id: &str,
        psid: &str,
        keys: &[String],
    ) -> Result<HashSet<String>, StoreError> {
        let tables = self.lock()?;
        let pk = conversation_pk(page_id, psid);
        Ok(keys
            .iter()
            .filter(|key| tables.applied_keys.contains(&(pk.clone(), (*key).clone())))
            .cloned()
            .collect())
    }

    async fn timeline(
        &self,
        page_id: &str,
        psid: &str,
        order: TimelineOrder,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<TimelineEntry>, StoreError> {
        let listing = timeline_listing(page_id, psid);
        let after: Option<String> = cursor.map(|c| decode_cursor(&listing, c)).transpose()?;
        let tables = self.lock()?;
        let empty = BTreeMap::new();
        let entries = tables
            .timelines
            .get(&conversation_pk(page_id, psid))
            .unwrap_or(&empty);
        let ordered: Box<dyn Iterator<Item = (&String, &TimelineEntry)>> = match order {
            TimelineOrder::OldestFirst => Box::new(entries.iter()),
            TimelineOrder::NewestFirst => Box::new(entries.iter().rev()),
        };
        let remaining = ordered.filter(|(sk, _)| match (&after, order) {
            (None, _) => true,
            (Some(a), TimelineOrder::OldestFirst) => sk.as_str() > a.as_str(),
            (Some(a), TimelineOrder::NewestFirst) => sk.as_str() < a.as_str(),
        });
        paginate(&listing, remaining, limit, |(sk, e)| {
            ((*sk).clone(), (*e).clone())
        })
    }

    async fn queue(&self, query: &QueueQuery) -> Result<Listing<Conversation>, StoreError> {
        let listing = queue_listing(&query.page_id, query.role, query.unread_only);
        let after: Option<String> = query
            .cursor
            .as_deref()
            .map(|c| decode_cursor(&listing, c))
            .transpose()?;
        let tables = self.lock()?;
        let wanted = queue_pk(&query.page_id, query.role);
        let mut items: Vec<(String, &Conversation)> = tables
            .conversations
            .values()
            .filter(|c| queue_pk(&c.page_id, c.owner.role) == wanted)
            .filter(|c| !query.unread_only || c.unread)
            .map(|c| (queue_sk(c), c))
            .collect();
        items.sort_by(|a, b| b.0.cmp(&a.0));
        let remaining = items
            .into_iter()
            .filter(|(sk, _)| after.as_ref().is_none_or(|a| sk < a));
        paginate(&listing, remaining, query.limit, |(sk, c)| {
            (sk.clone(), (*c).clone())
        })
    }

    async fn due_leases(
        &self,
        shard: u32,
        due: RangeInclusive<EpochSeconds>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<DueLease>, StoreError> {
        if shard >= LEASE_SHARDS {
            return Ok(Listing::empty());
        }
        let listing = lease_listing(shard);
        let after: Option<(EpochSeconds, String)> =
            cursor.map(|c| decode_cursor(&listing, c)).transpose()?;
        let tables = self.lock()?;
        let mut found: Vec<((EpochSeconds, String), &DueLease)> = tables
            .leases
            .iter()
            .filter(|(_, l)| lease_shard_of(&l.psid) == shard && due.contains(&l.due))
            .map(|(pk, l)| ((l.due, pk.clone()), l))
            .collect();
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let remaining = found
            .into_iter()
            .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a));
        paginate(&listing, remaining, limit, |(key, l)| {
            (key.clone(), (*l).clone())
        })
    }

    async fn flagged_for_resync(
        &self,
        shard: u32,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<Conversation>, StoreError> {
        if shard >= RESYNC_SHARDS {
            return Ok(Listing::empty());
        }
        let listing = resync_listing(shard);
        let after: Option<(i64, String)> =
            cursor.map(|c| decode_cursor(&listing, c)).transpose()?;
        let tables = self.lock()?;
        let mut flagged: Vec<((i64, String), &Conversation)> = tables
            .conversations
            .iter()
            .filter(|(_, c)| c.needs_resync && resync_shard_of(&c.psid) == shard)
            .map(|(pk, c)| ((c.updated_at, pk.clone()), c))
            .collect();
        flagged.sort_by(|a, b| a.0.cmp(&b.0));
        let remaining = flagged
            .into_iter()
            .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a));
        paginate(&listing, remaining, limit, |(key, c)| {
            (key.clone(), (*c).clone())
        })
    }

    async fn quarantine(&self, body: QuarantinedBody) -> Result<(), StoreError> {
        check_quarantine(&body)?;
        self.lock()?.quarantine.push(body);
        Ok(())
    }

    async fn quarantined(&self, app_id: &str) -> Result<Vec<QuarantinedBody>, StoreError> {
        let tables = self.lock()?;
        let mut found: Vec<QuarantinedBody> = tables
            .quarantine
            .iter()
            .filter(|q| q.app_id == app_id)
            .cloned()
            .collect();
        found.sort_by_key(|q| q.received_at);
        Ok(found)
    }
}

/// Take `limit` items; the cursor is the sort key of the last one when more may follow.
fn paginate<I, S, K, T>(
    listing: &str,
    items: I,
    limit: u32,
    split: S,
) -> Result<Listing<T>, StoreError>
where
    I: Iterator,
    S: Fn(&I::Item) -> (K, T),
    K: serde::Serialize,
{
    let limit = clamp_limit(limit) as usize;
    let mut out = Vec::new();
    let mut last_key = None;
    let mut more = false;
    for item in items {
        if out.len() == limit {
            more = true;
            break;
        }
        let (key, value) = split(&item);
        out.push(value);
        last_key = Some(key);
    }
    let next_cursor = match (more, last_key) {
        (true, Some(key)) => Some(encode_cursor(listing, &key)?),
        _ => None,
    };
    Ok(Listing {
        items: out,
        next_cursor,
    })
}
