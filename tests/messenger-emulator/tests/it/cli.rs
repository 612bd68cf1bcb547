//! The `messenger-emulator` binary: loads a config file, prints its base URL, serves.

use std::process::Stdio;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

fn write_config(name: &str, doc: &Value) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!(
        "messenger-emulator-{}-{name}.json",
        std::process::id()
    ));
    std::fs::write(&path, doc.to_string()).expect("write config");
    path
}

#[tokio::test]
async fn binary_prints_its_base_url_and_serves() {
    let path = write_config(
        "ok",
        &json!({"pages": [{"id": "P", "default_app_id": "1",
                "apps": [{"id": "1", "app_secret": "s", "page_token": "t"}]}]}),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_messenger-emulator"))
        .args(["--config"])
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    let base = BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .expect("read")
        .expect("a line");
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let health: Value = http
        .get(format!("{base}/_emulator/health"))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["graph_version"], "v23.0");
    // A Graph call with the configured token.
    let response = http
        .get(format!("{base}/v23.0/me/thread_owner"))
        .query(&[("recipient", "U1"), ("access_token", "t")])
        .send()
        .await
        .expect("graph");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"data": []})
    );
    child.kill().await.expect("kill");
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn binary_rejects_an_invalid_config_naming_the_field() {
    let path = write_config(
        "bad",
        &json!({"pages": [{"id": "P", "default_app_id": "9",
                "apps": [{"id": "1", "app_secret": "s", "page_token": "t"}]}]}),
    );
    let output = Command::new(env!("CARGO_BIN_EXE_messenger-emulator"))
        .arg("--config")
        .arg(&path)
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pages[0].default_app_id"), "{stderr}");
    let _ = std::fs::remove_file(path);
}
