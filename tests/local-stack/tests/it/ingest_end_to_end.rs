//! End to end: moto + the Messenger emulator + the real webhook-ingest binary (behind the
//! Lambda Runtime API and an API Gateway front), driven through real HTTP only. After every
//! step the emulator's true owner must equal the coordinator's record.

use local_stack::{local_config_path, Stack};
use routing_domain::{Happening, OwnerRole, PAGE_INBOX_APP_ID};
use routing_usecases::ports::{Store, TimelineOrder};
use serde_json::json;

async fn stack() -> Stack {
    Stack::start_hosted(&local_config_path())
        .await
        .expect("local stack starts (run `cargo build --workspace --bins` first)")
}

async fn timeline_messages(stack: &Stack, psid: &str) -> Vec<String> {
    let page = stack
        .store
        .timeline(
            &stack.cast.page_id,
            psid,
            TimelineOrder::OldestFirst,
            200,
            None,
        )
        .await
        .expect("timeline");
    page.items
        .into_iter()
        .filter_map(|e| match e.record {
            Happening::Message { mid, .. } => Some(mid.unwrap_or_default()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ownership_follows_pass_and_take_events() {
    let s = stack().await;
    let (bot, inbox) = (s.cast.bot.clone(), s.cast.inbox.clone());
    let u = "9101";

    s.customer_says(u, "hello").await.unwrap();
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(
        r.owner.role,
        OwnerRole::Bot,
        "the idle rule gives the bot control"
    );

    s.pass(&bot, u, &inbox.id).await.unwrap();
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(r.owner.role, OwnerRole::Inbox);
    assert!(r.unread);
    assert!(
        r.control_expires_at.is_some(),
        "a lease runs while the inbox holds it"
    );

    // The bot takes the conversation back: Meta tells the inbox (the loser).
    s.take(&bot, u).await.unwrap();
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(r.owner.role, OwnerRole::Bot);
    assert_eq!(r.control_expires_at, None);
    assert!(!r.needs_resync);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_messages_keep_the_owner_and_make_the_inbox_unread() {
    let s = stack().await;
    let (bot, inbox) = (s.cast.bot.clone(), s.cast.inbox.clone());
    let u = "9102";
    s.customer_says(u, "hi").await.unwrap();
    s.pass(&bot, u, &inbox.id).await.unwrap();
    s.send_as(&inbox, u, "agent here").await.unwrap();
    let r = s.settled_record(u).await.unwrap();
    assert!(!r.unread, "the agent answered");

    // The inbox owns: the message goes to it on messaging and to the bot on standby.
    let sent = s.customer_says(u, "one more thing").await.unwrap();
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(r.owner.role, OwnerRole::Inbox);
    assert!(r.unread, "a customer message to the inbox is unread");
    assert!(!r.needs_resync);
    let mid = sent["mid"].as_str().unwrap().to_string();
    let copies = timeline_messages(&s, u)
        .await
        .into_iter()
        .filter(|m| *m == mid)
        .count();
    assert_eq!(
        copies, 1,
        "messaging and standby copies are one timeline entry"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_human_replying_in_meta_inbox_takes_control() {
    let s = stack().await;
    let u = "9103";
    s.customer_says(u, "anyone?").await.unwrap();
    s.settled_record(u).await.unwrap();
    s.control(
        "inbox/reply",
        json!({"page_id": s.cast.page_id, "psid": u, "text": "Hi, Alex from the shop here"}),
    )
    .await
    .unwrap();
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(r.owner.app_id.as_deref(), Some(PAGE_INBOX_APP_ID));
    assert_eq!(r.owner.role, OwnerRole::PageInbox);
    assert!(!r.unread, "a human answered");
    assert!(!r.needs_resync, "expected behaviour, not a contradiction");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_deliveries_are_applied_once() {
    let s = stack().await;
    let (bot, inbox) = (s.cast.bot.clone(), s.cast.inbox.clone());
    let u = "9104";
    s.control("faults/duplicate", json!({"count": 20}))
        .await
        .unwrap();
    s.customer_says(u, "first").await.unwrap();
    s.pass(&bot, u, &inbox.id).await.unwrap();
    s.send_as(&inbox, u, "agent").await.unwrap();
    let r = s.settled_record(u).await.unwrap();
    let duplicates = s
        .emulator
        .deliveries()
        .iter()
        .filter(|d| d.duplicate && d.outcome == "delivered")
        .count();
    assert!(
        duplicates >= 5,
        "the emulator delivered duplicates ({duplicates})"
    );
    assert_eq!(r.owner.role, OwnerRole::Inbox);
    let messages = timeline_messages(&s, u).await;
    assert_eq!(
        messages.len(),
        2,
        "one customer message, one agent echo: {messages:?}"
    );
    // Each distinct delivery wrote once: customer message to the bot (messaging) and the
    // inbox (standby), the pass, the agent's echo to the inbox and the bot.
    assert_eq!(r.version, 5, "duplicates wrote nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_deliveries_end_with_the_newest_owner() {
    let s = stack().await;
    let (bot, inbox) = (s.cast.bot.clone(), s.cast.inbox.clone());
    let u = "9105";
    s.customer_says(u, "hi").await.unwrap();
    s.settled_record(u).await.unwrap();
    // Hold the next two webhooks and deliver them in reverse. Both go to the inbox app
    // (the pass to it, then the bot's take from it), so they share one delivery queue,
    // and the clock moves between them so that Meta's order is known.
    s.control("faults/reverse", json!({"count": 2}))
        .await
        .unwrap();
    s.pass(&bot, u, &inbox.id).await.unwrap();
    s.control("clock/advance", json!({"seconds": 1}))
        .await
        .unwrap();
    s.take(&bot, u).await.unwrap();
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(r.owner.role, OwnerRole::Bot);
    assert!(!r.unread);
    let inbox_deliveries: Vec<String> = s
        .emulator
        .deliveries()
        .into_iter()
        .filter(|d| d.app_id == inbox.id && d.outcome == "delivered")
        .map(|d| d.kind.to_string())
        .collect();
    assert!(
        inbox_deliveries.ends_with(&[
            "take_thread_control".to_string(),
            "pass_thread_control".to_string()
        ]),
        "the take reached the inbox before the pass: {inbox_deliveries:?}"
    );
    let page = s
        .store
        .timeline(&s.cast.page_id, u, TimelineOrder::OldestFirst, 50, None)
        .await
        .unwrap();
    assert!(
        page.items
            .iter()
            .any(|e| matches!(e.record, Happening::Control { late: true, .. })),
        "the older pass is recorded as late"
    );
}
