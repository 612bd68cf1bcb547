//! Hostile numbers and mutated bodies, through `parse_webhook` and the transition rules:
//! never a panic, a wrap or a garbage time. A time outside a plausible range rejects its
//! event (with the reason); every accepted event carries a plausible time.

use proptest::prelude::*;
use routing_core::meta::webhook::parse_webhook;
use routing_domain::transition::{apply_event, EventContext};
use routing_domain::{EventKind, PLAUSIBLE_MILLIS};
use routing_usecases::testing::*;
use serde_json::{json, Value};

const T0: i64 = 1_700_000_000_000;

/// Parse `body` and apply every accepted event to a fresh record, as ingest would; the
/// number of accepted and rejected events.
fn parse_and_apply(body: &[u8]) -> (usize, usize) {
    let Ok(parsed) = parse_webhook(body) else {
        return (0, 0);
    };
    let page = config().page(PAGE).cloned().expect("page");
    for event in &parsed.events {
        if let Some(at) = event.timestamp {
            assert!(
                PLAUSIBLE_MILLIS.contains(&at),
                "accepted time {at}: {event:?}"
            );
        }
        if let EventKind::Read { watermark: Some(w) }
        | EventKind::Delivery {
            watermark: Some(w), ..
        } = &event.kind
        {
            assert!(PLAUSIBLE_MILLIS.contains(w), "accepted watermark {w}");
        }
        let ctx = EventContext {
            page: &page,
            receiving_app: BOT,
            now: T0,
        };
        let _ = apply_event(None, event, &event.applied_key(BOT), &ctx);
    }
    (parsed.events.len(), parsed.rejected.len())
}

#[test]
fn an_entry_time_of_i64_min_is_rejected_not_a_panic() {
    let body = json!({"object": "page", "entry": [{"id": PAGE, "time": i64::MIN, "messaging": [
        {"sender": {"id": "u1"}, "recipient": {"id": PAGE}, "message": {"mid": "m1", "text": "x"}}
    ]}]});
    let parsed = parse_webhook(&bytes(&body)).expect("the envelope parses");
    assert!(parsed.events.is_empty(), "{:?}", parsed.events);
    assert_eq!(parsed.rejected.len(), 1);
    assert!(
        parsed.rejected[0].reason.contains("time"),
        "{}",
        parsed.rejected[0].reason
    );
}

#[test]
fn implausible_event_times_are_rejected_with_the_reason() {
    for ts in [
        json!(-1),
        json!(0),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e30),
        json!(-1e30),
        json!(4_200_000_000_000i64),
    ] {
        let body = envelope(
            "messaging",
            vec![
                json!({"sender": {"id": "u1"}, "recipient": {"id": PAGE}, "timestamp": ts, "message": {"mid": "m1", "text": "x"}}),
            ],
        );
        let parsed = parse_webhook(&bytes(&body)).expect("the envelope parses");
        assert!(parsed.events.is_empty(), "{ts}: {:?}", parsed.events);
        assert_eq!(parsed.rejected.len(), 1, "{ts}");
        assert!(
            parsed.rejected[0].reason.contains("timestamp"),
            "{ts}: {}",
            parsed.rejected[0].reason
        );
    }
}

/// Every event shape of the fixtures, with `NUM` where a number goes.
fn shapes() -> Vec<Value> {
    vec![
        message("u", T0, "m1", "hi"),
        quick_reply("u", T0, "m2", "yes", "YES"),
        postback("u", T0, "Talk", Some("TALK_TO_HUMAN")),
        echo("u", T0, "m3", BOT, "hello"),
        pass("u", T0, Some(BOT), INBOX),
        take("u", T0, BOT, Some(INBOX)),
        request("u", T0, INBOX),
        read("u", T0),
        json!({"sender": {"id": "u"}, "recipient": {"id": PAGE}, "timestamp": T0, "delivery": {"mids": ["m1"], "watermark": T0}}),
    ]
}

/// The captured and documented bodies of `tests/fixtures/webhooks/`, and one body per
/// event shape.
fn bodies() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/webhooks"
    ));
    let mut all: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .expect("fixture directory")
        .filter_map(|entry| std::fs::read(entry.ok()?.path()).ok())
        .collect();
    assert!(all.len() > 5, "the fixtures are there");
    all.extend(
        shapes()
            .into_iter()
            .map(|e| bytes(&envelope("messaging", vec![e]))),
    );
    all
}

/// Every path to a number in `value`.
fn numeric_paths(value: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match value {
        Value::Number(_) => out.push(path.clone()),
        Value::Object(map) => {
            for (k, v) in map {
                path.push(k.clone());
                numeric_paths(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn set_path(value: &mut Value, path: &[String], new: Value) {
    let mut at = value;
    for key in path {
        at = &mut at[key.as_str()];
    }
    *at = new;
}

fn hostile_number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        Just(json!(i64::MIN)),
        Just(json!(i64::MAX)),
        Just(json!(0)),
        Just(json!(0.5)),
        Just(json!(9.3e18)),
        any::<i64>().prop_map(|n| json!(n.to_string())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_number_in_any_numeric_field_is_handled(shape in 0..9usize, field in 0..8usize, entry_time in hostile_number(), number in hostile_number()) {
        let mut event = shapes()[shape].clone();
        let mut paths = Vec::new();
        numeric_paths(&event, &mut Vec::new(), &mut paths);
        let path = &paths[field % paths.len()];
        set_path(&mut event, path, number);
        let mut body = envelope("messaging", vec![event]);
        body["entry"][0]["time"] = entry_time;
        let (accepted, rejected) = parse_and_apply(&bytes(&body));
        prop_assert_eq!(accepted + rejected, 1);
    }

    #[test]
    fn mutated_bodies_never_panic(which in any::<prop::sample::Index>(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let bodies = bodies();
        let mut body = bodies[which.index(bodies.len())].clone();
        for (at, byte) in flips {
            let i = at.index(body.len());
            body[i] = byte;
        }
        parse_and_apply(&body);
    }
}
