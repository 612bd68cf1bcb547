//! Every Graph error the emulator reproduces.

use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn missing_or_unknown_token_is_190() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let unknown = env.send_text("nope", "U1", "x").await;
    assert_graph_error(&unknown, 190, None);
    let response = env
        .http
        .post(env.url(&format!("/{VERSION}/{PAGE}/take_thread_control")))
        .json(&json!({"recipient": {"id": "U1"}}))
        .send()
        .await
        .expect("call");
    assert_eq!(response.status().as_u16(), 400);
    assert!(response.headers().contains_key("www-authenticate"));
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], 190);
    let (_, list) = env.get("/_emulator/messages").await;
    assert_eq!(list["messages"], json!([]), "a refused call has no effect");
    assert_eq!(env.thread("U1").await["owner_app_id"], BOT);
}

#[tokio::test]
async fn app_without_a_role_is_2018171() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let answer = env.pass(NO_ROLE_TOKEN, "U1", INBOX).await;
    assert_graph_error(&answer, 100, Some(2_018_171));
    assert_graph_error(
        &env.thread_owner(NO_ROLE_TOKEN, "U1").await,
        100,
        Some(2_018_171),
    );
    assert_graph_error(
        &env.send_text(NO_ROLE_TOKEN, "U1", "x").await,
        100,
        Some(2_018_171),
    );
}

#[tokio::test]
async fn pass_to_an_unconnected_app_is_2018164() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    for target in ["999", NO_ROLE] {
        let answer = env.pass(BOT_TOKEN, "U1", target).await;
        assert_graph_error(&answer, 100, Some(2_018_164));
    }
    let answer = env
        .graph_post(
            BOT_TOKEN,
            "messages",
            json!({"recipient": {"id": "U1"}, "messaging_type": "RESPONSE", "message": {"text": "x"},
                   "thread_control": {"control_type": "pass", "app_id": "999"}}),
        )
        .await;
    assert_graph_error(&answer, 100, Some(2_018_164));
    // Meta's Page Inbox is always a valid target.
    let answer = env.pass(BOT_TOKEN, "U1", PAGE_INBOX).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(env.thread("U1").await["owner_app_id"], PAGE_INBOX);
}

#[tokio::test]
async fn thread_control_by_a_non_owner_is_2534037() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    assert_graph_error(
        &env.pass(INBOX_TOKEN, "U1", BOT).await,
        100,
        Some(2_534_037),
    );
    assert_graph_error(&env.release(INBOX_TOKEN, "U1").await, 100, Some(2_534_037));
    assert_graph_error(
        &env.extend(INBOX_TOKEN, "U1", 60).await,
        100,
        Some(2_534_037),
    );
    // Take without the "Take control of conversations" permission.
    assert_graph_error(&env.take(QUIET_TOKEN, "U1").await, 100, Some(2_534_037));
    // An idle thread may only be passed by the default app.
    env.advance(86_401).await;
    assert_graph_error(
        &env.pass(INBOX_TOKEN, "U1", QUIET).await,
        100,
        Some(2_534_037),
    );
    assert_eq!(
        env.thread("U1").await["idle"],
        true,
        "refused calls change nothing"
    );
}

#[tokio::test]
async fn send_by_a_non_owner_is_2018300() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let answer = env.send_text(INBOX_TOKEN, "U1", "I am not the owner").await;
    assert_graph_error(&answer, 10, Some(2_018_300));
    assert_eq!(
        answer.1["error"]["message"],
        "Message failed to send because another app is controlling this thread now"
    );
    // A non-default app may not send into an idle thread either.
    env.release(BOT_TOKEN, "U1").await;
    assert_graph_error(
        &env.send_text(INBOX_TOKEN, "U1", "x").await,
        10,
        Some(2_018_300),
    );
    let (_, list) = env.get("/_emulator/messages").await;
    assert_eq!(list["messages"], json!([]));
}

#[tokio::test]
async fn thread_owner_names_the_owner_only_to_the_owner_and_the_default_app() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let expiration = env.thread("U1").await["expires_at"].clone();
    assert!(expiration.is_i64(), "{expiration}");
    // The owner (here the default app itself) is named to the owner and the default app.
    let named = json!({"data": [{"thread_owner": {"app_id": BOT, "expiration": expiration}}]});
    assert_eq!(env.thread_owner(BOT_TOKEN, "U1").await, (200, named));
    // Any other app learns only that the thread is owned, and until when.
    let unnamed = json!({"data": [{"thread_owner": {"expiration": expiration}}]});
    assert_eq!(
        env.thread_owner(QUIET_TOKEN, "U1").await,
        (200, unnamed.clone())
    );
    assert_eq!(env.thread_owner(INBOX_TOKEN, "U1").await, (200, unnamed));
    // Idle threads are an empty answer for everyone.
    env.advance(86_401).await;
    assert_eq!(
        env.thread_owner(QUIET_TOKEN, "U1").await,
        (200, json!({"data": []}))
    );
}

#[tokio::test]
async fn sending_outside_the_window_is_2018278() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    env.advance(86_401).await;
    // RESPONSE/UPDATE after 24 h.
    assert_graph_error(
        &env.send_text(BOT_TOKEN, "U1", "late").await,
        10,
        Some(2_018_278),
    );
    let update = env
        .graph_post(
            BOT_TOKEN,
            "messages",
            json!({"recipient": {"id": "U1"}, "messaging_type": "UPDATE", "message": {"text": "late"}}),
        )
        .await;
    assert_graph_error(&update, 10, Some(2_018_278));
    // HUMAN_AGENT still works between 24 h and 7 days (after taking control)...
    let take = env.take(INBOX_TOKEN, "U1").await;
    assert_eq!(take.0, 200);
    let human_agent = json!({"recipient": {"id": "U1"}, "messaging_type": "MESSAGE_TAG",
                             "tag": "HUMAN_AGENT", "message": {"text": "agent"}});
    assert_eq!(
        env.graph_post(INBOX_TOKEN, "messages", human_agent.clone())
            .await
            .0,
        200
    );
    // ...and not after 7 days.
    env.advance(6 * 86_400).await;
    env.take(INBOX_TOKEN, "U1").await;
    assert_graph_error(
        &env.graph_post(INBOX_TOKEN, "messages", human_agent).await,
        10,
        Some(2_018_278),
    );
}

#[tokio::test]
async fn invalid_parameters_are_100() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    env.pass(BOT_TOKEN, "U1", INBOX).await;
    let too_long = env.extend(INBOX_TOKEN, "U1", 604_801).await;
    assert_graph_error(&too_long, 100, None);
    assert_graph_error(
        &env.graph_post(
            INBOX_TOKEN,
            "extend_thread_control",
            json!({"recipient": {"id": "U1"}}),
        )
        .await,
        100,
        None,
    );
    assert_graph_error(
        &env.graph_post(
            INBOX_TOKEN,
            "messages",
            json!({"recipient": {"id": "U1"}, "message": {"text": "x"}}),
        )
        .await,
        100,
        None,
    );
    assert_graph_error(
        &env.graph_post(
            INBOX_TOKEN,
            "messages",
            json!({"recipient": {"id": "U1"}, "messaging_type": "MESSAGE_TAG", "tag": "ACCOUNT_UPDATE", "message": {"text": "x"}}),
        )
        .await,
        100,
        None,
    );
    assert_graph_error(
        &env.graph_post(
            INBOX_TOKEN,
            "take_thread_control",
            json!({"metadata": "no recipient"}),
        )
        .await,
        100,
        None,
    );
    assert_graph_error(
        &env.send_text(INBOX_TOKEN, "NEVER_WROTE", "x").await,
        100,
        Some(2_018_001),
    );
}

#[tokio::test]
async fn wrong_version_or_page_is_refused() {
    let env = Env::start().await;
    env.customer_says("U1", "hi").await;
    let response = env
        .http
        .get(env.url(&format!("/v1.0/{PAGE}/thread_owner")))
        .query(&[("recipient", "U1"), ("access_token", BOT_TOKEN)])
        .send()
        .await
        .expect("call");
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], 2500);
    let response = env
        .http
        .get(env.url(&format!("/{VERSION}/OTHER_PAGE/thread_owner")))
        .query(&[("recipient", "U1"), ("access_token", BOT_TOKEN)])
        .send()
        .await
        .expect("call");
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], 100);
    assert_eq!(body["error"]["error_subcode"], 33);
}
