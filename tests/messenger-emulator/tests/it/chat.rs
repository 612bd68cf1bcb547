//! The customer's chat page, `/_emulator/chat`: the Page's buttons, and clear errors.

use serde_json::json;

use crate::common::{Env, PAGE};

fn with_buttons(doc: &mut serde_json::Value) {
    doc["pages"][0]["buttons"] = json!([
        {"title": "Talk to human", "payload": "TALK_TO_HUMAN"},
        {"title": "Back to bot", "payload": "BACK_TO_BOT"}
    ]);
}

async fn get(env: &Env, path: &str) -> (u16, String, String) {
    let response = env.http.get(env.url(path)).send().await.expect("chat page");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, response.text().await.expect("body"))
}

#[tokio::test]
async fn the_chat_page_carries_the_customer_and_the_pages_buttons() {
    let env = Env::start_with(with_buttons).await;
    let (status, content_type, html) =
        get(&env, &format!("/_emulator/chat?page={PAGE}&psid=U1")).await;
    assert_eq!(status, 200, "{html}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    for part in [
        r#""page_id":"PAGE1""#,
        r#""psid":"U1""#,
        r#""title":"Talk to human""#,
        r#""payload":"TALK_TO_HUMAN""#,
        r#""payload":"BACK_TO_BOT""#,
    ] {
        assert!(html.contains(part), "{part} in {html}");
    }
    assert!(!html.contains("/*CHAT_CONFIG*/"), "the slot is filled");
    // The buttons are also in the health view, for any other client.
    let health: serde_json::Value = env
        .http
        .get(env.url("/_emulator/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["pages"][0]["buttons"][0]["payload"], "TALK_TO_HUMAN");
}

#[tokio::test]
async fn the_page_may_be_left_out_with_one_page_and_values_cannot_close_the_script() {
    let env = Env::start().await;
    let (status, _, html) = get(&env, "/_emulator/chat?psid=%3C%2Fscript%3E").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(r#""psid":"\u003c/script>""#), "{html}");
    assert_eq!(
        html.matches("</script>").count(),
        2,
        "only the page's own script tags"
    );
    assert!(
        html.contains(r#""buttons":[]"#),
        "no buttons configured: {html}"
    );
}

#[tokio::test]
async fn a_chat_page_without_a_customer_or_for_another_page_says_why() {
    let env = Env::start().await;
    let (status, _, body) = get(&env, "/_emulator/chat?page=PAGE1").await;
    assert_eq!(status, 400);
    assert!(body.contains("psid is required"), "{body}");
    let (status, _, body) = get(&env, "/_emulator/chat?page=PAGE1&psid=%20").await;
    assert_eq!(status, 400);
    assert!(body.contains("psid must not be empty"), "{body}");
    let (status, _, body) = get(&env, "/_emulator/chat?page=NOPE&psid=U1").await;
    assert_eq!(status, 404);
    assert!(body.contains("unknown_page"), "{body}");
}

#[tokio::test]
async fn a_button_without_a_title_or_payload_is_a_configuration_error() {
    let rx_doc = |button: serde_json::Value| {
        let mut doc = json!({"graph_version": "v23.0", "pages": [{"id": "P", "default_app_id": "1",
            "apps": [{"id": "1", "app_secret": "s", "page_token": "t"}]}]});
        doc["pages"][0]["buttons"] = json!([button]);
        messenger_emulator::EmulatorConfig::from_json_str(&doc.to_string())
    };
    let err = rx_doc(json!({"title": " ", "payload": "X"})).expect_err("empty title");
    assert!(
        err.to_string().contains("pages[0].buttons[0].title"),
        "{err}"
    );
    let err = rx_doc(json!({"title": "X", "payload": ""})).expect_err("empty payload");
    assert!(
        err.to_string().contains("pages[0].buttons[0].payload"),
        "{err}"
    );
    assert!(rx_doc(json!({"title": "Talk to human", "payload": "TALK_TO_HUMAN"})).is_ok());
}
