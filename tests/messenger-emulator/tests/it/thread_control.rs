//! Thread-control success paths, handover webhook shapes, expiry and parameter forms.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn pass_moves_control_and_notifies_the_new_owner() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let answer = env
        .graph_post(
            BOT_TOKEN,
            "pass_thread_control",
            json!({"recipient": {"id": "U1"}, "target_app_id": INBOX, "metadata": "wants a human"}),
        )
        .await;
    assert_eq!(answer, (200, json!({"success": true})));
    env.settle().await;
    let inbox = env.rx.events_for(INBOX);
    let (channel, event) = inbox.last().expect("pass event");
    assert_eq!(channel, "messaging");
    assert_eq!(event["sender"]["id"], "U1");
    assert_eq!(event["recipient"]["id"], PAGE);
    assert!(event["timestamp"].is_i64());
    assert_eq!(
        event["pass_thread_control"],
        json!({"previous_owner_app_id": BOT, "new_owner_app_id": INBOX, "metadata": "wants a human"})
    );
    assert_eq!(env.thread("U1").await["owner_app_id"], INBOX);
    // Customer messages now reach the inbox on messaging and the bot on standby.
    env.customer_says("U1", "are you human?").await;
    env.settle().await;
    assert_eq!(env.rx.events_for(INBOX).last().expect("msg").0, "messaging");
    assert_eq!(env.rx.events_for(BOT).last().expect("msg").0, "standby");
    // thread_owner as the owner and as the default app.
    for token in [INBOX_TOKEN, BOT_TOKEN] {
        let (status, body) = env.thread_owner(token, "U1").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"][0]["thread_owner"]["app_id"], INBOX);
        let expiration = body["data"][0]["thread_owner"]["expiration"]
            .as_i64()
            .expect("expiration");
        let thread = env.thread("U1").await;
        assert_eq!(
            expiration,
            thread["expires_at"].as_i64().expect("expires_at")
        );
        assert_eq!(
            expiration,
            thread["expires_at_ms"].as_i64().expect("ms") / 1000
        );
    }
}

#[tokio::test]
async fn default_app_passes_an_idle_thread_with_null_previous_owner() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    env.advance(86_401).await;
    assert_eq!(env.thread("U1").await["idle"], true);
    let answer = env.pass(BOT_TOKEN, "U1", INBOX).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    env.settle().await;
    let (_, event) = env.rx.events_for(INBOX).pop().expect("event");
    assert_eq!(
        event["pass_thread_control"],
        json!({"previous_owner_app_id": null, "new_owner_app_id": INBOX})
    );
}

#[tokio::test]
async fn take_notifies_the_app_that_lost_control() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let answer = env
        .graph_post(
            INBOX_TOKEN,
            "take_thread_control",
            json!({"recipient": {"id": "U1"}, "metadata": "agent took over"}),
        )
        .await;
    assert_eq!(answer, (200, json!({"success": true})));
    env.settle().await;
    let (channel, event) = env.rx.events_for(BOT).pop().expect("take event");
    assert_eq!(channel, "messaging");
    assert_eq!(
        event["take_thread_control"],
        json!({"previous_owner_app_id": BOT, "new_owner_app_id": INBOX, "metadata": "agent took over"})
    );
    assert_eq!(env.thread("U1").await["owner_app_id"], INBOX);
    // The inbox can now send; the bot cannot.
    assert_eq!(env.send_text(INBOX_TOKEN, "U1", "agent").await.0, 200);
}

#[tokio::test]
async fn request_is_sent_to_the_owner_and_changes_nothing() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let answer = env
        .graph_post(
            INBOX_TOKEN,
            "request_thread_control",
            json!({"recipient": {"id": "U1"}, "metadata": "please"}),
        )
        .await;
    assert_eq!(answer, (200, json!({"success": true})));
    env.settle().await;
    let (channel, event) = env.rx.events_for(BOT).pop().expect("request event");
    assert_eq!(channel, "messaging");
    assert_eq!(
        event["request_thread_control"],
        json!({"requested_owner_app_id": INBOX, "metadata": "please"})
    );
    assert_eq!(env.thread("U1").await["owner_app_id"], BOT);
}

#[tokio::test]
async fn release_makes_the_thread_idle_and_the_default_app_answers_next() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    env.pass(BOT_TOKEN, "U1", INBOX).await;
    let answer = env.release(INBOX_TOKEN, "U1").await;
    assert_eq!(answer, (200, json!({"success": true})));
    let thread = env.thread("U1").await;
    assert_eq!(thread["idle"], true);
    assert_eq!(thread["owner_app_id"], json!(null));
    assert_eq!(
        env.thread_owner(BOT_TOKEN, "U1").await,
        (200, json!({"data": []}))
    );
    let answer = env.customer_says("U1", "back").await;
    assert_eq!(answer["owner_app_id"], BOT);
    env.settle().await;
    assert_eq!(env.rx.events_for(BOT).last().expect("msg").0, "messaging");
    assert_eq!(env.rx.events_for(INBOX).last().expect("msg").0, "standby");
}

#[tokio::test]
async fn extend_keeps_control_beyond_24_hours() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    env.pass(BOT_TOKEN, "U1", INBOX).await;
    let before = env.thread("U1").await["now_ms"].as_i64().expect("now");
    let answer = env.extend(INBOX_TOKEN, "U1", 604_800).await;
    assert_eq!(answer, (200, json!({"success": true})));
    let thread = env.thread("U1").await;
    let expires = thread["expires_at_ms"].as_i64().expect("expiry");
    assert!(expires >= before + 604_800_000);
    assert!(expires <= thread["now_ms"].as_i64().expect("now") + 604_800_000);
    env.advance(3 * 86_400).await;
    let thread = env.thread("U1").await;
    assert_eq!(thread["owner_app_id"], INBOX);
    // HUMAN_AGENT replies are allowed up to 7 days after the customer's last message.
    let answer = env
        .graph_post(
            INBOX_TOKEN,
            "messages",
            json!({"recipient": {"id": "U1"}, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT",
                   "message": {"text": "Sorry for the wait"}}),
        )
        .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    env.advance(4 * 86_400 + 1).await;
    assert_eq!(env.thread("U1").await["idle"], true);
}

#[tokio::test]
async fn control_expires_after_24_hours_without_customer_messages() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    env.pass(BOT_TOKEN, "U1", INBOX).await;
    env.advance(86_399).await;
    assert_eq!(env.thread("U1").await["owner_app_id"], INBOX);
    env.advance(2).await;
    let thread = env.thread("U1").await;
    assert_eq!(thread["idle"], true);
    assert_eq!(
        env.thread_owner(INBOX_TOKEN, "U1").await,
        (200, json!({"data": []}))
    );
    // The idle rule: the next customer message gives control to the default app.
    let answer = env.customer_says("U1", "anyone?").await;
    assert_eq!(answer["owner_app_id"], BOT);
    env.settle().await;
    assert_eq!(env.rx.events_for(BOT).last().expect("msg").0, "messaging");
    assert_eq!(env.rx.events_for(INBOX).last().expect("msg").0, "standby");
}

#[tokio::test]
async fn clock_advances_and_timestamps_follow_it() {
    let env = Env::start().await;
    let (status, before) = env.get("/_emulator/clock").await;
    assert_eq!(status, 200);
    let (status, after) = env
        .post("/_emulator/clock/advance", json!({"seconds": 3600}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        after["offset_ms"],
        before["offset_ms"].as_i64().expect("offset") + 3_600_000
    );
    assert!(after["now_ms"].as_i64() >= Some(before["now_ms"].as_i64().expect("now") + 3_600_000));
    let answer = env.customer_says("U1", "hi").await;
    assert!(answer["timestamp"].as_i64() >= after["now_ms"].as_i64());
    let (status, _) = env
        .post("/_emulator/clock/advance", json!({"seconds": -1}))
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn send_with_thread_control_pass_echoes_then_passes() {
    let env = Env::start().await;
    env.customer_says("U1", "talk to human").await;
    let answer = env
        .graph_post(
            BOT_TOKEN,
            "messages",
            json!({"recipient": {"id": "U1"}, "messaging_type": "RESPONSE",
                   "message": {"text": "Connecting you"},
                   "thread_control": {"control_type": "pass", "app_id": INBOX}}),
        )
        .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    env.settle().await;
    let bot = env.rx.events_for(BOT);
    assert_eq!(bot[1].0, "messaging");
    assert_eq!(bot[1].1["message"]["is_echo"], true);
    let inbox = env.rx.events_for(INBOX);
    assert_eq!(inbox[1].0, "standby");
    assert_eq!(inbox[1].1["message"]["app_id"], BOT);
    assert_eq!(
        inbox[2].1["pass_thread_control"],
        json!({"previous_owner_app_id": BOT, "new_owner_app_id": INBOX})
    );
    assert_eq!(env.thread("U1").await["owner_app_id"], INBOX);

    // And release through the Send API.
    let answer = env
        .graph_post(
            INBOX_TOKEN,
            "messages",
            json!({"recipient": {"id": "U1"}, "messaging_type": "RESPONSE",
                   "message": {"text": "Done"}, "thread_control": {"control_type": "release"}}),
        )
        .await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(env.thread("U1").await["idle"], true);
}

#[tokio::test]
async fn default_app_sending_to_an_idle_thread_becomes_owner() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    env.release(BOT_TOKEN, "U1").await;
    assert_eq!(env.thread("U1").await["idle"], true);
    assert_eq!(env.send_text(BOT_TOKEN, "U1", "still here").await.0, 200);
    assert_eq!(env.thread("U1").await["owner_app_id"], BOT);
}

#[tokio::test]
async fn parameters_as_form_query_and_bearer_and_me() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    // Form body, recipient as a JSON string, page node `me`.
    let response = env
        .http
        .post(env.url(&format!("/{VERSION}/me/pass_thread_control")))
        .form(&[
            ("recipient", r#"{"id":"U1"}"#),
            ("target_app_id", INBOX),
            ("metadata", "form"),
            ("access_token", BOT_TOKEN),
        ])
        .send()
        .await
        .expect("call");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<serde_json::Value>().await.expect("json"),
        json!({"success": true})
    );
    // Everything in the query string, token as Authorization: Bearer.
    let response = env
        .http
        .post(env.url(&format!("/{VERSION}/{PAGE}/extend_thread_control")))
        .query(&[("recipient", r#"{"id":"U1"}"#), ("duration", "3600")])
        .bearer_auth(INBOX_TOKEN)
        .send()
        .await
        .expect("call");
    assert_eq!(response.status().as_u16(), 200);
    // thread_owner with a bare PSID and the token in the query.
    let (status, body) = env.thread_owner(INBOX_TOKEN, "U1").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["thread_owner"]["app_id"], INBOX);
    // Send API by form.
    let response = env
        .http
        .post(env.url(&format!("/{VERSION}/me/messages")))
        .form(&[
            ("recipient", r#"{"id":"U1"}"#),
            ("messaging_type", "RESPONSE"),
            ("message", r#"{"text":"hi by form"}"#),
            ("access_token", INBOX_TOKEN),
        ])
        .send()
        .await
        .expect("call");
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn seeded_thread_state() {
    let env = Env::start().await;
    let response = env
        .http
        .put(env.url(&format!("/_emulator/threads/{PAGE}/U9")))
        .json(&json!({"owner_app_id": INBOX, "expires_in_secs": 60, "last_customer_message_secs_ago": 3600}))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status().as_u16(), 200);
    let view: serde_json::Value = response.json().await.expect("json");
    assert_eq!(view["owner_app_id"], INBOX);
    let now = view["now_ms"].as_i64().expect("now");
    assert_eq!(view["expires_at_ms"].as_i64(), Some(now + 60_000));
    assert_eq!(
        view["last_customer_message_at_ms"].as_i64(),
        Some(now - 3_600_000)
    );
    env.advance(61).await;
    assert_eq!(env.thread("U9").await["idle"], true);
}
