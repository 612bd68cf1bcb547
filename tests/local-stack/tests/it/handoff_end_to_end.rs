//! End to end for control-handoff: the seed workflows (docs/architecture.md §1) through the emulator and
//! the real binaries (webhook-ingest and control-handoff behind the Lambda Runtime API and an
//! API Gateway front). The emulator's true owner equals the coordinator's record at the end
//! of every test.

use local_stack::{local_config_path, Stack};
use routing_domain::{Happening, OwnerRole};
use routing_usecases::ports::{ConversationWrite, LeaseChange, Store, TimelineOrder};
use serde_json::{json, Value};

async fn stack() -> Stack {
    Stack::start_hosted(&local_config_path())
        .await
        .expect("local stack starts (run `cargo build --workspace --bins` first)")
}

async fn texts_sent(s: &Stack, psid: &str) -> Vec<(String, String, Option<String>)> {
    let url = format!("{}/_emulator/messages?psid={psid}", s.emulator.base_url());
    let body: Value = s.http.get(url).send().await.unwrap().json().await.unwrap();
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["app_id"].as_str().unwrap_or_default().to_string(),
                m["text"].as_str().unwrap_or_default().to_string(),
                m["tag"].as_str().map(str::to_string),
            )
        })
        .collect()
}

async fn queue(s: &Stack) -> Vec<String> {
    s.queue("inbox", true).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bot_hands_over_agent_answers_and_resets_with_the_final_message() {
    let s = stack().await;
    let u = "9201";
    s.customer_says(u, "I need help").await.unwrap();
    s.settled_record(u).await.unwrap();

    let (status, body) = s
        .control_action(
            u,
            json!({"action": "pass", "as": "bot", "target": "inbox", "metadata": "bot gave up"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["owner"]["role"], "inbox");
    assert_eq!(body["unread"], true);
    s.settled_record(u).await.unwrap();
    assert!(
        queue(&s).await.contains(&u.to_string()),
        "unread in the agents' queue"
    );

    let (status, body) = s
        .agent_message(
            u,
            json!({"text": "Hi, I'm Sam. Let me look.", "as": "inbox"}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["conversation"]["unread"], false);
    assert!(!queue(&s).await.contains(&u.to_string()));

    let (status, body) = s
        .agent_message(
            u,
            json!({"text": "All sorted. Bye!", "as": "inbox", "reset_after": true}),
        )
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["conversation"]["owner"]["role"], "idle",
        "reset_action release"
    );
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(r.owner.role, OwnerRole::Idle);
    assert_eq!(r.control_expires_at, None);

    s.customer_says(u, "one more question").await.unwrap();
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(
        r.owner.role,
        OwnerRole::Bot,
        "the next message starts with the bot"
    );

    // The agent's messages are in the timeline once each (API record + echo webhook).
    let timeline = s.timeline(u).await.unwrap();
    let agent: Vec<&Value> = timeline
        .iter()
        .filter(|e| e["type"] == "message" && e["author"] == "agent")
        .collect();
    assert_eq!(agent.len(), 2, "{timeline:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_releases_a_finished_conversation_and_it_stays_read() {
    let s = stack().await;
    let u = "9202";
    s.customer_says(u, "thanks, that's all").await.unwrap();
    s.settled_record(u).await.unwrap();
    let (status, body) = s
        .control_action(u, json!({"action": "release", "as": "bot"}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(r.owner.role, OwnerRole::Idle);
    assert!(!r.unread);
    assert!(!queue(&s).await.contains(&u.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_takes_over_by_replying() {
    let s = stack().await;
    let u = "9203";
    s.customer_says(u, "hello bot").await.unwrap();
    s.settled_record(u).await.unwrap();
    // Without take_control Meta refuses: the bot owns the thread.
    let (status, body) = s
        .agent_message(u, json!({"text": "hi", "as": "inbox"}))
        .await
        .unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "not_owner");
    let (status, body) = s
        .agent_message(u, json!({"text": "Sam here, I'll take it from here.", "as": "inbox", "take_control": true}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(r.owner.role, OwnerRole::Inbox);
    assert!(!r.unread);

    // The bot may not talk over the agent: refused before Meta is asked.
    let sent_before = texts_sent(&s, u).await.len();
    let (status, body) = s
        .agent_message(u, json!({"text": "beep", "as": "bot"}))
        .await
        .unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["owner"]["role"], "inbox");
    assert_eq!(texts_sent(&s, u).await.len(), sent_before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talk_to_human_and_back_to_bot_confirm_once_even_when_delivered_twice() {
    let s = stack().await;
    let u = "9204";
    s.customer_says(u, "hi").await.unwrap();
    s.settled_record(u).await.unwrap();
    s.control("faults/duplicate", json!({"count": 50}))
        .await
        .unwrap();

    s.customer_taps(u, "Talk to human", "TALK_TO_HUMAN")
        .await
        .unwrap();
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(r.owner.role, OwnerRole::Inbox);
    assert!(r.unread);
    assert!(r.pending_action.is_none(), "executed");

    s.customer_taps(u, "Back to bot", "BACK_TO_BOT")
        .await
        .unwrap();
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(r.owner.role, OwnerRole::Bot);
    assert!(!r.unread);

    let texts: Vec<String> = texts_sent(&s, u)
        .await
        .into_iter()
        .map(|(_, t, _)| t)
        .collect();
    assert_eq!(
        texts,
        vec![
            "You're now chatting with a person.".to_string(),
            "You're back with the bot.".to_string()
        ],
        "each confirmation sent exactly once"
    );
    assert!(
        s.emulator.deliveries().iter().any(|d| d.duplicate),
        "duplicates were delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_control_is_honoured() {
    let s = stack().await;
    let u = "9205";
    s.customer_says(u, "hi").await.unwrap();
    s.pass(&s.cast.bot, u, &s.cast.inbox.id).await.unwrap();
    s.settled_record(u).await.unwrap();
    // The bot asks for the conversation back; Meta tells the inbox (the owner), and the
    // Page grants requests automatically.
    let (status, body) = s
        .control_action(u, json!({"action": "request", "as": "bot"}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let r = s.settled_record(u).await.unwrap();
    assert_eq!(r.owner.role, OwnerRole::Bot, "granted");
    assert!(r.pending_request.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_faults_are_never_repeated_blindly_refuse_and_fail_cleanly() {
    let s = stack().await;
    let u = "9206";
    s.customer_says(u, "hi").await.unwrap();
    s.settled_record(u).await.unwrap();

    // A 5xx on a pass is never repeated inside the call (Meta may have applied it):
    // Meta's owner shows it was not, so nothing changed and asking again succeeds.
    s.control(
        "faults/graph-error",
        json!({"endpoint": "pass_thread_control", "count": 1, "status": 500, "code": 2}),
    )
    .await
    .unwrap();
    let (status, body) = s
        .control_action(u, json!({"action": "pass", "as": "bot", "target": "inbox"}))
        .await
        .unwrap();
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "graph_unavailable");
    assert_eq!(
        s.settled_record(u).await.unwrap().owner.role,
        OwnerRole::Bot
    );
    let (status, body) = s
        .control_action(u, json!({"action": "pass", "as": "bot", "target": "inbox"}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let before = s.settled_record(u).await.unwrap();
    assert_eq!(before.owner.role, OwnerRole::Inbox);

    // Permanent "not owner": 409 with Meta's owner (re-synced inline), record unchanged and
    // no longer flagged, since Meta confirmed it.
    let (status, body) = s
        .control_action(u, json!({"action": "pass", "as": "bot", "target": "inbox"}))
        .await
        .unwrap();
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "not_owner");
    assert_eq!(body["error"]["owner"]["app_id"], s.cast.inbox.id.as_str());
    let after = s.settled_record(u).await.unwrap();
    assert_eq!(after.owner, before.owner);
    assert!(
        !after.needs_resync,
        "the inline re-sync confirmed the owner"
    );

    // Meta keeps failing a release it does not apply: 502, nothing changed.
    s.control(
        "faults/graph-error",
        json!({"endpoint": "release_thread_control", "count": 10, "status": 503, "code": 2}),
    )
    .await
    .unwrap();
    let (status, body) = s
        .control_action(u, json!({"action": "release", "as": "inbox"}))
        .await
        .unwrap();
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "graph_unavailable");
    let last = s.settled_record(u).await.unwrap();
    assert_eq!(last.owner, before.owner);
    assert_eq!(last.version, after.version, "nothing written");
}

/// Make the customer's last message `secs` old on both sides (seeded state).
async fn age_last_message(s: &Stack, psid: &str, secs: i64) {
    s.settle().await.unwrap();
    let mut record = s.record(psid).await.unwrap();
    let expected = record.version;
    let at = record.last_customer_message_at.unwrap() - secs * 1000;
    record.last_customer_message_at = Some(at);
    record.version += 1;
    s.store
        .write(ConversationWrite {
            expected_version: expected,
            lease: LeaseChange::Unchanged,
            state: record.clone(),
            timeline: Vec::new(),
            applied_key: None,
            more_applied_keys: Vec::new(),
            timeline_expires_at: 0,
            applied_keys_expire_at: 0,
        })
        .await
        .unwrap();
    s.seed_thread(
        psid,
        json!({"owner_app_id": record.owner.app_id, "expires_in_secs": 86_400, "last_customer_message_secs_ago": secs}),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_messages_follow_the_24_hour_and_7_day_windows() {
    let s = stack().await;
    let u = "9207";
    s.customer_says(u, "hi").await.unwrap();
    s.pass(&s.cast.bot, u, &s.cast.inbox.id).await.unwrap();
    s.settled_record(u).await.unwrap();

    age_last_message(&s, u, 25 * 3600).await;
    let (status, body) = s
        .agent_message(u, json!({"text": "Sorry for the wait!", "as": "inbox"}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messaging_type"], "human_agent");
    let sent = texts_sent(&s, u).await;
    assert_eq!(sent.last().unwrap().2.as_deref(), Some("HUMAN_AGENT"));
    // The bot may not use the human agent tag.
    let (status, body) = s
        .agent_message(u, json!({"text": "beep", "as": "bot"}))
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("window_closed"))
    );

    age_last_message(&s, u, 7 * 24 * 3600).await;
    let before = texts_sent(&s, u).await.len();
    let (status, body) = s
        .agent_message(u, json!({"text": "Still there?", "as": "inbox"}))
        .await
        .unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("window_closed")),
        "{body}"
    );
    assert_eq!(
        texts_sent(&s, u).await.len(),
        before,
        "nothing sent after 7 days"
    );
    s.settled_record(u).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_refuses_bad_input_and_missing_tokens() {
    let s = stack().await;
    let page = s.cast.page_id.clone();
    let gateway = s.gateway.as_ref().unwrap().base_url().to_string();
    let no_token = s
        .http
        .get(format!("{gateway}/pages/{page}/conversations"))
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status().as_u16(), 401);
    let wrong = s
        .http
        .get(format!("{gateway}/pages/{page}/conversations"))
        .bearer_auth("not-a-valid-token-at-all")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 403);
    let cases = [
        (
            "GET",
            format!("/pages/{page}/conversations?limit=0"),
            None,
            400,
            "bad_limit",
        ),
        (
            "GET",
            format!("/pages/{page}/conversations?role=boss"),
            None,
            400,
            "bad_role",
        ),
        (
            "GET",
            "/pages/999/conversations".to_string(),
            None,
            404,
            "unknown_page",
        ),
        (
            "GET",
            format!("/pages/{page}/conversations/424242"),
            None,
            404,
            "unknown_conversation",
        ),
        (
            "POST",
            format!("/pages/{page}/conversations/1/control"),
            Some(json!({"action": "jump"})),
            400,
            "bad_action",
        ),
        (
            "POST",
            format!("/pages/{page}/conversations/1/control"),
            Some(json!({"action": "pass", "as": "bot"})),
            400,
            "missing_target",
        ),
        (
            "POST",
            format!("/pages/{page}/conversations/1/control"),
            Some(json!({"action": "pass", "as": "5555", "target": "inbox"})),
            404,
            "unknown_app",
        ),
        (
            "POST",
            format!("/pages/{page}/conversations/1/control"),
            Some(json!({"action": "extend", "as": "inbox", "duration_secs": 700000})),
            400,
            "bad_duration_secs",
        ),
        (
            "POST",
            format!("/pages/{page}/conversations/1/messages"),
            Some(json!({"text": ""})),
            400,
            "bad_text",
        ),
        (
            "POST",
            format!("/pages/{page}/conversations/1/messages"),
            Some(json!({"txt": "hi"})),
            400,
            "bad_request",
        ),
    ];
    for (method, path, body, status, code) in cases {
        let (got, answer) = s.api(method, &path, body).await.unwrap();
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {path}: {answer}"
        );
    }
    let timeline = s
        .store
        .timeline(&page, "1", TimelineOrder::NewestFirst, 5, None)
        .await
        .unwrap();
    assert!(timeline.items.is_empty(), "refusals wrote nothing");
    assert!(!timeline
        .items
        .iter()
        .any(|e| matches!(e.record, Happening::Control { .. })));
}
