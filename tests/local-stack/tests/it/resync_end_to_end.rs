//! End to end for resync: the real binaries (webhook-ingest, control-handoff, resync behind
//! the Lambda Runtime API and an API Gateway front), moto and the emulator. Meta's inbox
//! takes threads silently (a human replied there and the echo webhook was lost); the
//! on-demand route and the scheduled batch bring the record back to Meta's truth.

use local_stack::{local_config_path, Stack};
use routing_domain::{OwnerRole, PAGE_INBOX_APP_ID};
use serde_json::{json, Value};

async fn stack() -> Stack {
    Stack::start_hosted(&local_config_path())
        .await
        .expect("local stack starts (run `cargo build --workspace --bins` first)")
}

/// Meta's inbox holds the thread now, and no webhook says so.
async fn taken_silently_by_meta_inbox(s: &Stack, psid: &str) {
    s.set_true_owner(psid, Some(PAGE_INBOX_APP_ID))
        .await
        .unwrap();
}

async fn inbox_queue(s: &Stack) -> Vec<String> {
    s.queue("inbox", false).await.unwrap()
}

async fn resync(s: &Stack, psid: &str) -> (u16, Value) {
    s.api(
        "POST",
        &format!("/pages/{}/conversations/{psid}/resync", s.cast.page_id),
        None,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_on_demand_resync_corrects_a_silent_takeover_and_the_queue() {
    let s = stack().await;
    let u = "9401";
    s.customer_says(u, "hello").await.unwrap();
    s.settled_record(u).await.unwrap();
    s.customer_taps(u, "Talk to human", "TALK_TO_HUMAN")
        .await
        .unwrap();
    assert_eq!(
        s.settled_record(u).await.unwrap().owner.role,
        OwnerRole::Inbox
    );
    assert!(inbox_queue(&s).await.contains(&u.to_string()));

    taken_silently_by_meta_inbox(&s, u).await;
    assert!(
        s.settled_record(u).await.is_err(),
        "the record has drifted from Meta"
    );

    // Without the API token: refused, nothing asked.
    let anonymous = s
        .http
        .post(format!(
            "{}/pages/{}/conversations/{u}/resync",
            s.api_base.as_deref().unwrap(),
            s.cast.page_id
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);

    let (status, body) = resync(&s, u).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], true, "{body}");
    assert_eq!(body["owner"]["app_id"], PAGE_INBOX_APP_ID);
    assert_eq!(body["owner"]["role"], "page_inbox");
    assert!(
        body["control_expires_at"].is_string(),
        "the lease follows Meta's expiration: {body}"
    );
    let record = s.settled_record(u).await.unwrap();
    assert_eq!(record.owner.role, OwnerRole::PageInbox);
    assert!(!record.needs_resync);
    assert!(
        !inbox_queue(&s).await.contains(&u.to_string()),
        "left our inbox's queue"
    );

    let timeline = s.timeline(u).await.unwrap();
    assert!(
        timeline.iter().any(|e| {
            e["type"] == "control"
                && e["cause"] == "resync"
                && e["from"]["role"] == "inbox"
                && e["to"]["role"] == "page_inbox"
        }),
        "{timeline:?}"
    );

    let (status, body) = resync(&s, u).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], false, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduled_batch_repairs_conversations_flagged_by_contradictions() {
    let s = stack().await;
    let drifted = ["9411", "9412", "9413"];
    for u in drifted {
        s.customer_says(u, "hi").await.unwrap();
        assert_eq!(
            s.settled_record(u).await.unwrap().owner.role,
            OwnerRole::Bot
        );
        taken_silently_by_meta_inbox(&s, u).await;
        // The customer's next message reaches our apps on standby only: the record is
        // contradicted, corrected to "some other app" and flagged.
        s.customer_says(u, "anyone?").await.unwrap();
        s.settle().await.unwrap();
        let record = s.record(u).await.unwrap();
        assert!(record.needs_resync, "{u} flagged: {record:?}");
    }

    let batch = json!({"source": "scheduler", "action": "batch"});
    let report = s.invoke("resync", &batch).await.unwrap();
    assert_eq!(report["rate_limited"], false, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    assert!(report["changed"].as_u64().unwrap() >= 3, "{report}");
    for u in drifted {
        let record = s.settled_record(u).await.unwrap();
        assert_eq!(record.owner.role, OwnerRole::PageInbox, "{u}");
        assert!(!record.needs_resync, "{u}");
    }
    let report = s.invoke("resync", &batch).await.unwrap();
    assert_eq!(report["changed"], 0, "nothing left to repair: {report}");
}
