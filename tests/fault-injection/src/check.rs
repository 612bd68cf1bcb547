//! The invariants, checked once the world is quiet: the record agrees with Meta, nothing
//! was sent twice, triggers took effect at most once and none is left pending, unread
//! follows the facts, every message Meta carried is on the timeline once, and once every
//! window has passed no lease is left behind.

use std::collections::HashMap;

use routing_domain::{Conversation, Happening, OwnerRole, TimelineEntry};
use routing_usecases::ports::{TimelineOrder, LEASE_SHARDS};
use serde_json::Value;

use crate::history::{Conv, History};
use crate::play::Ledger;
use crate::world::World;

const OUR_APPS: [&str; 2] = [
    routing_usecases::testing::BOT,
    routing_usecases::testing::INBOX,
];
/// Meta's Page Inbox app.
const PAGE_INBOX: &str = "263902037430900";

/// What Meta's side (the emulator) shows for one conversation.
struct AtMeta {
    now: i64,
    owner: Option<String>,
    last_customer_ms: Option<i64>,
    /// Messages sent in this thread (Send API and Meta's Page Inbox).
    sent: Vec<Value>,
    /// Webhook delivery attempts about this thread (with `FAULT_VERBOSE`).
    deliveries: Vec<String>,
}

async fn at_meta(world: &World, conv: Conv, sent: &[Value]) -> AtMeta {
    let thread = world
        .emulator_get(&format!("threads/{}/{}", conv.page_id(), conv.psid()))
        .await;
    AtMeta {
        now: thread["now_ms"].as_i64().unwrap_or_default(),
        owner: thread["owner_app_id"].as_str().map(str::to_string),
        last_customer_ms: thread["last_customer_message_at_ms"].as_i64(),
        sent: sent
            .iter()
            .filter(|m| m["psid"] == conv.psid() && m["page_id"] == conv.page_id())
            .cloned()
            .collect(),
        deliveries: if std::env::var_os("FAULT_VERBOSE").is_some() {
            world
                .emulator
                .deliveries()
                .into_iter()
                .filter(|d| d.psid == conv.psid() && d.page_id == conv.page_id())
                .map(|d| {
                    format!(
                        "{} #{} {} {} {} {:?} {:?} {}",
                        d.at_ms,
                        d.delivery_id,
                        d.attempt,
                        d.app_id,
                        d.kind,
                        d.status,
                        d.error,
                        d.outcome
                    )
                })
                .collect()
        } else {
            Vec::new()
        },
    }
}

async fn timeline(world: &World, conv: Conv) -> Vec<TimelineEntry> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let listing = world
            .store
            .timeline(
                conv.page_id(),
                &conv.psid(),
                TimelineOrder::OldestFirst,
                200,
                cursor.as_deref(),
            )
            .await
            .expect("timeline");
        all.extend(listing.items);
        match listing.next_cursor {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// The invariants that hold once the world is quiet (before every window has passed).
pub async fn quiet(world: &World, history: &History, ledger: &Ledger) -> Vec<String> {
    let sent = world.emulator_get("messages").await["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut violations = sent_once(&sent, ledger);
    violations.extend(no_bot_over_humans(&sent));
    for conv in &history.conversations {
        let meta = at_meta(world, *conv, &sent).await;
        let record = world
            .store
            .conversation(conv.page_id(), &conv.psid())
            .await
            .expect("record");
        let entries = timeline(world, *conv).await;
        let name = format!("{}/{}", conv.page_id(), conv.psid());
        violations.extend(same_owner(&name, record.as_ref(), &meta));
        violations.extend(triggers_once(&name, record.as_ref(), &meta, &entries));
        violations.extend(unread_follows_facts(&name, record.as_ref(), &meta));
        violations.extend(messages_on_timeline_once(&name, &meta, &entries, world, *conv).await);
    }
    violations
}

/// After every window passed and the sweep ran: no lease left, and still Meta's owner.
pub async fn expired(world: &World, history: &History) -> Vec<String> {
    let mut violations = Vec::new();
    for shard in 0..LEASE_SHARDS {
        let leases = world
            .store
            .due_leases(shard, i64::MIN..=i64::MAX, 200, None)
            .await
            .expect("leases");
        for lease in leases.items {
            violations.push(format!(
                "{}/{}: a lease (due {}) is left behind after every window passed",
                lease.page_id, lease.psid, lease.due
            ));
        }
    }
    for conv in &history.conversations {
        let meta = at_meta(world, *conv, &[]).await;
        let record = world
            .store
            .conversation(conv.page_id(), &conv.psid())
            .await
            .expect("record");
        let name = format!("{}/{}", conv.page_id(), conv.psid());
        violations.extend(same_owner(&name, record.as_ref(), &meta));
    }
    violations
}

/// Invariant 1: The recorded owner is Meta's.
fn same_owner(name: &str, record: Option<&Conversation>, meta: &AtMeta) -> Option<String> {
    // As of now: Meta idles the bot's threads 24 h after their last activity.
    let ours = record.and_then(|r| {
        let owner = r.owner_at(meta.now);
        match owner.role {
            OwnerRole::Idle => None,
            _ => Some(owner.app_id.unwrap_or_else(|| "some other app".into())),
        }
    });
    // Meta names a thread's owner only to the owner and the Page's default app: a record
    // of "some other app" agrees with an owner none of our apps may see.
    let unnamed = ours.as_deref() == Some("some other app")
        && meta
            .owner
            .as_deref()
            .is_some_and(|o| !OUR_APPS.contains(&o));
    (ours != meta.owner && !unnamed).then(|| {
        format!(
            "{name}: the record says {:?}, Meta says {:?}",
            ours, meta.owner
        )
    })
}

/// Invariant 2: No message the coordinator sent reached the customer twice.
fn sent_once(sent: &[Value], ledger: &Ledger) -> Vec<String> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for message in sent {
        if let Some(text) = message["text"].as_str() {
            *counts.entry(text).or_default() += 1;
        }
    }
    ledger
        .agent_texts
        .iter()
        .filter_map(|text| {
            let n = counts.get(text.as_str()).copied().unwrap_or(0);
            (n > 1).then(|| format!("{text:?} reached the customer {n} times"))
        })
        .collect()
}

/// Invariant 3: No message of the bot reached the customer while a human (our inbox or
/// Meta's Page Inbox) held the thread at Meta.
fn no_bot_over_humans(sent: &[Value]) -> Vec<String> {
    let humans = [routing_usecases::testing::INBOX, PAGE_INBOX];
    sent.iter()
        .filter(|m| m["app_id"] == routing_usecases::testing::BOT)
        .filter(|m| humans.iter().any(|h| m["owner_at_send"] == *h))
        .map(|m| {
            format!(
                "{}/{}: the bot's {:?} was sent while {} held the thread",
                m["page_id"], m["psid"], m["text"], m["owner_at_send"]
            )
        })
        .collect()
}

/// Invariant 4: Every trigger took effect at most once, and none is left pending.
fn triggers_once(
    name: &str,
    record: Option<&Conversation>,
    meta: &AtMeta,
    entries: &[TimelineEntry],
) -> Vec<String> {
    let mut violations = Vec::new();
    if let Some(action) = record.and_then(|r| r.pending_action.as_ref()) {
        violations.push(format!(
            "{name}: a trigger's action is left pending: {action:?}"
        ));
    }
    let asked = entries
        .iter()
        .filter(|e| matches!(&e.record, Happening::ActionRequested { source, .. } if !source.starts_with("request")))
        .count();
    let confirmations = meta
        .sent
        .iter()
        .filter(|m| {
            m["thread_control"].is_object()
                && m["metadata"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("payload:") || s.starts_with("keyword:"))
        })
        .count();
    if confirmations > asked {
        violations.push(format!(
            "{name}: {confirmations} trigger confirmations for {asked} triggers{}",
            details(meta, entries)
        ));
    }
    violations
}

/// With `FAULT_VERBOSE` set: what Meta sent in the thread and its timeline, for a
/// violation's message.
fn details(meta: &AtMeta, entries: &[TimelineEntry]) -> String {
    if std::env::var_os("FAULT_VERBOSE").is_none() {
        return String::new();
    }
    let sent: Vec<String> = meta
        .sent
        .iter()
        .map(|m| {
            format!(
                "{} {} {} {}",
                m["timestamp"], m["app_id"], m["text"], m["metadata"]
            )
        })
        .collect();
    let timeline: Vec<String> = entries
        .iter()
        .map(|e| format!("{} {} {:?}", e.at, e.key, e.record))
        .collect();
    format!(
        "\n    sent: {sent:#?}\n    timeline: {timeline:#?}\n    deliveries: {:#?}",
        meta.deliveries
    )
}

/// Invariant 5: unread only with humans; with humans, unread when the customer wrote
/// after every answer Meta carried.
fn unread_follows_facts(
    name: &str,
    record: Option<&Conversation>,
    meta: &AtMeta,
) -> Option<String> {
    let record = record?;
    let human = record.owner.role.is_human();
    if record.unread && !human {
        return Some(format!("{name}: unread while {:?} holds it", record.owner));
    }
    let answered = meta
        .sent
        .iter()
        .filter(|m| {
            m["app_id"] != routing_usecases::testing::BOT
                && m["app_id"] != crate::world::FOREIGN_BOT
        })
        .filter_map(|m| m["timestamp"].as_i64())
        .max();
    let read_marked = record.answered_at;
    let waiting = meta.last_customer_ms > answered.max(read_marked);
    (human && waiting && !record.unread)
        .then(|| format!("{name}: the customer wrote after every answer, but the record is read"))
}

/// Invariant 6: Every message Meta carried to us (delivered at least once, to any of our
/// apps) is on the timeline exactly once.
async fn messages_on_timeline_once(
    name: &str,
    meta: &AtMeta,
    entries: &[TimelineEntry],
    world: &World,
    conv: Conv,
) -> Vec<String> {
    let mut on_timeline: HashMap<String, usize> = HashMap::new();
    for entry in entries {
        if let Happening::Message { mid: Some(mid), .. } = &entry.record {
            *on_timeline.entry(mid.clone()).or_default() += 1;
        }
    }
    // A message whose every delivery Meta gave up on never reached us.
    let delivered = world.delivered_mids(conv);
    let customer = world.customer_mids(conv).await;
    let carried = meta
        .sent
        .iter()
        .filter_map(|m| m["message_id"].as_str().map(str::to_string))
        .chain(customer);
    carried
        .filter(|mid| delivered.contains(mid))
        .filter_map(|mid| {
            let n = on_timeline.get(&mid).copied().unwrap_or(0);
            (n != 1).then(|| format!("{name}: message {mid} is on the timeline {n} times"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_bot_message_sent_while_a_human_held_the_thread_is_a_violation() {
        let sent = [
            json!({"app_id": routing_usecases::testing::BOT, "owner_at_send": null, "text": "hi",
                   "page_id": "111", "psid": "7000"}),
            json!({"app_id": routing_usecases::testing::BOT, "owner_at_send": PAGE_INBOX,
                   "text": "over a human", "page_id": "111", "psid": "7000"}),
            json!({"app_id": routing_usecases::testing::INBOX, "owner_at_send": routing_usecases::testing::INBOX,
                   "text": "agent", "page_id": "111", "psid": "7000"}),
        ];
        let violations = no_bot_over_humans(&sent);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].contains("over a human"));
    }
}
