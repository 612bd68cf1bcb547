//! Customer events, echoes and their webhook delivery (messaging vs standby, signatures,
//! Meta's escaping).

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn idle_thread_goes_to_default_app_on_messaging_and_others_on_standby() {
    let env = Env::start().await;
    let answer = env.customer_says("U1", "hello").await;
    assert_eq!(answer["owner_app_id"], BOT);
    let mid = answer["mid"].as_str().expect("mid").to_owned();
    assert!(mid.starts_with("m_"));
    env.settle().await;

    let thread = env.thread("U1").await;
    assert_eq!(thread["owner_app_id"], BOT);
    assert_eq!(thread["idle"], false);
    let now = thread["now_ms"].as_i64().expect("now");
    assert_eq!(
        thread["expires_at_ms"].as_i64(),
        Some(answer["timestamp"].as_i64().expect("ts") + 86_400_000)
    );
    assert!(thread["expires_at_ms"].as_i64().expect("expiry") > now);

    // The owner on messaging, every standby app on standby, nothing to the app without
    // standby permission nor to the app without a role.
    let bot = env.rx.events_for(BOT);
    let inbox = env.rx.events_for(INBOX);
    assert_eq!(bot.len(), 1);
    assert_eq!(inbox.len(), 1);
    assert!(env.rx.hits_for(QUIET).is_empty());
    assert!(env.rx.hits_for(NO_ROLE).is_empty());
    let (channel, event) = &bot[0];
    assert_eq!(channel, "messaging");
    assert_eq!(event["sender"]["id"], "U1");
    assert_eq!(event["recipient"]["id"], PAGE);
    assert_eq!(event["message"], json!({"mid": mid, "text": "hello"}));
    assert_eq!(event["timestamp"], answer["timestamp"]);
    assert_eq!(inbox[0].0, "standby");
    assert_eq!(inbox[0].1["message"]["mid"], json!(mid));

    // Envelope and signatures.
    for hit in env.rx.hits() {
        assert!(hit.signature_valid, "bad signature for {}", hit.app_id);
        let sig = hit.signature.as_deref().expect("signature header");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        let body = hit.json();
        assert_eq!(body["entry"][0]["id"], PAGE);
        assert!(body["entry"][0]["time"].is_i64());
    }
    // The emulator's record matches what was received.
    let records = env.deliveries(BOT).await;
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["status"], 200);
    assert_eq!(record["outcome"], "delivered");
    assert_eq!(record["channel"], "messaging");
    assert_eq!(record["kind"], "message");
    assert_eq!(record["attempt"], 1);
    let hit = &env.rx.hits_for(BOT)[0];
    assert_eq!(
        record["body"].as_str().expect("body").as_bytes(),
        &hit.body[..]
    );
    assert_eq!(record["signature"].as_str(), hit.signature.as_deref());
}

#[tokio::test]
async fn quick_reply_payload_is_delivered() {
    let env = Env::start().await;
    let (status, body) = env
        .post(
            "/_emulator/customer/message",
            json!({"page_id": PAGE, "psid": "U2", "text": "Agent", "quick_reply_payload": "TALK_TO_HUMAN"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    env.settle().await;
    let bot = env.rx.events_for(BOT);
    assert_eq!(
        bot[0].1["message"]["quick_reply"],
        json!({"payload": "TALK_TO_HUMAN"})
    );
}

#[tokio::test]
async fn standby_postbacks_carry_no_payload() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let (status, answer) = env
        .post(
            "/_emulator/customer/postback",
            json!({"psid": "U1", "title": "Details", "payload": "TALK_TO_HUMAN"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    env.settle().await;
    let bot = env.rx.events_for(BOT);
    let (channel, event) = &bot[1];
    assert_eq!(channel, "messaging");
    assert_eq!(
        event["postback"],
        json!({"title": "Details", "payload": "TALK_TO_HUMAN", "mid": answer["mid"]})
    );
    let inbox = env.rx.events_for(INBOX);
    let (channel, event) = &inbox[1];
    assert_eq!(channel, "standby");
    assert_eq!(event["postback"], json!({"title": "Details"}));
}

#[tokio::test]
async fn reads_follow_the_owner() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let (status, answer) = env
        .post(
            "/_emulator/customer/read",
            json!({"psid": "U1", "watermark": 1234}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["owner_app_id"], BOT);
    env.settle().await;
    let bot = env.rx.events_for(BOT);
    assert_eq!(bot[1].0, "messaging");
    assert_eq!(bot[1].1["read"], json!({"watermark": 1234}));
    assert_eq!(env.rx.events_for(INBOX)[1].0, "standby");
}

#[tokio::test]
async fn send_api_echoes_go_to_every_subscribed_app() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let (status, sent) = env
        .graph_post(
            BOT_TOKEN,
            "messages",
            json!({"recipient": {"id": "U1"}, "messaging_type": "RESPONSE",
                   "message": {"text": "Hello from the bot", "metadata": "bot-meta"}}),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["recipient_id"], "U1");
    let mid = sent["message_id"].as_str().expect("message_id").to_owned();
    assert!(mid.starts_with("m_"));
    env.settle().await;

    let echo = json!({"is_echo": true, "app_id": BOT, "mid": mid,
                      "text": "Hello from the bot", "metadata": "bot-meta"});
    let bot = env.rx.events_for(BOT);
    assert_eq!(bot[1].0, "messaging");
    assert_eq!(bot[1].1["message"], echo);
    assert_eq!(bot[1].1["sender"]["id"], PAGE);
    assert_eq!(bot[1].1["recipient"]["id"], "U1");
    let inbox = env.rx.events_for(INBOX);
    assert_eq!(inbox[1].0, "standby");
    assert_eq!(inbox[1].1["message"], echo);
    assert!(env.rx.hits_for(QUIET).is_empty());

    let (status, list) = env.get("/_emulator/messages?psid=U1").await;
    assert_eq!(status, 200);
    let messages = list["messages"].as_array().expect("messages");
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["message_id"], json!(mid));
    assert_eq!(messages[0]["app_id"], BOT);
    assert_eq!(messages[0]["text"], "Hello from the bot");
    assert_eq!(messages[0]["messaging_type"], "RESPONSE");
}

#[tokio::test]
async fn non_ascii_is_escaped_and_signed_over_the_exact_bytes() {
    let env = Env::start().await;
    env.customer_says("U1", "Grüße ä 😀 https://x.test/a").await;
    let (status, _) = env.send_text(BOT_TOKEN, "U1", "Tschüß").await;
    assert_eq!(status, 200);
    env.settle().await;
    let hits = env.rx.hits_for(BOT);
    assert_eq!(hits.len(), 2);
    let customer = &hits[0];
    assert!(customer.body.is_ascii(), "Meta sends pure ASCII bodies");
    let text = std::str::from_utf8(&customer.body).expect("ascii");
    assert!(
        text.contains(r"Gr\u00fc\u00dfe \u00e4 \ud83d\ude00 https:\/\/x.test\/a"),
        "{text}"
    );
    assert!(customer.signature_valid);
    // Re-serialising would give other bytes: the signature only matches the raw body.
    let reserialised = serde_json::to_vec(&customer.json()).expect("json");
    assert_ne!(reserialised, customer.body.to_vec());
    assert_eq!(
        customer.events()[0].1["message"]["text"],
        "Grüße ä 😀 https://x.test/a"
    );
    let echo = &hits[1];
    assert!(echo.body.is_ascii());
    assert!(std::str::from_utf8(&echo.body)
        .expect("ascii")
        .contains(r"Tsch\u00fc\u00df"));
    assert!(echo.signature_valid);
    assert_eq!(echo.events()[0].1["message"]["text"], "Tschüß");
}

#[tokio::test]
async fn page_inbox_human_reply_takes_control_then_echoes() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let (status, answer) = env
        .post(
            "/_emulator/inbox/reply",
            json!({"psid": "U1", "text": "A human here"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["previous_owner_app_id"], BOT);
    assert_eq!(answer["owner_app_id"], PAGE_INBOX);
    env.settle().await;

    let bot = env.rx.events_for(BOT);
    assert_eq!(bot.len(), 3);
    assert_eq!(bot[1].0, "messaging");
    assert_eq!(
        bot[1].1["take_thread_control"],
        json!({"previous_owner_app_id": BOT, "new_owner_app_id": PAGE_INBOX})
    );
    assert_eq!(bot[2].0, "standby");
    assert_eq!(
        bot[2].1["message"],
        json!({"is_echo": true, "app_id": PAGE_INBOX, "mid": answer["message_id"], "text": "A human here"})
    );
    let inbox = env.rx.events_for(INBOX);
    assert_eq!(inbox.len(), 2, "only the lost owner hears about the take");
    assert_eq!(inbox[1].0, "standby");
    assert_eq!(inbox[1].1["message"]["app_id"], PAGE_INBOX);

    let thread = env.thread("U1").await;
    assert_eq!(thread["owner_app_id"], PAGE_INBOX);
    // Every app is on standby now: the bot may not send.
    let refused = env.send_text(BOT_TOKEN, "U1", "bot again").await;
    assert_graph_error(&refused, 10, Some(2_018_300));
    // The next customer message goes to standby for everyone.
    env.customer_says("U1", "thanks").await;
    env.settle().await;
    assert_eq!(env.rx.events_for(BOT)[3].0, "standby");

    // Meta's inbox asks for the thread back / marks it done.
    let (status, _) = env
        .post("/_emulator/inbox/release", json!({"psid": "U1"}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(env.thread("U1").await["idle"], true);
}

#[tokio::test]
async fn page_inbox_request_goes_to_the_owner() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let (status, answer) = env
        .post(
            "/_emulator/inbox/request",
            json!({"psid": "U1", "metadata": "move to inbox"}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["owner_app_id"], BOT);
    env.settle().await;
    let bot = env.rx.events_for(BOT);
    assert_eq!(
        bot[1].1["request_thread_control"],
        json!({"requested_owner_app_id": PAGE_INBOX, "metadata": "move to inbox"})
    );
}

#[tokio::test]
async fn numeric_app_ids_option() {
    let env = Env::start_with(|doc| doc["numeric_app_ids"] = json!(true)).await;
    env.customer_says("U1", "hi").await;
    env.send_text(BOT_TOKEN, "U1", "yo").await;
    env.settle().await;
    assert_eq!(
        env.rx.events_for(BOT)[1].1["message"]["app_id"],
        json!(1001)
    );
}

#[tokio::test]
async fn webhook_verification_handshake() {
    let env = Env::start().await;
    let (status, answer) = env
        .post("/_emulator/webhooks/verify", json!({"app_id": BOT}))
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], 200);
    assert_eq!(answer["ok"], true);
    assert_eq!(answer["body"], answer["challenge"]);
    let (_, answer) = env
        .post(
            "/_emulator/webhooks/verify",
            json!({"app_id": BOT, "verify_token": "wrong"}),
        )
        .await;
    assert_eq!(answer["status"], 403);
    assert_eq!(answer["ok"], false);
}

#[tokio::test]
async fn control_api_validates_input() {
    let env = Env::start().await;
    let (status, body) = env
        .post("/_emulator/customer/message", json!({"psid": "U1"}))
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "bad_request");
    let (status, body) = env
        .post(
            "/_emulator/customer/message",
            json!({"page_id": "NOPE", "psid": "U1", "text": "x"}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "unknown_page");
    let (status, body) = env
        .post(
            "/_emulator/inbox/reply",
            json!({"psid": "NEW", "text": "x"}),
        )
        .await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "no_conversation");
    let (status, body) = env.get("/_emulator/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["graph_version"], VERSION);
    assert!(!body.to_string().contains("tok-bot"), "never expose tokens");
}

#[tokio::test]
async fn reset_clears_state() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    env.settle().await;
    let (status, _) = env.post("/_emulator/reset", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(env.thread("U1").await["idle"], true);
    assert!(env.deliveries(BOT).await.is_empty());
    let (_, threads) = env.get("/_emulator/threads").await;
    assert_eq!(threads["threads"], json!([]));
}
