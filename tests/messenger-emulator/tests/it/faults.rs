//! Fault injection: Graph errors, latency, duplicate / reversed / dropped deliveries,
//! retries of failed deliveries.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::*;

#[tokio::test]
async fn injected_rate_limit_errors_fail_the_next_calls_only() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let (status, faults) = env
        .post(
            "/_emulator/faults/graph-error",
            json!({"endpoint": "messages", "count": 2, "code": 613}),
        )
        .await;
    assert_eq!(status, 200, "{faults}");
    assert_eq!(faults["graph_errors"][0]["remaining"], 2);
    for _ in 0..2 {
        let answer = env.send_text(BOT_TOKEN, "U1", "x").await;
        assert_graph_error(&answer, 613, None);
        assert_eq!(
            answer.1["error"]["message"],
            "(#613) Calls to this api have exceeded the rate limit."
        );
    }
    assert_eq!(env.send_text(BOT_TOKEN, "U1", "x").await.0, 200);

    // Any code, subcode, status and message; `*` matches every endpoint.
    env.post(
        "/_emulator/faults/graph-error",
        json!({"endpoint": "*", "status": 403, "code": 4, "error_subcode": 1_349_210,
               "message": "(#4) Application request limit reached"}),
    )
    .await;
    let (status, body) = env.thread_owner(BOT_TOKEN, "U1").await;
    assert_eq!(status, 403);
    assert_eq!(body["error"]["code"], 4);
    assert_eq!(body["error"]["error_subcode"], 1_349_210);
    assert_eq!(
        body["error"]["message"],
        "(#4) Application request limit reached"
    );
    assert_eq!(env.thread_owner(BOT_TOKEN, "U1").await.0, 200);

    // Codes 17 and 32 on thread control; the failed call changes nothing.
    for code in [17, 32] {
        env.post(
            "/_emulator/faults/graph-error",
            json!({"endpoint": "pass_thread_control", "code": code}),
        )
        .await;
        let answer = env.pass(BOT_TOKEN, "U1", INBOX).await;
        assert_graph_error(&answer, code, None);
        assert_eq!(env.thread("U1").await["owner_app_id"], BOT);
    }

    let (status, _) = env
        .post(
            "/_emulator/faults/graph-error",
            json!({"endpoint": "nope", "code": 4}),
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn latency_delays_the_call_before_it_is_handled() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let (status, faults) = env
        .post(
            "/_emulator/faults/latency",
            json!({"endpoint": "messages", "latency_ms": 120_000, "count": 1}),
        )
        .await;
    assert_eq!(status, 200, "{faults}");
    assert_eq!(faults["latencies"][0]["latency_ms"], 120_000);

    let http = env.http.clone();
    let url = env.url(&format!("/{VERSION}/{PAGE}/messages"));
    let slow = tokio::spawn(async move {
        http.post(url)
            .bearer_auth(BOT_TOKEN)
            .json(&json!({"recipient": {"id": "U1"}, "messaging_type": "RESPONSE", "message": {"text": "slow"}}))
            .send()
            .await
    });
    // Wait until the call has reached the emulator (it consumed the one-shot fault).
    let arrived = async {
        loop {
            let (_, faults) = env.get("/_emulator/faults").await;
            if faults["latencies"] == json!([]) {
                break;
            }
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), arrived)
        .await
        .expect("the delayed call reached the emulator");
    // Other endpoints are not delayed, and the delayed call has not been handled yet.
    assert_eq!(env.thread_owner(BOT_TOKEN, "U1").await.0, 200);
    let (_, list) = env.get("/_emulator/messages").await;
    assert_eq!(list["messages"], json!([]));
    assert!(!slow.is_finished());
    slow.abort();

    // Latency without count applies until reset.
    env.post(
        "/_emulator/faults/latency",
        json!({"endpoint": "thread_owner", "latency_ms": 1}),
    )
    .await;
    for _ in 0..3 {
        assert_eq!(env.thread_owner(BOT_TOKEN, "U1").await.0, 200);
    }
    let (_, faults) = env.get("/_emulator/faults").await;
    assert_eq!(faults["latencies"][0]["remaining"], json!(null));
    let (status, faults) = env.post("/_emulator/faults/reset", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(faults["latencies"], json!([]));
}

#[tokio::test]
async fn a_late_answer_applies_the_call_and_answers_after_the_clients_timeout() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let (status, faults) = env
        .post(
            "/_emulator/faults/latency",
            json!({"endpoint": "messages", "latency_ms": 120_000, "count": 1,
                   "after_applying": true}),
        )
        .await;
    assert_eq!(status, 200, "{faults}");
    assert_eq!(faults["latencies"][0]["after_applying"], true);
    // A client that gives up long before the answer.
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let answer = impatient
        .post(env.url(&format!("/{VERSION}/{PAGE}/messages")))
        .bearer_auth(BOT_TOKEN)
        .json(
            &json!({"recipient": {"id": "U1"}, "messaging_type": "RESPONSE",
                      "message": {"text": "late"}}),
        )
        .send()
        .await;
    assert!(answer.is_err_and(|err| err.is_timeout()));
    // Meta processed it all the same: the message was sent, once.
    let (_, list) = env.get("/_emulator/messages").await;
    let texts: Vec<&Value> = list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["text"])
        .collect();
    assert_eq!(texts, [&json!("late")]);
}

#[tokio::test]
async fn an_error_after_applying_changes_the_thread_and_answers_the_error() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    env.post(
        "/_emulator/faults/graph-error",
        json!({"endpoint": "pass_thread_control", "status": 500, "code": 2,
               "after_applying": true}),
    )
    .await;
    let answer = env.pass(BOT_TOKEN, "U1", INBOX).await;
    assert_eq!(answer.0, 500, "{}", answer.1);
    assert_eq!(answer.1["error"]["code"], 2, "{}", answer.1);
    assert_eq!(env.thread("U1").await["owner_app_id"], INBOX);
    // The next call is answered normally: the bot no longer owns it.
    assert_graph_error(
        &env.pass(BOT_TOKEN, "U1", INBOX).await,
        100,
        Some(2_534_037),
    );
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_the_same_body() {
    let env = Env::start().await;
    env.rx.fail_next(2);
    env.customer_says("U1", "retry me").await;
    env.settle().await;
    let attempts: Vec<Value> = env.deliveries(BOT).await;
    // The bot's delivery and the inbox's share the queue order, so the two failures may
    // fall on either; together there are 2 failed attempts and 2 successful deliveries.
    let mut all = attempts.clone();
    all.extend(env.deliveries(INBOX).await);
    let failed: Vec<&Value> = all.iter().filter(|a| a["outcome"] == "failed").collect();
    let delivered: Vec<&Value> = all.iter().filter(|a| a["outcome"] == "delivered").collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(delivered.len(), 2);
    for attempt in &failed {
        assert_eq!(attempt["status"], 500);
    }
    for record in &all {
        let same_delivery: Vec<&Value> = all
            .iter()
            .filter(|r| r["delivery_id"] == record["delivery_id"])
            .collect();
        for other in same_delivery {
            assert_eq!(other["body"], record["body"]);
            assert_eq!(other["signature"], record["signature"]);
        }
    }
    // The receiver saw 4 POSTs, all validly signed.
    let hits = env.rx.hits();
    assert_eq!(hits.len(), 4);
    assert!(hits.iter().all(|h| h.signature_valid));
}

#[tokio::test]
async fn delivery_gives_up_after_max_attempts() {
    let env = Env::start_with(|doc| doc["delivery"]["max_attempts"] = json!(3)).await;
    env.rx.fail_next(100);
    env.customer_says("U1", "nobody home").await;
    env.settle().await;
    let attempts = env.deliveries(BOT).await;
    assert_eq!(attempts.len(), 3);
    let numbers: Vec<i64> = attempts
        .iter()
        .map(|a| a["attempt"].as_i64().expect("n"))
        .collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(attempts.iter().all(|a| a["outcome"] == "failed"));
}

#[tokio::test]
async fn duplicate_delivers_the_next_webhooks_twice() {
    let env = Env::start().await;
    let (status, faults) = env
        .post("/_emulator/faults/duplicate", json!({"count": 1}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(faults["duplicate_remaining"], 1);
    env.customer_says("U1", "once").await;
    env.settle().await;
    let bot = env.rx.hits_for(BOT);
    assert_eq!(
        bot.len(),
        2,
        "the first webhook (to the owner) is delivered twice"
    );
    assert_eq!(bot[0].body, bot[1].body);
    assert!(bot.iter().all(|h| h.signature_valid));
    assert_eq!(
        env.rx.hits_for(INBOX).len(),
        1,
        "only the next 1 webhook is duplicated"
    );
    let records = env.deliveries(BOT).await;
    assert_eq!(records.iter().filter(|r| r["duplicate"] == true).count(), 1);
}

#[tokio::test]
async fn reverse_releases_when_count_is_collected() {
    let env = Env::start().await;
    // Each customer message produces 2 webhooks (bot on messaging, inbox on standby).
    env.post("/_emulator/faults/reverse", json!({"count": 4}))
        .await;
    env.customer_says("U1", "first").await;
    env.customer_says("U1", "second").await;
    env.customer_says("U1", "third").await;
    env.settle().await;
    assert_eq!(env.rx.texts_for(BOT), ["second", "first", "third"]);
    assert_eq!(env.rx.texts_for(INBOX), ["second", "first", "third"]);
    // Timestamps let a receiver restore the order.
    let stamps: Vec<i64> = env
        .rx
        .events_for(BOT)
        .iter()
        .map(|(_, e)| e["timestamp"].as_i64().expect("ts"))
        .collect();
    assert!(stamps[0] >= stamps[1]);
}

#[tokio::test]
async fn reverse_holds_until_settle() {
    let env = Env::start().await;
    env.post("/_emulator/faults/reverse", json!({"count": 100}))
        .await;
    env.customer_says("U1", "first").await;
    env.customer_says("U1", "second").await;
    let (_, faults) = env.get("/_emulator/faults").await;
    assert_eq!(faults["reverse"], json!({"count": 100, "held": 4}));
    assert!(
        env.deliveries(BOT).await.is_empty(),
        "held deliveries are not attempted"
    );
    env.settle().await;
    assert_eq!(env.rx.texts_for(BOT), ["second", "first"]);
    let (_, faults) = env.get("/_emulator/faults").await;
    assert_eq!(faults["reverse"], json!(null));
}

#[tokio::test]
async fn drop_first_attempt_forces_a_retry() {
    let env = Env::start().await;
    let (status, faults) = env
        .post("/_emulator/faults/drop-first-attempt", json!({"count": 1}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(faults["drop_first_attempt_remaining"], 1);
    env.customer_says("U1", "lost once").await;
    env.settle().await;
    let attempts = env.deliveries(BOT).await;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["attempt"], 1);
    assert_eq!(attempts[0]["outcome"], "dropped");
    assert_eq!(attempts[0]["status"], json!(null));
    assert_eq!(attempts[1]["attempt"], 2);
    assert_eq!(attempts[1]["outcome"], "delivered");
    assert_eq!(attempts[0]["delivery_id"], attempts[1]["delivery_id"]);
    assert_eq!(
        env.rx.hits_for(BOT).len(),
        1,
        "the receiver only saw the retry"
    );
    assert_eq!(env.deliveries(INBOX).await.len(), 1);
}

#[tokio::test]
async fn drop_every_attempt_makes_meta_give_up() {
    let env = Env::start().await;
    let (status, faults) = env
        .post("/_emulator/faults/drop-every-attempt", json!({"count": 1}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(faults["drop_every_attempt_remaining"], 1);
    env.customer_says("U1", "never arrives").await;
    env.customer_says("U1", "arrives").await;
    env.settle().await;
    let mut attempts = env.deliveries(BOT).await;
    attempts.extend(env.deliveries(INBOX).await);
    let lost: Vec<&Value> = attempts
        .iter()
        .filter(|a| a["outcome"] == "dropped")
        .collect();
    assert!(
        lost.len() > 1,
        "every attempt of one delivery: {attempts:?}"
    );
    assert!(lost
        .iter()
        .all(|a| a["delivery_id"] == lost[0]["delivery_id"]));
    let loser = lost[0]["app_id"].as_str().expect("app id");
    assert_eq!(
        env.rx.texts_for(loser),
        ["arrives"],
        "Meta gave up on the first"
    );
    let other = if loser == BOT { INBOX } else { BOT };
    assert_eq!(env.rx.texts_for(other), ["never arrives", "arrives"]);
}

#[tokio::test]
async fn reset_clears_every_fault_and_releases_held_deliveries() {
    let env = Env::start().await;
    env.post(
        "/_emulator/faults/graph-error",
        json!({"endpoint": "messages", "code": 4, "count": 5}),
    )
    .await;
    env.post("/_emulator/faults/duplicate", json!({"count": 5}))
        .await;
    env.post("/_emulator/faults/drop-first-attempt", json!({"count": 5}))
        .await;
    env.post(
        "/_emulator/faults/latency",
        json!({"endpoint": "*", "latency_ms": 1}),
    )
    .await;
    env.post("/_emulator/faults/reverse", json!({"count": 50}))
        .await;
    env.customer_says("U1", "held").await;
    env.post("/_emulator/faults/drop-every-attempt", json!({"count": 5}))
        .await;
    let response = env
        .http
        .delete(env.url("/_emulator/faults"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status().as_u16(), 200);
    let faults: Value = response.json().await.expect("json");
    assert_eq!(
        faults,
        json!({"graph_errors": [], "latencies": [], "duplicate_remaining": 0,
               "drop_first_attempt_remaining": 0, "drop_every_attempt_remaining": 0,
               "reverse": null})
    );
    assert_eq!(env.send_text(BOT_TOKEN, "U1", "ok").await.0, 200);
    env.emu
        .settle(Duration::from_secs(30))
        .await
        .expect("settled");
    // The held message went out (duplicated and with a dropped first attempt, as queued).
    assert!(env
        .rx
        .events_for(BOT)
        .iter()
        .any(|(_, e)| e["message"]["text"] == "held"));
}

#[tokio::test]
async fn settle_reports_pending_on_timeout() {
    // The receiver fails every delivery and the backoff is long: deliveries stay pending.
    let env = Env::start_with(|doc| {
        doc["delivery"] = json!({"max_attempts": 10, "backoff_ms": 60_000, "timeout_ms": 1000});
    })
    .await;
    env.rx.fail_next(1000);
    env.customer_says("U1", "hi").await;
    let (status, body) = env
        .post("/_emulator/settle", json!({"timeout_ms": 1}))
        .await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["settled"], false);
    assert!(body["pending"].as_u64() >= Some(1));
}
