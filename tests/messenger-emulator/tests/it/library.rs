//! The embedding API: `Emulator::start` and the `RunningEmulator` handle.

use std::time::Duration;

use messenger_emulator::{Emulator, EmulatorConfig, EmulatorError, PAGE_INBOX_APP_ID};
use serde_json::json;

use crate::common::*;

#[tokio::test]
async fn running_handle_exposes_urls_clock_settle_and_shuts_down() {
    let env = Env::start().await;
    assert_eq!(PAGE_INBOX_APP_ID, PAGE_INBOX);
    let base = env.emu.base_url().to_owned();
    assert_eq!(base, format!("http://{}", env.emu.local_addr()));
    assert_eq!(env.emu.graph_url(), format!("{base}/{VERSION}"));

    let before = env.emu.now_ms();
    env.emu.advance_clock(Duration::from_secs(3600));
    let (_, clock) = env.get("/_emulator/clock").await;
    assert!(clock["now_ms"].as_i64().expect("now") >= before + 3_600_000);
    assert_eq!(clock["offset_ms"], 3_600_000);

    env.customer_says("U1", "hi").await;
    env.emu
        .settle(Duration::from_secs(30))
        .await
        .expect("settled");
    let records = env.emu.deliveries();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.outcome == "delivered"));

    // A kept-alive client connection does not block shutdown.
    assert_eq!(env.get("/_emulator/health").await.0, 200);
    let Env { emu, http, .. } = env;
    emu.shutdown().await.expect("clean shutdown");
    assert!(http
        .get(format!("{base}/_emulator/health"))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn start_rejects_invalid_config_and_busy_ports() {
    let mut config = EmulatorConfig::from_json_str(
        r#"{"pages":[{"id":"P","default_app_id":"1","apps":[{"id":"1","app_secret":"s","page_token":"t"}]}]}"#,
    )
    .expect("valid");
    let first = Emulator::start(config.clone(), "127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("starts");
    let busy = Emulator::start(config.clone(), first.local_addr()).await;
    assert!(matches!(busy, Err(EmulatorError::Bind { .. })));
    config.graph_version = "23".into();
    let invalid = Emulator::start(config, "127.0.0.1:0".parse().expect("addr")).await;
    assert!(matches!(invalid, Err(EmulatorError::Config(_))));
    first.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn page_inbox_as_default_app_puts_every_app_on_standby() {
    let env = Env::start_with(|doc| doc["pages"][0]["default_app_id"] = json!(PAGE_INBOX)).await;
    let answer = env.customer_says("U1", "hi").await;
    assert_eq!(answer["owner_app_id"], PAGE_INBOX);
    env.settle().await;
    assert_eq!(env.rx.events_for(BOT)[0].0, "standby");
    assert_eq!(env.rx.events_for(INBOX)[0].0, "standby");
    assert_graph_error(
        &env.send_text(BOT_TOKEN, "U1", "x").await,
        10,
        Some(2_018_300),
    );
    // The bot is not the default app: it learns only that the thread is owned.
    let (status, answer) = env.thread_owner(BOT_TOKEN, "U1").await;
    assert_eq!(status, 200, "{answer}");
    let owner = &answer["data"][0]["thread_owner"];
    assert!(
        owner["expiration"].is_i64() && owner.get("app_id").is_none(),
        "{answer}"
    );
    // An app with the take permission can still take over.
    let take = env.take(INBOX_TOKEN, "U1").await;
    assert_eq!(take, (200, json!({"success": true})));
}
