//! `GraphClient` over real HTTP: against the Messenger Platform emulator (thread control,
//! thread_owner, Send API, Meta's error rules, injected faults) and, for answers the
//! emulator never gives (other success shapes, non-JSON errors), a tiny raw HTTP stub.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use messenger_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use routing_core::meta::graph::{GraphClient, RetryPolicy};
use routing_usecases::config::Secret;
use routing_usecases::ports::{
    GraphApi, GraphError, MessagingType, OutgoingMessage, ThreadControl, ThreadOwner,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type TestResult = Result<(), BoxError>;

const PAGE: &str = "PAGE1";
const BOT: &str = "1001";
const INBOX: &str = "2002";
const PAGE_INBOX: &str = "263902037430900";

const CONFIG: &str = r#"{
  "graph_version": "v23.0",
  "pages": [
    {
      "id": "PAGE1",
      "default_app_id": "1001",
      "apps": [
        {"id": "1001", "name": "bot", "app_secret": "s1", "page_token": "tok-bot", "take_control": true},
        {"id": "2002", "name": "inbox", "app_secret": "s2", "page_token": "tok-inbox", "take_control": true},
        {"id": "3003", "name": "other", "app_secret": "s3", "page_token": "tok-other", "take_control": false},
        {"id": "4004", "name": "no role", "app_secret": "s4", "page_token": "tok-norole", "connected": false}
      ]
    }
  ]
}"#;

fn bot() -> Secret {
    Secret::new("tok-bot")
}
fn inbox() -> Secret {
    Secret::new("tok-inbox")
}
fn other() -> Secret {
    Secret::new("tok-other")
}
fn no_role() -> Secret {
    Secret::new("tok-norole")
}

fn text(text: &str, messaging_type: MessagingType) -> OutgoingMessage {
    OutgoingMessage {
        text: text.to_owned(),
        messaging_type,
        metadata: None,
        thread_control: None,
    }
}

/// An emulator, a control-API client and a `GraphClient` pointed at the emulator.
struct Harness {
    emu: RunningEmulator,
    ctl: reqwest::Client,
    graph: GraphClient,
}

impl Harness {
    async fn start() -> Result<Self, BoxError> {
        Self::with_policy(RetryPolicy::fast()).await
    }

    async fn with_policy(policy: RetryPolicy) -> Result<Self, BoxError> {
        let config = EmulatorConfig::from_json_str(CONFIG)?;
        let emu = Emulator::start(config, "127.0.0.1:0".parse()?).await?;
        // The base URL with a trailing slash: the client must not double it.
        let graph = GraphClient::new(&format!("{}/", emu.base_url()), "v23.0", policy)?;
        Ok(Harness {
            emu,
            ctl: reqwest::Client::new(),
            graph,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    async fn control(&self, path: &str, body: Value) -> Result<Value, reqwest::Error> {
        self.ctl
            .post(self.url(path))
            .json(&body)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }

    async fn get(&self, path: &str) -> Result<Value, reqwest::Error> {
        self.ctl
            .get(self.url(path))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await
    }

    /// The customer writes: an idle thread goes to the default app (the bot).
    async fn customer_writes(&self, psid: &str) -> Result<Value, reqwest::Error> {
        self.control(
            "/_emulator/customer/message",
            json!({"psid": psid, "text": "hello"}),
        )
        .await
    }

    /// The emulator's true state of a thread.
    async fn thread(&self, psid: &str) -> Result<Value, reqwest::Error> {
        self.get(&format!("/_emulator/threads/{PAGE}/{psid}")).await
    }

    async fn true_owner(&self, psid: &str) -> Result<Option<String>, reqwest::Error> {
        Ok(self.thread(psid).await?["owner_app_id"]
            .as_str()
            .map(str::to_owned))
    }

    async fn inject(&self, fault: Value) -> Result<Value, reqwest::Error> {
        self.control("/_emulator/faults/graph-error", fault).await
    }

    /// `remaining` of each injected Graph error, in order.
    async fn faults_remaining(&self) -> Result<Vec<u64>, reqwest::Error> {
        let faults = self.get("/_emulator/faults").await?;
        Ok(faults["graph_errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["remaining"].as_u64())
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn advance_clock(&self, seconds: u64) -> Result<Value, reqwest::Error> {
        self.control("/_emulator/clock/advance", json!({"seconds": seconds}))
            .await
    }

    async fn sent_messages(&self, psid: &str) -> Result<Vec<Value>, reqwest::Error> {
        let messages = self
            .get(&format!("/_emulator/messages?psid={psid}"))
            .await?;
        Ok(messages["messages"].as_array().cloned().unwrap_or_default())
    }
}

// ---------------------------------------------------------------- success paths

#[tokio::test]
async fn pass_moves_control_to_the_target() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    assert_eq!(h.true_owner("U1").await?.as_deref(), Some(BOT));

    h.graph
        .pass_thread_control(&bot(), PAGE, "U1", INBOX, Some("wants a human"))
        .await?;
    assert_eq!(h.true_owner("U1").await?.as_deref(), Some(INBOX));

    // Passing on to Meta's Page Inbox works too (it is connected to every Page).
    h.graph
        .pass_thread_control(&inbox(), PAGE, "U1", PAGE_INBOX, None)
        .await?;
    assert_eq!(h.true_owner("U1").await?.as_deref(), Some(PAGE_INBOX));
    Ok(())
}

#[tokio::test]
async fn take_moves_control_to_the_caller() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.graph
        .take_thread_control(&inbox(), PAGE, "U1", Some("agent took over"))
        .await?;
    assert_eq!(h.true_owner("U1").await?.as_deref(), Some(INBOX));
    Ok(())
}

#[tokio::test]
async fn request_leaves_the_owner_in_place() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.graph
        .request_thread_control(&inbox(), PAGE, "U1", Some("please"))
        .await?;
    assert_eq!(h.true_owner("U1").await?.as_deref(), Some(BOT));
    Ok(())
}

#[tokio::test]
async fn release_makes_the_thread_idle() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.graph
        .take_thread_control(&inbox(), PAGE, "U1", None)
        .await?;
    h.graph
        .release_thread_control(&inbox(), PAGE, "U1", Some("done"))
        .await?;
    let thread = h.thread("U1").await?;
    assert_eq!(thread["owner_app_id"], Value::Null);
    assert_eq!(thread["idle"], json!(true));
    assert_eq!(h.graph.thread_owner(&bot(), PAGE, "U1").await?, None);
    Ok(())
}

#[tokio::test]
async fn extend_sets_the_expiry() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.graph
        .take_thread_control(&inbox(), PAGE, "U1", None)
        .await?;
    let before_ms = h.get("/_emulator/clock").await?["now_ms"]
        .as_i64()
        .ok_or("now_ms")?;
    h.graph
        .extend_thread_control(&inbox(), PAGE, "U1", 7 * 86_400)
        .await?;
    let thread = h.thread("U1").await?;
    assert_eq!(thread["owner_app_id"], json!(INBOX));
    // Now + 7 days on the emulator's clock, which ticks between the two readings.
    let after_ms = thread["now_ms"].as_i64().ok_or("now_ms")?;
    let expires_at_ms = thread["expires_at_ms"].as_i64().ok_or("expires_at_ms")?;
    let week_ms = 7 * 86_400 * 1000;
    assert!(
        (before_ms + week_ms..=after_ms + week_ms).contains(&expires_at_ms),
        "{before_ms} {expires_at_ms} {after_ms}"
    );

    // The owner sees the new expiry, in epoch seconds.
    let owner = h.graph.thread_owner(&inbox(), PAGE, "U1").await?;
    assert_eq!(
        owner,
        Some(ThreadOwner {
            app_id: Some(INBOX.to_owned()),
            expires_at: Some(expires_at_ms / 1000),
        })
    );
    Ok(())
}

#[tokio::test]
async fn thread_owner_idle_and_owned() -> TestResult {
    let h = Harness::start().await?;
    // Never written: idle.
    assert_eq!(h.graph.thread_owner(&bot(), PAGE, "U9").await?, None);

    h.customer_writes("U1").await?;
    let thread = h.thread("U1").await?;
    let owner = h.graph.thread_owner(&bot(), PAGE, "U1").await?;
    assert_eq!(
        owner,
        Some(ThreadOwner {
            app_id: Some(BOT.to_owned()),
            expires_at: thread["expires_at"].as_i64(),
        })
    );
    // The emulator answers epoch seconds; the client keeps them as seconds.
    let expires_at = owner.and_then(|o| o.expires_at).ok_or("expiry")?;
    assert_eq!(
        expires_at,
        thread["expires_at_ms"].as_i64().ok_or("ms")? / 1000
    );
    Ok(())
}

#[tokio::test]
async fn send_message_response_and_thread_control() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;

    let sent = h
        .graph
        .send_message(
            &bot(),
            PAGE,
            "U1",
            &OutgoingMessage {
                metadata: Some("m1".to_owned()),
                ..text("Hi!", MessagingType::Response)
            },
        )
        .await?;
    assert!(sent.message_id.starts_with("m_"));
    assert_eq!(sent.recipient_id.as_deref(), Some("U1"));

    // Send and pass in one call.
    let passed = h
        .graph
        .send_message(
            &bot(),
            PAGE,
            "U1",
            &OutgoingMessage {
                thread_control: Some(ThreadControl::Pass {
                    app_id: INBOX.to_owned(),
                }),
                ..text("A person will answer.", MessagingType::Response)
            },
        )
        .await?;
    assert_eq!(h.true_owner("U1").await?.as_deref(), Some(INBOX));

    // Send and release in one call.
    h.graph
        .send_message(
            &inbox(),
            PAGE,
            "U1",
            &OutgoingMessage {
                thread_control: Some(ThreadControl::Release),
                ..text("Done here.", MessagingType::Response)
            },
        )
        .await?;
    assert_eq!(h.true_owner("U1").await?, None);

    let messages = h.sent_messages("U1").await?;
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[0]["message_id"], json!(sent.message_id));
    assert_eq!(messages[0]["app_id"], json!(BOT));
    assert_eq!(messages[0]["messaging_type"], json!("RESPONSE"));
    assert_eq!(messages[0]["tag"], Value::Null);
    assert_eq!(messages[0]["text"], json!("Hi!"));
    assert_eq!(messages[0]["metadata"], json!("m1"));
    assert_eq!(messages[1]["message_id"], json!(passed.message_id));
    assert_eq!(
        messages[1]["thread_control"],
        json!({"control_type": "pass", "app_id": INBOX})
    );
    assert_eq!(
        messages[2]["thread_control"],
        json!({"control_type": "release"})
    );
    Ok(())
}

// ---------------------------------------------------------------- Meta's errors

#[tokio::test]
async fn pass_by_a_non_owner_is_not_owner() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    let err = h
        .graph
        .pass_thread_control(&other(), PAGE, "U1", INBOX, None)
        .await;
    assert_eq!(
        err,
        Err(GraphError::NotOwner {
            code: 100,
            subcode: 2_534_037
        })
    );
    assert_eq!(h.true_owner("U1").await?.as_deref(), Some(BOT));
    Ok(())
}

#[tokio::test]
async fn send_by_a_non_owner_is_not_owner() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    let err = h
        .graph
        .send_message(&inbox(), PAGE, "U1", &text("hi", MessagingType::Response))
        .await;
    assert_eq!(
        err,
        Err(GraphError::NotOwner {
            code: 10,
            subcode: 2_018_300
        })
    );
    assert!(h.sent_messages("U1").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn app_without_a_role_is_no_role() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    assert_eq!(
        h.graph
            .take_thread_control(&no_role(), PAGE, "U1", None)
            .await,
        Err(GraphError::NoRole)
    );
    assert_eq!(
        h.graph.thread_owner(&no_role(), PAGE, "U1").await,
        Err(GraphError::NoRole)
    );
    assert_eq!(h.true_owner("U1").await?.as_deref(), Some(BOT));
    Ok(())
}

#[tokio::test]
async fn pass_to_an_unknown_app_is_wrong_app_id() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    assert_eq!(
        h.graph
            .pass_thread_control(&bot(), PAGE, "U1", "9999", None)
            .await,
        Err(GraphError::WrongAppId)
    );
    assert_eq!(h.true_owner("U1").await?.as_deref(), Some(BOT));
    Ok(())
}

#[tokio::test]
async fn an_app_that_is_neither_owner_nor_default_learns_only_the_expiration() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.graph
        .take_thread_control(&inbox(), PAGE, "U1", None)
        .await?;
    let expires_at = h.thread("U1").await?["expires_at"].as_i64();
    assert_eq!(
        h.graph.thread_owner(&other(), PAGE, "U1").await?,
        Some(ThreadOwner {
            app_id: None,
            expires_at
        })
    );
    // The default app may look.
    assert_eq!(
        h.graph
            .thread_owner(&bot(), PAGE, "U1")
            .await?
            .and_then(|o| o.app_id),
        Some(INBOX.to_owned())
    );
    Ok(())
}

#[tokio::test]
async fn response_window_closes_after_24h_human_agent_still_works() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.advance_clock(25 * 3600).await?;
    // The agent takes the (now idle) thread and answers.
    h.graph
        .take_thread_control(&inbox(), PAGE, "U1", None)
        .await?;
    assert_eq!(
        h.graph
            .send_message(
                &inbox(),
                PAGE,
                "U1",
                &text("sorry", MessagingType::Response)
            )
            .await,
        Err(GraphError::WindowClosed)
    );
    let sent = h
        .graph
        .send_message(
            &inbox(),
            PAGE,
            "U1",
            &text("sorry for the wait", MessagingType::HumanAgent),
        )
        .await?;
    let messages = h.sent_messages("U1").await?;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["message_id"], json!(sent.message_id));
    assert_eq!(messages[0]["messaging_type"], json!("MESSAGE_TAG"));
    assert_eq!(messages[0]["tag"], json!("HUMAN_AGENT"));

    // After 7 days even HUMAN_AGENT is refused.
    h.advance_clock(6 * 86_400 + 1).await?;
    h.graph
        .take_thread_control(&inbox(), PAGE, "U1", None)
        .await?;
    assert_eq!(
        h.graph
            .send_message(
                &inbox(),
                PAGE,
                "U1",
                &text("hello?", MessagingType::HumanAgent)
            )
            .await,
        Err(GraphError::WindowClosed)
    );
    Ok(())
}

#[tokio::test]
async fn bad_token_is_token_invalid() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    let bad = Secret::new("not-a-token");
    assert_eq!(
        h.graph.take_thread_control(&bad, PAGE, "U1", None).await,
        Err(GraphError::TokenInvalid)
    );
    assert_eq!(
        h.graph.thread_owner(&bad, PAGE, "U1").await,
        Err(GraphError::TokenInvalid)
    );
    assert_eq!(h.true_owner("U1").await?.as_deref(), Some(BOT));
    Ok(())
}

// ---------------------------------------------------------------- retries

#[tokio::test]
async fn a_read_answered_500_is_retried_then_succeeds() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.inject(json!({"endpoint": "thread_owner", "count": 1, "status": 500, "code": 2}))
        .await?;
    assert_eq!(h.faults_remaining().await?, vec![1]);
    let owner = h.graph.thread_owner(&bot(), PAGE, "U1").await?;
    // The first attempt consumed the fault; the retry read the owner.
    assert_eq!(h.faults_remaining().await?, Vec::<u64>::new());
    assert_eq!(owner.and_then(|o| o.app_id).as_deref(), Some(BOT));
    Ok(())
}

#[tokio::test]
async fn a_thread_control_call_answered_500_is_not_repeated() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.inject(json!({"endpoint": "take_thread_control", "count": 2, "status": 500, "code": 2}))
        .await?;
    let err = h
        .graph
        .take_thread_control(&inbox(), PAGE, "U1", None)
        .await;
    assert!(matches!(err, Err(GraphError::OutcomeUnknown(_))), "{err:?}");
    // One attempt only: Meta may have applied it.
    assert_eq!(h.faults_remaining().await?, vec![1]);
    Ok(())
}

#[tokio::test]
async fn two_read_outages_then_success_within_three_attempts() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.inject(json!({"endpoint": "thread_owner", "count": 2, "status": 503, "code": 1}))
        .await?;
    h.graph.thread_owner(&bot(), PAGE, "U1").await?;
    assert_eq!(h.faults_remaining().await?, Vec::<u64>::new());
    Ok(())
}

#[tokio::test]
async fn a_send_answered_503_is_not_sent_again() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.inject(json!({"endpoint": "messages", "count": 2, "status": 503, "code": 1}))
        .await?;
    let err = h
        .graph
        .send_message(&bot(), PAGE, "U1", &text("hi", MessagingType::Response))
        .await;
    assert!(matches!(err, Err(GraphError::OutcomeUnknown(_))), "{err:?}");
    assert_eq!(h.faults_remaining().await?, vec![1], "one attempt only");
    Ok(())
}

#[tokio::test]
async fn a_send_meta_applied_but_answered_late_is_not_sent_again() -> TestResult {
    let policy =
        RetryPolicy::fast().with_timeouts(Duration::from_secs(2), Duration::from_millis(300));
    let h = Harness::with_policy(policy).await?;
    h.customer_writes("U1").await?;
    h.control(
        "/_emulator/faults/latency",
        json!({"endpoint": "messages", "latency_ms": 10_000, "count": 1, "after_applying": true}),
    )
    .await?;
    let err = h
        .graph
        .send_message(&bot(), PAGE, "U1", &text("once", MessagingType::Response))
        .await;
    assert!(matches!(err, Err(GraphError::OutcomeUnknown(_))), "{err:?}");
    let sent = h.sent_messages("U1").await?;
    assert_eq!(sent.len(), 1, "the customer got the message once: {sent:?}");
    Ok(())
}

#[tokio::test]
async fn a_send_meta_applied_but_answered_500_is_not_sent_again() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.inject(
        json!({"endpoint": "messages", "count": 1, "status": 500, "code": 2,
                    "after_applying": true}),
    )
    .await?;
    let err = h
        .graph
        .send_message(&bot(), PAGE, "U1", &text("once", MessagingType::Response))
        .await;
    assert!(matches!(err, Err(GraphError::OutcomeUnknown(_))), "{err:?}");
    assert_eq!(h.sent_messages("U1").await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_pass_meta_applied_but_answered_late_is_not_repeated() -> TestResult {
    let policy =
        RetryPolicy::fast().with_timeouts(Duration::from_secs(2), Duration::from_millis(300));
    let h = Harness::with_policy(policy).await?;
    h.customer_writes("U1").await?;
    h.control(
        "/_emulator/faults/latency",
        json!({"endpoint": "pass_thread_control", "latency_ms": 10_000, "count": 1,
               "after_applying": true}),
    )
    .await?;
    let err = h
        .graph
        .pass_thread_control(&bot(), PAGE, "U1", INBOX, None)
        .await;
    // Not "not the thread owner" from a repeated pass: the outcome is unknown.
    assert!(matches!(err, Err(GraphError::OutcomeUnknown(_))), "{err:?}");
    assert_eq!(h.true_owner("U1").await?.as_deref(), Some(INBOX));
    Ok(())
}

#[tokio::test]
async fn persistent_5xx_of_a_read_ends_unavailable_after_max_attempts() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.inject(json!({"endpoint": "thread_owner", "count": 5, "status": 502, "code": 2}))
        .await?;
    let err = h.graph.thread_owner(&bot(), PAGE, "U1").await;
    assert!(matches!(err, Err(GraphError::Unavailable(_))), "{err:?}");
    // Three attempts (the default max_attempts) reached the emulator.
    assert_eq!(h.faults_remaining().await?, vec![2]);
    Ok(())
}

#[tokio::test]
async fn permanent_errors_are_not_retried() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.inject(
        json!({"endpoint": "pass_thread_control", "count": 3, "status": 400,
                    "code": 100, "error_subcode": 2_534_037}),
    )
    .await?;
    assert_eq!(
        h.graph
            .pass_thread_control(&bot(), PAGE, "U1", INBOX, None)
            .await,
        Err(GraphError::NotOwner {
            code: 100,
            subcode: 2_534_037
        })
    );
    // Exactly one call reached the emulator.
    assert_eq!(h.faults_remaining().await?, vec![2]);

    h.inject(json!({"endpoint": "*", "count": 1, "status": 400, "code": 190}))
        .await?;
    // The `*` fault comes after the pass fault in the listing; thread_owner hits it.
    assert_eq!(
        h.graph.thread_owner(&bot(), PAGE, "U1").await,
        Err(GraphError::TokenInvalid)
    );
    assert_eq!(h.faults_remaining().await?, vec![2]);
    Ok(())
}

#[tokio::test]
async fn transient_error_then_a_real_refusal_stops_retrying() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    assert_eq!(
        h.graph
            .pass_thread_control(&other(), PAGE, "U1", INBOX, None)
            .await,
        Err(GraphError::NotOwner {
            code: 100,
            subcode: 2_534_037
        })
    );
    h.inject(json!({"endpoint": "thread_owner", "count": 1, "status": 500, "code": 2}))
        .await?;
    h.inject(
        json!({"endpoint": "thread_owner", "count": 2, "status": 400, "code": 100,
                    "error_subcode": 2_018_234}),
    )
    .await?;
    assert_eq!(
        h.graph.thread_owner(&other(), PAGE, "U1").await,
        Err(GraphError::OwnerHidden)
    );
    // 500 (an outage of a read, retried) then the refusal (permanent, not retried).
    assert_eq!(h.faults_remaining().await?, vec![1]);
    Ok(())
}

#[tokio::test]
async fn rate_limits_are_not_retried_inside_the_call() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.inject(json!({"endpoint": "thread_owner", "count": 5, "status": 400, "code": 613}))
        .await?;
    assert_eq!(
        h.graph.thread_owner(&bot(), PAGE, "U1").await,
        Err(GraphError::RateLimited { code: 613 })
    );
    assert_eq!(h.faults_remaining().await?, vec![4], "one attempt only");
    Ok(())
}

#[tokio::test]
async fn rate_limit_code_4_on_a_send_is_answered_at_once() -> TestResult {
    let h = Harness::start().await?;
    h.customer_writes("U1").await?;
    h.inject(json!({"endpoint": "messages", "count": 1, "status": 400, "code": 4}))
        .await?;
    assert_eq!(
        h.graph
            .send_message(&bot(), PAGE, "U1", &text("hi", MessagingType::Response))
            .await,
        Err(GraphError::RateLimited { code: 4 })
    );
    assert_eq!(h.faults_remaining().await?, Vec::<u64>::new());
    assert!(h.sent_messages("U1").await?.is_empty());
    Ok(())
}

#[tokio::test]
async fn max_attempts_is_configurable() -> TestResult {
    let h = Harness::with_policy(RetryPolicy::fast().with_max_attempts(5)).await?;
    h.customer_writes("U1").await?;
    h.inject(json!({"endpoint": "thread_owner", "count": 4, "status": 500, "code": 2}))
        .await?;
    h.graph.thread_owner(&bot(), PAGE, "U1").await?;
    assert_eq!(h.faults_remaining().await?, Vec::<u64>::new());
    Ok(())
}

#[tokio::test]
async fn latency_beyond_the_request_timeout_is_unavailable() -> TestResult {
    let policy = RetryPolicy::fast()
        .with_max_attempts(2)
        .with_timeouts(Duration::from_secs(2), Duration::from_millis(200));
    let h = Harness::with_policy(policy).await?;
    h.customer_writes("U1").await?;
    h.control(
        "/_emulator/faults/latency",
        json!({"endpoint": "thread_owner", "latency_ms": 10_000, "count": null}),
    )
    .await?;
    let err = h.graph.thread_owner(&bot(), PAGE, "U1").await;
    match err {
        Err(GraphError::Unavailable(message)) => {
            assert!(message.contains("timed out"), "{message}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn connection_refused_is_unavailable() -> TestResult {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);
    let graph = GraphClient::new(
        &format!("http://{addr}"),
        "v23.0",
        RetryPolicy::fast().with_max_attempts(2),
    )?;
    let err = graph.thread_owner(&bot(), PAGE, "U1").await;
    assert!(matches!(err, Err(GraphError::Unavailable(_))), "{err:?}");
    // A send that never reached Meta is known to have changed nothing.
    let err = graph
        .send_message(&bot(), PAGE, "U1", &text("hi", MessagingType::Response))
        .await;
    assert!(matches!(err, Err(GraphError::Unavailable(_))), "{err:?}");
    Ok(())
}

// ---------------------------------------------------------------- a raw HTTP stub

/// Answers every request with one fixed response and records each request's bytes;
/// `graph` is a `GraphClient` (default retries) pointed at it.
struct Stub {
    graph: GraphClient,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Stub {
    async fn start(
        status: u16,
        content_type: &'static str,
        body: &'static str,
    ) -> Result<Stub, BoxError> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    recorded.lock().expect("lock").push(request);
                    let answer = format!(
                        "HTTP/1.1 {status} Stub\r\ncontent-type: {content_type}\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        let graph = GraphClient::new(&base_url, "v23.0", RetryPolicy::fast())?;
        Ok(Stub { graph, requests })
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("lock").clone()
    }
}

/// Reads one HTTP/1.1 request (head and a `content-length` body) as text.
async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return Some(text);
            }
        }
    }
}

#[tokio::test]
async fn token_goes_in_the_authorization_header_only() -> TestResult {
    let stub = Stub::start(200, "application/json", r#"{"success":true}"#).await?;
    stub.graph
        .pass_thread_control(&bot(), PAGE, "U1", INBOX, Some("why"))
        .await?;
    stub.graph
        .extend_thread_control(&bot(), PAGE, "U1", 3600)
        .await?;
    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    let pass = &requests[0];
    let (head, body) = pass.split_once("\r\n\r\n").ok_or("no head")?;
    let request_line = head.lines().next().ok_or("no request line")?;
    assert_eq!(
        request_line,
        "POST /v23.0/PAGE1/pass_thread_control HTTP/1.1"
    );
    assert!(head
        .lines()
        .any(|line| line.eq_ignore_ascii_case("authorization: Bearer tok-bot")));
    assert!(!request_line.contains("tok-bot"));
    assert!(!body.contains("tok-bot"));
    assert_eq!(
        serde_json::from_str::<Value>(body)?,
        json!({"recipient": {"id": "U1"}, "target_app_id": INBOX, "metadata": "why"})
    );
    let (_, extend_body) = requests[1].split_once("\r\n\r\n").ok_or("no head")?;
    assert_eq!(
        serde_json::from_str::<Value>(extend_body)?,
        json!({"recipient": {"id": "U1"}, "duration": 3600})
    );
    Ok(())
}

#[tokio::test]
async fn thread_owner_query_and_millisecond_expiry() -> TestResult {
    let stub = Stub::start(
        200,
        "application/json",
        r#"{"data":[{"thread_owner":{"app_id":2002,"expiration":1795348702753}}]}"#,
    )
    .await?;
    assert_eq!(
        stub.graph.thread_owner(&bot(), PAGE, "U1").await?,
        Some(ThreadOwner {
            app_id: Some(INBOX.to_owned()),
            expires_at: Some(1_795_348_702),
        })
    );
    let requests = stub.requests();
    let request_line = requests[0].lines().next().ok_or("no request line")?;
    assert_eq!(
        request_line,
        "GET /v23.0/PAGE1/thread_owner?recipient=U1 HTTP/1.1"
    );
    Ok(())
}

#[tokio::test]
async fn take_accepts_the_older_data_answer() -> TestResult {
    let stub = Stub::start(
        200,
        "application/json",
        r#"{"data":[{"thread_owner":{"app_id":"2002","expiration":1795348702}}]}"#,
    )
    .await?;
    stub.graph
        .take_thread_control(&inbox(), PAGE, "U1", None)
        .await?;
    Ok(())
}

#[tokio::test]
async fn success_false_is_an_error_and_not_retried() -> TestResult {
    let stub = Stub::start(200, "application/json", r#"{"success":false}"#).await?;
    let err = stub
        .graph
        .release_thread_control(&inbox(), PAGE, "U1", None)
        .await;
    assert!(
        matches!(err, Err(GraphError::Other { status: 200, .. })),
        "{err:?}"
    );
    assert_eq!(stub.requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn non_json_5xx_ends_a_send_at_once_and_a_read_after_retries() -> TestResult {
    let stub = Stub::start(502, "text/html", "<html>Bad Gateway</html>").await?;
    let err = stub
        .graph
        .send_message(&bot(), PAGE, "U1", &text("hi", MessagingType::Response))
        .await;
    assert!(matches!(err, Err(GraphError::OutcomeUnknown(_))), "{err:?}");
    assert_eq!(stub.requests().len(), 1, "a send is never repeated");
    let err = stub.graph.thread_owner(&bot(), PAGE, "U1").await;
    assert!(matches!(err, Err(GraphError::Unavailable(_))), "{err:?}");
    assert_eq!(stub.requests().len(), 4, "a read is, up to 3 attempts");
    Ok(())
}

#[tokio::test]
async fn non_json_4xx_is_permanent() -> TestResult {
    let stub = Stub::start(404, "text/plain", "not found").await?;
    let err = stub.graph.thread_owner(&bot(), PAGE, "U1").await;
    assert!(
        matches!(err, Err(GraphError::Other { status: 404, .. })),
        "{err:?}"
    );
    assert_eq!(stub.requests().len(), 1);
    Ok(())
}
