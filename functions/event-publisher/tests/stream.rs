//! The publisher over stream batches shaped like Lambda's (DynamoDB JSON images), with a
//! recording bus.

use std::sync::Arc;

use event_publisher::handle;
use routing_domain::{Cause, ControlChangeNote, Conversation, Owner, OwnerRole};
use routing_usecases::business_events::EventPublisher;
use routing_usecases::testing::RecordingBus;
use serde_json::{json, Value};

fn image(conversation: &Conversation) -> Value {
    let item: serde_dynamo::Item = serde_dynamo::to_item(conversation).unwrap();
    let mut value = serde_json::to_value(item).unwrap();
    value["pk"] = json!({"S": format!("CONV#{}#{}", conversation.page_id, conversation.psid)});
    value["sk"] = json!({"S": "STATE"});
    value
}

fn record(seq: &str, sk: &str, old: Option<&Conversation>, new: Option<&Conversation>) -> Value {
    let mut change = json!({
        "Keys": {"pk": {"S": "CONV#111#u"}, "sk": {"S": sk}},
        "SequenceNumber": seq,
        "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        "ApproximateCreationDateTime": 1_700_000_000.0
    });
    if let Some(old) = old {
        change["OldImage"] = image(old);
    }
    if let Some(new) = new {
        change["NewImage"] = image(new);
    }
    json!({
        "eventID": format!("id-{seq}"),
        "eventName": if old.is_some() { "MODIFY" } else { "INSERT" },
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": change,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026"
    })
}

fn conversation(psid: &str, version: u64, owner: Owner) -> Conversation {
    let mut c = Conversation::new("111", psid, 1_000);
    c.version = version;
    c.owner = owner;
    c.alias = Some(format!("alias-{psid}"));
    c
}

fn handed_over(psid: &str) -> (Conversation, Conversation) {
    let bot = Owner::app("1001", OwnerRole::Bot);
    let inbox = Owner::app("2002", OwnerRole::Inbox);
    let old = conversation(psid, 1, bot.clone());
    let mut new = conversation(psid, 2, inbox.clone());
    new.last_control_change = Some(ControlChangeNote {
        from: bot,
        to: inbox,
        cause: Cause::Trigger,
        actor: Some("1001".into()),
        agent: None,
        event: "pass_thread_control".into(),
        at: 5_000,
    });
    (old, new)
}

#[tokio::test]
async fn a_hand_over_is_one_event_and_other_records_none() {
    let bus = Arc::new(RecordingBus::new());
    let publisher = EventPublisher::new(bus.clone());
    let (old, new) = handed_over("u");
    let mut later = new.clone();
    later.version = 3;
    let batch = json!({"Records": [
        record("1", "STATE", Some(&old), Some(&new)),
        record("2", "TL#0000000005000#1-control:x", None, None),
        record("3", "STATE", Some(&new), Some(&later)),
    ]});
    let answer = handle(&publisher, batch).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let published = bus.published();
    assert_eq!(published.len(), 1, "{published:?}");
    assert_eq!(
        published[0].kind().detail_type(),
        "conversation.handed_to_humans"
    );
    assert_eq!(
        (published[0].version, published[0].cause.as_str()),
        (2, "trigger")
    );
    assert_eq!(published[0].actor.as_deref(), Some("1001"));
}

#[tokio::test]
async fn a_refused_event_is_named_for_retry_and_published_on_the_retry() {
    let bus = Arc::new(RecordingBus::new());
    let publisher = EventPublisher::new(bus.clone());
    let (old_a, new_a) = handed_over("a");
    let (old_b, new_b) = handed_over("b");
    bus.refuse("alias-b", 1);
    let batch = json!({"Records": [
        record("10", "STATE", Some(&old_a), Some(&new_a)),
        record("11", "STATE", Some(&old_b), Some(&new_b)),
    ]});
    let answer = handle(&publisher, batch).await.unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "11"}]})
    );
    assert_eq!(bus.published().len(), 1);
    // Lambda retries from the failed record.
    let retry = json!({"Records": [record("11", "STATE", Some(&old_b), Some(&new_b))]});
    let answer = handle(&publisher, retry).await.unwrap();
    assert_eq!(answer, json!({"batchItemFailures": []}));
    let conversations: Vec<String> = bus
        .published()
        .into_iter()
        .map(|e| e.conversation)
        .collect();
    assert_eq!(conversations, ["alias-a", "alias-b"]);
}

#[tokio::test]
async fn an_unreadable_image_is_retried_and_a_non_stream_event_is_refused() {
    let bus = Arc::new(RecordingBus::new());
    let publisher = EventPublisher::new(bus.clone());
    let (old, new) = handed_over("u");
    let mut broken = record("7", "STATE", Some(&old), Some(&new));
    broken["dynamodb"]["NewImage"]["version"] = json!({"S": "not a number"});
    let answer = handle(&publisher, json!({"Records": [broken]}))
        .await
        .unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "7"}]})
    );
    assert!(bus.published().is_empty());
    assert!(handle(&publisher, json!({"source": "scheduler"}))
        .await
        .is_err());
}

#[tokio::test]
async fn a_malformed_record_is_named_for_retry_and_the_others_are_published() {
    let bus = Arc::new(RecordingBus::new());
    let publisher = EventPublisher::new(bus.clone());
    let (old_a, new_a) = handed_over("a");
    let (old_c, new_c) = handed_over("c");
    // A record whose stream envelope is not DynamoDB's shape at all (its keys are no
    // attribute map), between two good ones.
    let mut malformed = record("21", "STATE", None, None);
    malformed["dynamodb"]["Keys"] = json!("not a map");
    malformed["dynamodb"]["SizeBytes"] = json!("big");
    let batch = json!({"Records": [
        record("20", "STATE", Some(&old_a), Some(&new_a)),
        malformed,
        record("22", "STATE", Some(&old_c), Some(&new_c)),
    ]});
    let answer = handle(&publisher, batch).await.unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "21"}]})
    );
    let conversations: Vec<String> = bus
        .published()
        .into_iter()
        .map(|e| e.conversation)
        .collect();
    assert_eq!(conversations, ["alias-a", "alias-c"]);
}

#[tokio::test]
async fn a_malformed_record_without_a_sequence_number_is_named_by_its_event_id() {
    let bus = Arc::new(RecordingBus::new());
    let publisher = EventPublisher::new(bus.clone());
    let (old, new) = handed_over("a");
    let malformed = json!({"eventID": "ev-9", "eventName": "MODIFY", "dynamodb": 42});
    let batch = json!({"Records": [malformed, record("30", "STATE", Some(&old), Some(&new))]});
    let answer = handle(&publisher, batch).await.unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "ev-9"}]})
    );
    assert_eq!(bus.published().len(), 1);
}
