//! The control API (`POST .../control`, `POST .../messages`) against both stores
//! (MemoryStore, and DynamoStore on moto), with the Graph API played by the Messenger
//! Platform emulator over real HTTP and its fault injection: ambiguous Graph failures,
//! resets decided on the owner, taking over by sending, owners Meta will not name.

use std::sync::Arc;
use std::time::Duration;

use routing_core::http::control_api::{self, ApiRequest};
use routing_core::http::resync_api;
use routing_core::meta::graph::RetryPolicy;
use routing_domain::{Cause, Owner, OwnerRole, PAGE_INBOX_APP_ID};
use routing_usecases::config::CoordinatorConfig;
use routing_usecases::idempotency::Idempotency;
use routing_usecases::ports::{KeyClaim, KeyUse, LeaseChange, Store};
use routing_usecases::testing::{config_json, API_TOKEN, BOT, INBOX, PAGE};
use serde_json::{json, Value};

use crate::support::{dynamo, emulator_config, memory, World};

/// The prefix of the moto tables' names.
const TABLES: &str = "control";
const HOUR_MS: i64 = 3600 * 1000;

/// A Graph client that gives up on an answer after 400 ms (Meta's "late answer" faults
/// answer after 10 s).
fn impatient() -> RetryPolicy {
    RetryPolicy::fast().with_timeouts(Duration::from_secs(2), Duration::from_millis(400))
}

fn config_with(edit: impl FnOnce(&mut Value)) -> Arc<CoordinatorConfig> {
    let mut doc = config_json();
    edit(&mut doc);
    Arc::new(CoordinatorConfig::from_json(&doc.to_string()).expect("valid config"))
}

async fn harness(store: Arc<dyn Store>) -> World {
    World::start_with(store, config_with(|_| {}), impatient(), emulator_config()).await
}

/// The Page resets by passing to the bot.
async fn passing_to_the_bot(store: Arc<dyn Store>) -> World {
    let config = config_with(|doc| doc["pages"][0]["reset_action"] = json!("pass_to_bot"));
    World::start_with(store, config, impatient(), emulator_config()).await
}

impl World {
    /// One request of the HTTP contract with the test's API token.
    async fn api(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.request(
            API_TOKEN,
            None,
            method,
            &format!("{PAGE}/conversations/{path}"),
            body,
        )
        .await
    }

    /// `api` with an `Idempotency-Key`.
    async fn api_once(&self, key: &str, path: &str, body: Value) -> (u16, Value) {
        self.request(
            API_TOKEN,
            Some(key),
            "POST",
            &format!("{PAGE}/conversations/{path}"),
            body,
        )
        .await
    }

    /// One request of the HTTP contract to `/pages/{path}`.
    async fn request(
        &self,
        token: &str,
        idempotency_key: Option<&str>,
        method: &str,
        path: &str,
        body: Value,
    ) -> (u16, Value) {
        let auth = format!("Bearer {token}");
        let path = format!("/pages/{path}");
        let body = body.to_string();
        let query = Default::default();
        let request = ApiRequest {
            method,
            path: &path,
            query: &query,
            authorization: Some(&auth),
            idempotency_key,
            body: body.as_bytes(),
        };
        let reply = control_api::serve(&self.control, request).await;
        let value = serde_json::from_str(&reply.body).unwrap_or(Value::Null);
        (reply.status, value)
    }

    async fn fault(&self, kind: &str, fault: Value) {
        self.emulator_post(&format!("faults/{kind}"), fault).await;
    }

    /// Meta answers the next call of `endpoint` only after the client gave up, having
    /// applied it.
    async fn late_answer(&self, endpoint: &str) {
        self.fault(
            "latency",
            json!({"endpoint": endpoint, "latency_ms": 10_000, "count": 1, "after_applying": true}),
        )
        .await;
    }

    async fn sent_texts(&self, psid: &str) -> Vec<String> {
        let sent = self.emulator_get(&format!("messages?psid={psid}")).await;
        sent["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["text"].as_str().map(str::to_string))
            .collect()
    }

    /// Meta's thread with the customer's last message `ago_secs` ago.
    async fn true_thread_since(&self, psid: &str, owner: Option<&str>, ago_secs: i64) {
        let response = self
            .http
            .put(format!(
                "{}/_emulator/threads/{PAGE}/{psid}",
                self.emulator.base_url()
            ))
            .json(&json!({"owner_app_id": owner, "expires_in_secs": 86_400,
                          "last_customer_message_secs_ago": ago_secs}))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
}

// ---- 1. ambiguous Graph failures ------------------------------------------------------

async fn an_agent_message_meta_answered_late_is_sent_once_and_reported_unknown(
    store: Arc<dyn Store>,
) {
    let h = harness(store).await;
    let u = "7301";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    h.late_answer("messages").await;
    let (status, body) = h
        .api(
            "POST",
            &format!("{u}/messages"),
            json!({"text": "Your refund is on its way."}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (502, &json!("graph_outcome_unknown")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("may have been delivered"),
        "{body}"
    );
    assert_eq!(
        h.sent_texts(u).await,
        ["Your refund is on its way."],
        "sent once"
    );
    assert!(h.record(u).await.needs_resync, "Meta is asked later");
}

async fn a_pass_meta_answered_late_is_decided_from_thread_owner(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let u = "7302";
    h.held_by(u, BOT, OwnerRole::Bot).await;
    h.late_answer("pass_thread_control").await;
    let (status, body) = h
        .api(
            "POST",
            &format!("{u}/control"),
            json!({"action": "pass", "as": "bot", "target": "inbox"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["owner"], json!({"app_id": INBOX, "role": "inbox"}));
    assert_eq!(h.true_owner(u).await.as_deref(), Some(INBOX));
    let last = h.control_entries(u).await.pop().expect("a control entry");
    assert_eq!(
        (last.1, last.2, last.3.as_str()),
        (
            Owner::app(INBOX, OwnerRole::Inbox),
            Cause::Api,
            "pass_thread_control"
        )
    );
}

async fn a_pass_that_failed_before_meta_applied_it_changes_nothing(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let u = "7303";
    h.held_by(u, BOT, OwnerRole::Bot).await;
    // A 500 that Meta answered without applying the call: the client cannot know.
    h.fault(
        "graph-error",
        json!({"endpoint": "pass_thread_control", "status": 500, "code": 2}),
    )
    .await;
    let (status, body) = h
        .api(
            "POST",
            &format!("{u}/control"),
            json!({"action": "pass", "as": "bot", "target": "inbox"}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (502, &json!("graph_unavailable")),
        "{body}"
    );
    assert_eq!(h.true_owner(u).await.as_deref(), Some(BOT), "not repeated");
    assert_eq!(h.record(u).await.owner, Owner::app(BOT, OwnerRole::Bot));
}

// ---- 3. reset decides on the owner ----------------------------------------------------

async fn a_reset_as_the_bot_while_the_inbox_owns_passes_with_the_inboxs_token(
    store: Arc<dyn Store>,
) {
    let h = passing_to_the_bot(store).await;
    let u = "7311";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    let (status, body) = h
        .api(
            "POST",
            &format!("{u}/control"),
            json!({"action": "reset", "as": "bot"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["owner"], json!({"app_id": BOT, "role": "bot"}));
    assert_eq!(h.true_owner(u).await.as_deref(), Some(BOT));
    assert_eq!(h.record(u).await.owner, Owner::app(BOT, OwnerRole::Bot));
}

async fn a_reset_when_a_bot_we_do_not_act_as_already_owns_is_a_no_op_that_says_so(
    store: Arc<dyn Store>,
) {
    // The Page's bot makes its own handover calls: we hold no token for it.
    let config = config_with(|doc| {
        doc["pages"][0]["reset_action"] = json!("pass_to_bot");
        doc["apps"].as_array_mut().unwrap().remove(0);
    });
    let h = World::start_with(store, config, impatient(), emulator_config()).await;
    let u = "7312";
    let seeded = h.held_by(u, BOT, OwnerRole::Bot).await;
    let (status, body) = h
        .api("POST", &format!("{u}/control"), json!({"action": "reset"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["owner"], json!({"app_id": BOT, "role": "bot"}));
    assert_eq!(
        body["unchanged"], "the conversation is already with the bot",
        "{body}"
    );
    assert_eq!(h.record(u).await.version, seeded.version, "nothing written");
    assert_eq!(h.true_owner(u).await.as_deref(), Some(BOT));
}

async fn a_release_reset_of_an_idle_conversation_is_a_no_op_that_says_so(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let u = "7314";
    h.set_true_owner(u, None).await;
    let seeded = h.seed(u, Owner::idle(), false).await;
    let (status, body) = h
        .api("POST", &format!("{u}/control"), json!({"action": "reset"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["unchanged"], "the conversation is already idle",
        "{body}"
    );
    assert_eq!(h.record(u).await.version, seeded.version, "nothing written");
}

async fn a_reset_of_a_thread_held_by_an_app_we_cannot_act_as_takes_first(store: Arc<dyn Store>) {
    let h = passing_to_the_bot(store).await;
    let u = "7313";
    h.held_by(u, "3003", OwnerRole::Other).await;
    let (status, body) = h
        .api(
            "POST",
            &format!("{u}/control"),
            json!({"action": "reset", "as": "bot"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["owner"], json!({"app_id": BOT, "role": "bot"}));
    assert_eq!(h.true_owner(u).await.as_deref(), Some(BOT));
}

// ---- 4. take over by sending ----------------------------------------------------------

async fn taking_over_by_sending_takes_when_the_inboxs_lease_expired(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let u = "7321";
    // The record says the inbox, but its lease ran out and Meta idled the thread.
    h.set_true_owner(u, None).await;
    let past = h.now() / 1000 - 60;
    h.seed_with_lease(u, Owner::app(INBOX, OwnerRole::Inbox), false, Some(past))
        .await;
    let (status, body) = h
        .api(
            "POST",
            &format!("{u}/messages"),
            json!({"text": "Back to you.", "take_control": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(h.sent_texts(u).await, ["Back to you."]);
    assert_eq!(h.true_owner(u).await.as_deref(), Some(INBOX));
}

async fn taking_over_by_sending_takes_when_meta_may_have_idled_the_thread(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let u = "7322";
    // The customer wrote 25 h ago: Meta idled the thread; our lease (48 h) still runs.
    h.true_thread_since(u, None, 25 * 3600).await;
    let mut record = h.seed(u, Owner::app(INBOX, OwnerRole::Inbox), false).await;
    record.version += 1;
    record.last_customer_message_at = Some(h.now() - 25 * HOUR_MS);
    h.write(
        record.version - 1,
        LeaseChange::Unchanged,
        record,
        Vec::new(),
    )
    .await;
    let (status, body) = h
        .api(
            "POST",
            &format!("{u}/messages"),
            json!({"text": "Still there?", "take_control": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messaging_type"], "human_agent");
    assert_eq!(h.sent_texts(u).await, ["Still there?"]);
    assert_eq!(h.true_owner(u).await.as_deref(), Some(INBOX));
}

// ---- 5. owners Meta will not name -----------------------------------------------------

async fn an_owner_no_app_of_ours_may_name_is_recorded_as_another_app_and_gates_the_bot(
    store: Arc<dyn Store>,
) {
    // Meta's inbox is the Page's default app and another app holds the thread: neither of
    // our apps may see who owns it, both learn only the expiration.
    let mut emulator = emulator_config();
    emulator.pages[0].default_app_id = PAGE_INBOX_APP_ID.to_string();
    let h = World::start_with(store, config_with(|_| {}), impatient(), emulator).await;
    let u = "7331";
    h.set_true_owner(u, Some("3003")).await;
    h.seed(u, Owner::app(INBOX, OwnerRole::Inbox), true).await;
    let outcome = h.resync.resync(PAGE, u).await.expect("re-sync");
    assert_eq!(outcome.conversation.owner, Owner::unknown_other());
    let expires = h.true_thread(u).await["expires_at"].as_i64();
    assert_eq!(
        outcome.conversation.control_expires_at, expires,
        "Meta's expiration"
    );
    assert!(outcome.conversation.needs_resync, "kept flagged");
    assert_eq!(h.flagged().await, [u.to_string()]);
    assert_eq!(outcome.graph_calls, 2, "the inbox, then the bot were asked");
    // The bot's sends stay gated.
    let (status, body) = h
        .api(
            "POST",
            &format!("{u}/messages"),
            json!({"text": "Hi!", "as": "bot"}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("not_owner")),
        "{body}"
    );
    assert!(h.sent_texts(u).await.is_empty());
}

// ---- 2. idempotent agent actions ------------------------------------------------------

async fn a_message_repeated_with_its_idempotency_key_is_sent_once(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let u = "7341";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    let message = json!({"text": "Your order ships today."});
    let first = h
        .api_once("ui-retry-1", &format!("{u}/messages"), message.clone())
        .await;
    assert_eq!(first.0, 200, "{}", first.1);
    let again = h
        .api_once("ui-retry-1", &format!("{u}/messages"), message)
        .await;
    assert_eq!(again, first, "the first answer, again");
    assert_eq!(
        h.sent_texts(u).await,
        ["Your order ships today."],
        "sent once"
    );
    // The same key with another body is refused.
    let other = h
        .api_once(
            "ui-retry-1",
            &format!("{u}/messages"),
            json!({"text": "Something else"}),
        )
        .await;
    assert_eq!(
        (other.0, &other.1["error"]["code"]),
        (422, &json!("idempotency_key_reused"))
    );
    // Another conversation's key of the same name is another key.
    let v = "7342";
    h.held_by(v, INBOX, OwnerRole::Inbox).await;
    let elsewhere = h
        .api_once(
            "ui-retry-1",
            &format!("{v}/messages"),
            json!({"text": "Hello"}),
        )
        .await;
    assert_eq!(elsewhere.0, 200, "{}", elsewhere.1);
    // Kept in the store for 24 h.
    let probe = KeyUse {
        page_id: PAGE.into(),
        psid: u.into(),
        // Kept under the token's own scope.
        key: format!("{}:ui-retry-1", Idempotency::token_scope(API_TOKEN)),
        fingerprint: "probe".into(),
        claimed_at: h.now(),
        answer: None,
        expires_at: h.now() / 1000 + 60,
    };
    match h.store.claim_key(&probe, h.now() / 1000).await.unwrap() {
        KeyClaim::Held(held) => {
            assert_eq!(held.expires_at, h.now() / 1000 + 24 * 3600);
            assert_eq!(held.answer.map(|a| a.status), Some(200));
        }
        other => panic!("the key is not kept: {other:?}"),
    }
}

async fn a_control_action_repeated_with_its_idempotency_key_is_done_once(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let u = "7343";
    h.held_by(u, BOT, OwnerRole::Bot).await;
    let pass = json!({"action": "pass", "as": "bot", "target": "inbox"});
    let first = h
        .api_once("pass-7343", &format!("{u}/control"), pass.clone())
        .await;
    assert_eq!(first.0, 200, "{}", first.1);
    // Done again, the pass would be refused: the bot no longer owns the thread.
    let again = h.api_once("pass-7343", &format!("{u}/control"), pass).await;
    assert_eq!(again, first);
    assert!(!h.record(u).await.needs_resync, "no needless re-sync");
    let passes = h
        .control_entries(u)
        .await
        .into_iter()
        .filter(|e| e.3 == "pass_thread_control")
        .count();
    assert_eq!(passes, 1);
}

async fn an_idempotency_key_of_an_action_that_did_nothing_may_be_used_again(store: Arc<dyn Store>) {
    let h = harness(store).await;
    let u = "7344";
    h.held_by(u, BOT, OwnerRole::Bot).await;
    h.fault(
        "graph-error",
        json!({"endpoint": "pass_thread_control", "status": 500, "code": 2}),
    )
    .await;
    let pass = json!({"action": "pass", "as": "bot", "target": "inbox"});
    let failed = h
        .api_once("pass-7344", &format!("{u}/control"), pass.clone())
        .await;
    assert_eq!(
        (failed.0, &failed.1["error"]["code"]),
        (502, &json!("graph_unavailable"))
    );
    let retried = h.api_once("pass-7344", &format!("{u}/control"), pass).await;
    assert_eq!(retried.0, 200, "{}", retried.1);
    assert_eq!(h.true_owner(u).await.as_deref(), Some(INBOX));
    let bad = h
        .api_once(
            "with space",
            &format!("{u}/control"),
            json!({"action": "take"}),
        )
        .await;
    assert_eq!(
        (bad.0, &bad.1["error"]["code"]),
        (400, &json!("bad_idempotency_key"))
    );
}

// ---- 7. scoped API tokens -------------------------------------------------------------

const SAM: &str = "sam-agent-token-0123456789";
/// An agent whose token names the bot too (`acts_as`).
const ROBIN: &str = "robin-agent-token-0123456789";
const READER: &str = "reader-token-0123456789";
const ELSEWHERE: &str = "other-page-token-0123456789";
const OTHER_PAGE: &str = "222";

async fn scoped(store: Arc<dyn Store>) -> World {
    let config = config_with(|doc| {
        doc["apps"][1]["page_tokens"][OTHER_PAGE] = json!("inbox-page-token-222");
        let mut page = doc["pages"][0].clone();
        page["id"] = json!(OTHER_PAGE);
        doc["pages"].as_array_mut().unwrap().push(page);
        doc["api_tokens"] = json!([
            API_TOKEN,
            {"token": SAM, "pages": [PAGE], "scope": "act", "agent_name": "Sam"},
            {"token": ROBIN, "pages": [PAGE], "scope": "act", "agent_name": "Robin",
             "acts_as": ["inbox", "bot"]},
            {"token": READER, "scope": "read"},
            {"token": ELSEWHERE, "pages": [OTHER_PAGE], "scope": "act"},
        ]);
    });
    World::start_with(store, config, impatient(), emulator_config()).await
}

async fn a_token_reaches_only_its_pages_and_scope(store: Arc<dyn Store>) {
    let h = scoped(store).await;
    let u = "7351";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    let conversation = format!("{PAGE}/conversations/{u}");
    // A read-only token reads every Page's timelines but acts on none.
    let read = h
        .request(
            READER,
            None,
            "GET",
            &format!("{conversation}/timeline"),
            Value::Null,
        )
        .await;
    assert_eq!(read.0, 200, "{}", read.1);
    let act = h
        .request(
            READER,
            None,
            "POST",
            &format!("{conversation}/messages"),
            json!({"text": "hi"}),
        )
        .await;
    assert_eq!(
        (act.0, &act.1["error"]["code"]),
        (403, &json!("forbidden")),
        "{}",
        act.1
    );
    assert!(
        act.1["error"]["message"].as_str().unwrap().contains(PAGE),
        "{}",
        act.1
    );
    let resync = resync_api::handle(
        &h.resync,
        "POST",
        &format!("/pages/{conversation}/resync"),
        Some(&format!("Bearer {READER}")),
        b"",
    )
    .await;
    assert_eq!(resync.status, 403, "{}", resync.body);
    // A token of another Page reads nothing here.
    for path in [
        conversation.clone(),
        format!("{conversation}/timeline"),
        format!("{PAGE}/conversations"),
    ] {
        let (status, body) = h.request(ELSEWHERE, None, "GET", &path, Value::Null).await;
        assert_eq!(status, 403, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(PAGE),
            "{body}"
        );
    }
    assert!(h.sent_texts(u).await.is_empty());
}

async fn an_agents_token_is_recorded_as_the_actor_of_its_actions(store: Arc<dyn Store>) {
    let h = scoped(store).await;
    let u = "7352";
    h.held_by(u, BOT, OwnerRole::Bot).await;
    let conversation = format!("{PAGE}/conversations/{u}");
    let (status, body) = h
        .request(
            ROBIN,
            None,
            "POST",
            &format!("{conversation}/control"),
            json!({"action": "pass", "as": "bot", "target": "inbox"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, timeline) = h
        .request(
            SAM,
            None,
            "GET",
            &format!("{conversation}/timeline"),
            Value::Null,
        )
        .await;
    let entry = &timeline["items"][0];
    assert_eq!(
        (&entry["event"], &entry["agent"], &entry["actor"]),
        (&json!("pass_thread_control"), &json!("Robin"), &json!(BOT)),
        "{timeline}"
    );
    // An unscoped token's actions name no agent.
    let (status, _) = h
        .api(
            "POST",
            &format!("{u}/control"),
            json!({"action": "release"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, timeline) = h.api("GET", &format!("{u}/timeline"), Value::Null).await;
    assert_eq!(timeline["items"][0]["event"], "release_thread_control");
    assert!(timeline["items"][0].get("agent").is_none(), "{timeline}");
}

async fn an_agents_token_acts_as_the_inbox_only_unless_it_names_more(store: Arc<dyn Store>) {
    let h = scoped(store).await;
    let u = "7353";
    h.held_by(u, BOT, OwnerRole::Bot).await;
    let conversation = format!("{PAGE}/conversations/{u}");
    for (action, body) in [
        ("messages", json!({"text": "I am the bot", "as": "bot"})),
        ("messages", json!({"text": "Me too", "as": BOT})),
        (
            "control",
            json!({"action": "pass", "as": "bot", "target": "inbox"}),
        ),
        ("control", json!({"action": "release", "as": "bot"})),
    ] {
        let (status, reply) = h
            .request(SAM, None, "POST", &format!("{conversation}/{action}"), body)
            .await;
        assert_eq!(
            (status, &reply["error"]["code"]),
            (403, &json!("forbidden")),
            "{reply}"
        );
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(BOT), "names the app: {message}");
    }
    assert!(h.sent_texts(u).await.is_empty(), "nothing sent as the bot");
    assert_eq!(h.true_owner(u).await.as_deref(), Some(BOT), "nothing moved");
    assert!(h.control_entries(u).await.is_empty());
    // Its own app, the inbox, it may act as.
    let (status, body) = h
        .request(
            SAM,
            None,
            "POST",
            &format!("{conversation}/control"),
            json!({"action": "take"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn an_idempotency_key_belongs_to_its_token(store: Arc<dyn Store>) {
    let h = scoped(store).await;
    let u = "7354";
    h.held_by(u, INBOX, OwnerRole::Inbox).await;
    let path = format!("{PAGE}/conversations/{u}/messages");
    let message = json!({"text": "Your parcel left the warehouse."});
    let sam = h
        .request(SAM, Some("reply-1"), "POST", &path, message.clone())
        .await;
    assert_eq!(sam.0, 200, "{}", sam.1);
    // Another agent's request with the same key and body is its own request: done, with its
    // own answer (not Sam's stored one).
    let robin = h
        .request(ROBIN, Some("reply-1"), "POST", &path, message.clone())
        .await;
    assert_eq!(robin.0, 200, "{}", robin.1);
    assert_ne!(robin.1["message_id"], sam.1["message_id"], "its own answer");
    assert_eq!(h.sent_texts(u).await.len(), 2, "both sent");
    // Each agent's repeat is still de-duplicated.
    let again = h
        .request(SAM, Some("reply-1"), "POST", &path, message)
        .await;
    assert_eq!(again, sam);
    assert_eq!(h.sent_texts(u).await.len(), 2);
}

macro_rules! scenarios {
    ($($name:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::memory()).await;
                }
            )*
        }
        mod dynamodb_on_moto {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::dynamo(super::TABLES).await).await;
                }
            )*
        }
    };
}

scenarios!(
    an_agent_message_meta_answered_late_is_sent_once_and_reported_unknown,
    a_pass_meta_answered_late_is_decided_from_thread_owner,
    a_pass_that_failed_before_meta_applied_it_changes_nothing,
    a_reset_as_the_bot_while_the_inbox_owns_passes_with_the_inboxs_token,
    a_reset_when_a_bot_we_do_not_act_as_already_owns_is_a_no_op_that_says_so,
    a_release_reset_of_an_idle_conversation_is_a_no_op_that_says_so,
    a_reset_of_a_thread_held_by_an_app_we_cannot_act_as_takes_first,
    taking_over_by_sending_takes_when_the_inboxs_lease_expired,
    taking_over_by_sending_takes_when_meta_may_have_idled_the_thread,
    an_owner_no_app_of_ours_may_name_is_recorded_as_another_app_and_gates_the_bot,
    a_message_repeated_with_its_idempotency_key_is_sent_once,
    a_control_action_repeated_with_its_idempotency_key_is_done_once,
    an_idempotency_key_of_an_action_that_did_nothing_may_be_used_again,
    a_token_reaches_only_its_pages_and_scope,
    an_agents_token_is_recorded_as_the_actor_of_its_actions,
    an_agents_token_acts_as_the_inbox_only_unless_it_names_more,
    an_idempotency_key_belongs_to_its_token,
);
