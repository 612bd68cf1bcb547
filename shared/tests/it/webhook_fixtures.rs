//! Table-driven tests over the webhook bodies in `tests/fixtures/webhooks/` (workspace
//! root): one JSON file per payload shape from Meta's documentation and captured traffic
//! (see docs/architecture.md §11, "Meta's platform"). Every fixture file must be listed in
//! the table below, with the exact parse it must produce.

use std::collections::BTreeSet;
use std::path::PathBuf;

use routing_core::meta::webhook::{
    parse_webhook, sign, verify_signature, EnvelopeError, ParsedWebhook, SignatureError,
};
use routing_domain::{EventKind, Feed, WebhookEvent};

const PAGE: &str = "104857093719402";
const PAGE_2: &str = "187459302816475";
const PSID: &str = "7146382915726403";
const PSID_2: &str = "6523417890123456";
const PSID_3: &str = "8802467135790246";
/// Our bot app.
const BOT_APP: &str = "1392837465019283";
/// Meta's Page Inbox (Business Suite): a human replying.
const PAGE_INBOX_APP: &str = "263902037430900";
/// A third-party agent tool connected to the Page.
const CRM_APP: &str = "2468013579246801";

const APP_SECRET: &[u8] = b"0f3c2b7a9d8e1f6a5b4c3d2e1f0a9b8c";

fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/webhooks"
    ))
}

fn read_fixture(file: &str) -> Vec<u8> {
    let path = fixture_dir().join(file);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// What one parsed event must look like. `name` is checked against `EventKind::name()`
/// separately from the full `kind`, so a wrong name is reported as such.
struct Expected {
    feed: Feed,
    name: &'static str,
    page_id: &'static str,
    psid: Option<&'static str>,
    timestamp: Option<i64>,
    kind: EventKind,
}

struct Case {
    file: &'static str,
    events: Vec<Expected>,
    /// `(location, a word the reason must contain)`.
    rejected: Vec<(&'static str, &'static str)>,
}

fn ev(
    feed: Feed,
    name: &'static str,
    page_id: &'static str,
    psid: Option<&'static str>,
    timestamp: Option<i64>,
    kind: EventKind,
) -> Expected {
    Expected {
        feed,
        name,
        page_id,
        psid,
        timestamp,
        kind,
    }
}

fn case(file: &'static str, events: Vec<Expected>) -> Case {
    Case {
        file,
        events,
        rejected: Vec::new(),
    }
}

fn s(value: &str) -> Option<String> {
    Some(value.to_string())
}

fn message(
    mid: &str,
    text: Option<&str>,
    quick_reply: Option<&str>,
    attachments: u32,
) -> EventKind {
    EventKind::Message {
        mid: mid.to_string(),
        text: text.map(str::to_string),
        quick_reply_payload: quick_reply.map(str::to_string),
        attachments,
    }
}

fn echo(mid: &str, app_id: &str, text: &str, metadata: Option<&str>) -> EventKind {
    EventKind::Echo {
        mid: mid.to_string(),
        app_id: s(app_id),
        text: s(text),
        metadata: metadata.map(str::to_string),
        attachments: 0,
    }
}

fn postback(mid: Option<&str>, title: Option<&str>, payload: Option<&str>) -> EventKind {
    EventKind::Postback {
        mid: mid.map(str::to_string),
        title: title.map(str::to_string),
        payload: payload.map(str::to_string),
    }
}

fn pass(previous: Option<&str>, new: Option<&str>, metadata: &str) -> EventKind {
    EventKind::PassThreadControl {
        previous_owner_app_id: previous.map(str::to_string),
        new_owner_app_id: new.map(str::to_string),
        metadata: s(metadata),
    }
}

fn take(previous: Option<&str>, new: Option<&str>, metadata: &str) -> EventKind {
    EventKind::TakeThreadControl {
        previous_owner_app_id: previous.map(str::to_string),
        new_owner_app_id: new.map(str::to_string),
        metadata: s(metadata),
    }
}

fn request(app: &str, metadata: &str) -> EventKind {
    EventKind::RequestThreadControl {
        requested_owner_app_id: s(app),
        metadata: s(metadata),
    }
}

fn unknown(kind: &str) -> EventKind {
    EventKind::Unknown {
        kind: kind.to_string(),
    }
}

const MID_TEXT: &str =
    "m_AbC9xKqZ2Lw7Vt1sRn4YpEhJ0uGd8FcMiWoT3bN6aXeQlPkSyHvUjDgOfIrBmC5zA1sLwQx_7tVnKpEiRd2uYbF";
const MID_BOT_ECHO: &str =
    "m_EcH0bOtAb1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Yz3Ab4Cd5Ef6Gh7Ij8Kl9Mn0Op1Qr2St_3Uv4Wx5Yz";

fn cases() -> Vec<Case> {
    use Feed::{DashboardTest, Messaging, Standby};
    vec![
        case(
            "message_text.json",
            vec![ev(
                Messaging,
                "message",
                PAGE,
                Some(PSID),
                Some(1_761_903_244_892),
                message(MID_TEXT, Some("Hi, where is my order #48213?"), None, 0),
            )],
        ),
        case(
            "message_quick_reply.json",
            vec![ev(
                Messaging,
                "message",
                PAGE,
                Some(PSID),
                Some(1_761_903_301_327),
                message(
                    "m_QrT5vLm2Nx8KpWz0AbYc3DeFgHiJkLmNoPqRsTuVwXyZ1a2B3c4D5e6F7g8H9i0JkLmNoPqRsTuVw_XyZaBcD",
                    Some("Talk to a person"),
                    Some("TALK_TO_HUMAN"),
                    0,
                ),
            )],
        ),
        case(
            "message_attachments_only.json",
            vec![ev(
                Messaging,
                "message",
                PAGE,
                Some(PSID),
                Some(1_761_903_412_655),
                message(
                    "m_Att7hMnBvCxZ2aSdFgHjKlQwErTyUiOp9L8k7J6h5G4f3D2s1A0pOiUyTrEwQ_zXcVbNm1A2s3D4f5G6h7J8k9L",
                    None,
                    None,
                    2,
                ),
            )],
        ),
        case(
            "echo_bot_app.json",
            vec![ev(
                Messaging,
                "echo",
                PAGE,
                Some(PSID),
                Some(1_761_903_245_870),
                echo(
                    MID_BOT_ECHO,
                    BOT_APP,
                    "Your order #48213 ships tomorrow.",
                    Some("flow=order_status;step=3"),
                ),
            )],
        ),
        case(
            "echo_page_inbox.json",
            vec![ev(
                Standby,
                "echo",
                PAGE,
                Some(PSID),
                Some(1_761_904_019_974),
                echo(
                    "m_InBxHuMaN9aZ8yX7wV6uT5sR4qP3oN2mL1kJ0iH9gF8eD7cB6aZ5yX4wV3uT2sR1qP0oN9mL8kJ7_iH6gF5eD4",
                    PAGE_INBOX_APP,
                    "Hi, this is Anna from customer care. Let me check that for you.",
                    None,
                ),
            )],
        ),
        case(
            "postback_payload.json",
            vec![ev(
                Messaging,
                "postback",
                PAGE,
                Some(PSID),
                Some(1_761_903_522_187),
                postback(
                    Some("m_PbK3nZ7xW1vU5tS9rQ3pO7nM1lK5jI9hG3fE7dC1bA5zY9xW3vU7tS1rQ5pO9nM3lK7jI1hG5fE_9dC3bA7zY1"),
                    Some("Talk to a human"),
                    Some("TALK_TO_HUMAN"),
                ),
            )],
        ),
        case(
            "standby_postback_title_only.json",
            vec![ev(
                Standby,
                "postback",
                PAGE,
                Some(PSID),
                Some(1_761_904_310_549),
                postback(None, Some("Details"), None),
            )],
        ),
        case(
            "standby_postback_empty.json",
            vec![ev(
                Standby,
                "postback",
                PAGE,
                Some(PSID),
                Some(1_761_904_388_011),
                postback(None, None, None),
            )],
        ),
        case(
            "read.json",
            vec![ev(
                Messaging,
                "read",
                PAGE,
                Some(PSID),
                Some(1_761_903_260_577),
                EventKind::Read {
                    watermark: Some(1_761_903_245_870),
                },
            )],
        ),
        case(
            "delivery_no_timestamp.json",
            vec![ev(
                Messaging,
                "delivery",
                PAGE,
                Some(PSID),
                // No event timestamp: the entry's `time`.
                Some(1_761_903_247_302),
                EventKind::Delivery {
                    watermark: Some(1_761_903_245_870),
                    mids: vec![
                        MID_BOT_ECHO.to_string(),
                        "m_DlV2aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ01234_56789aBcDeFg"
                            .to_string(),
                    ],
                },
            )],
        ),
        case(
            "pass_thread_control_2021.json",
            vec![ev(
                Messaging,
                "pass_thread_control",
                PAGE,
                Some(PSID),
                Some(1_761_905_001_268),
                pass(None, Some(BOT_APP), "routing_rule=organic"),
            )],
        ),
        case(
            "pass_thread_control_pre2021.json",
            vec![ev(
                Messaging,
                "pass_thread_control",
                PAGE,
                Some(PSID),
                Some(1_761_905_102_764),
                pass(None, Some(BOT_APP), "Conversation resolved by agent"),
            )],
        ),
        case(
            "take_thread_control_2021.json",
            vec![ev(
                Messaging,
                "take_thread_control",
                PAGE,
                Some(PSID),
                Some(1_761_904_019_531),
                take(Some(BOT_APP), Some(PAGE_INBOX_APP), "Page Inbox took control"),
            )],
        ),
        case(
            "take_thread_control_pre2021.json",
            vec![ev(
                Messaging,
                "take_thread_control",
                PAGE,
                Some(PSID),
                Some(1_761_905_220_145),
                take(Some(CRM_APP), None, "Escalated back to the primary receiver"),
            )],
        ),
        case(
            "request_thread_control.json",
            vec![ev(
                Messaging,
                "request_thread_control",
                PAGE,
                Some(PSID),
                Some(1_761_905_340_402),
                request(CRM_APP, "agent_id=5521;queue=billing"),
            )],
        ),
        case(
            "request_thread_control_page_inbox.json",
            vec![ev(
                Messaging,
                "request_thread_control",
                PAGE,
                Some(PSID),
                Some(1_761_905_411_720),
                request(PAGE_INBOX_APP, "Moved from Done to Inbox"),
            )],
        ),
        case(
            "app_roles.json",
            vec![ev(
                Messaging,
                "app_roles",
                PAGE,
                None,
                Some(1_761_900_000_198),
                EventKind::AppRoles {
                    roles: vec![
                        (BOT_APP.to_string(), vec!["primary_receiver".to_string()]),
                        (
                            PAGE_INBOX_APP.to_string(),
                            vec!["secondary_receiver".to_string()],
                        ),
                    ],
                },
            )],
        ),
        case(
            "messaging_and_standby.json",
            vec![
                ev(
                    Messaging,
                    "message",
                    PAGE,
                    Some(PSID),
                    Some(1_761_906_003_512),
                    message(
                        "m_MsG1aA2bB3cC4dD5eE6fF7gG8hH9iI0jJ1kK2lL3mM4nN5oO6pP7qQ8rR9sS0tT1uU2vV3wW4xX_5yY6zZ7aA8",
                        Some("Thanks, that's all"),
                        None,
                        0,
                    ),
                ),
                ev(
                    Standby,
                    "message",
                    PAGE,
                    Some(PSID_2),
                    Some(1_761_906_001_120),
                    message(
                        "m_SbY1zZ9yY8xX7wW6vV5uU4tT3sS2rR1qQ0pP9oO8nN7mM6lL5kK4jJ3iI2hH1gG0fF9eE8dD7cC_6bB5aA4zZ3",
                        Some("Can I change the delivery address?"),
                        None,
                        0,
                    ),
                ),
                ev(
                    Standby,
                    "echo",
                    PAGE,
                    Some(PSID_2),
                    Some(1_761_906_002_274),
                    echo(
                        "m_SbY2eChO0aB1cD2eF3gH4iJ5kL6mN7oP8qR9sT0uV1wX2yZ3aB4cD5eF6gH7iJ8kL9mN0oP1qR_2sT3uV4wX5y",
                        PAGE_INBOX_APP,
                        "Sure, what's the new address?",
                        None,
                    ),
                ),
                ev(
                    Standby,
                    "read",
                    PAGE,
                    Some(PSID_2),
                    Some(1_761_906_003_051),
                    EventKind::Read {
                        watermark: Some(1_761_906_002_274),
                    },
                ),
                ev(
                    Standby,
                    "postback",
                    PAGE,
                    Some(PSID_2),
                    Some(1_761_906_003_329),
                    postback(None, Some("Details"), None),
                ),
            ],
        ),
        case(
            "multiple_entries.json",
            vec![
                ev(
                    Messaging,
                    "message",
                    PAGE,
                    Some(PSID),
                    Some(1_761_907_000_733),
                    message(
                        "m_MuL1tIeNtRy0aBcDeFgHiJkLmNoPqRsTuVwXyZ9876543210aBcDeFgHiJkLmNoPqRsTuVwXyZ_98765432",
                        Some("Hello?"),
                        None,
                        0,
                    ),
                ),
                ev(
                    Messaging,
                    "read",
                    PAGE_2,
                    Some(PSID_3),
                    Some(1_761_906_999_412),
                    EventKind::Read {
                        watermark: Some(1_761_906_998_001),
                    },
                ),
                ev(
                    Messaging,
                    "request_thread_control",
                    PAGE,
                    Some(PSID_2),
                    Some(1_761_907_000_540),
                    request(CRM_APP, "customer asked for an agent"),
                ),
            ],
        ),
        case(
            "numeric_ids.json",
            vec![
                ev(
                    Messaging,
                    "message",
                    PAGE,
                    Some(PSID),
                    Some(1_761_907_500_106),
                    message(
                        "m_NuM3r1cIdS0aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwX_yZ01234567",
                        Some("ok"),
                        None,
                        0,
                    ),
                ),
                ev(
                    Messaging,
                    "take_thread_control",
                    PAGE,
                    Some(PSID),
                    Some(1_761_907_560_661),
                    take(
                        Some(BOT_APP),
                        Some(PAGE_INBOX_APP),
                        "human reply from Business Suite",
                    ),
                ),
            ],
        ),
        case(
            "seconds_timestamp.json",
            vec![ev(
                Messaging,
                "pass_thread_control",
                PAGE,
                Some(PSID),
                // `timestamp` 1761908100 (seconds) next to a ms `entry.time`.
                Some(1_761_908_100_000),
                pass(
                    None,
                    Some(CRM_APP),
                    "Additional content that the caller wants to set",
                ),
            )],
        ),
        case(
            "dashboard_test_changes.json",
            vec![ev(
                DashboardTest,
                "message",
                "0",
                Some("12334"),
                // The sample's string `timestamp` "1527459824", in seconds.
                Some(1_527_459_824_000),
                message("test_message_id", Some("test_message"), None, 0),
            )],
        ),
        case(
            "unknown_kind_reaction.json",
            vec![ev(
                Messaging,
                "reaction",
                PAGE,
                Some(PSID),
                Some(1_761_908_700_431),
                unknown("reaction"),
            )],
        ),
        case(
            "unknown_kind_referral.json",
            vec![ev(
                Messaging,
                "referral",
                PAGE,
                Some(PSID),
                Some(1_761_908_800_007),
                unknown("referral"),
            )],
        ),
        case(
            "text_non_ascii_escaped.json",
            vec![ev(
                Messaging,
                "message",
                PAGE,
                Some(PSID),
                Some(1_761_909_000_359),
                message(
                    "m_UmL4uT0aBcDeFgHiJkLmNoPqRsTuVwXyZ1029384756aBcDeFgHiJkLmNoPqRsTuVwXyZ_0192837465",
                    Some(
                        "Hallo, ich h\u{e4}tte eine Frage zu meiner Bestellung \u{2013} k\u{f6}nnen \
                         Sie mir helfen? Sch\u{f6}nen Gru\u{df} \u{1f64f}",
                    ),
                    None,
                    0,
                ),
            )],
        ),
        Case {
            file: "missing_mid.json",
            events: vec![
                ev(
                    Messaging,
                    "message",
                    PAGE,
                    Some(PSID),
                    Some(1_761_909_300_118),
                    message(
                        "m_GoOd1aBcDeFgHiJkLmNoPqRsTuVwXyZ5647382910aBcDeFgHiJkLmNoPqRsTuVwXyZ_5647382910aBcD",
                        Some("first"),
                        None,
                        0,
                    ),
                ),
                // No mid: a message Meta wrote itself, a system event (not rejected).
                ev(
                    Messaging,
                    "system_message",
                    PAGE,
                    Some(PSID),
                    Some(1_761_909_300_402),
                    EventKind::SystemMessage {
                        text: Some("this one lost its mid".into()),
                    },
                ),
                ev(
                    Standby,
                    "read",
                    PAGE,
                    Some(PSID_2),
                    Some(1_761_909_300_511),
                    EventKind::Read {
                        watermark: Some(1_761_906_002_274),
                    },
                ),
                ev(
                    Messaging,
                    "message",
                    PAGE,
                    Some(PSID),
                    Some(1_761_909_300_650),
                    message(
                        "m_GoOd2zYxWvUtSrQpOnMlKjIhGfEdCbA0192837465zYxWvUtSrQpOnMlKjIhGfEdCbA_0192837465zYxW",
                        Some("second"),
                        None,
                        0,
                    ),
                ),
            ],
            rejected: vec![],
        },
        Case {
            file: "business_ai_hand_back.json",
            events: vec![ev(
                Messaging,
                "system_message",
                PAGE,
                Some(PSID),
                Some(1_761_909_412_006),
                EventKind::SystemMessage {
                    text: Some("Meta Business AI passed this conversation to the business.".into()),
                },
            )],
            rejected: vec![],
        },
    ]
}

fn parse_fixture(file: &str) -> ParsedWebhook {
    parse_webhook(&read_fixture(file)).unwrap_or_else(|e| panic!("{file}: envelope error {e}"))
}

/// App roles come from a JSON object: compare them in app-id order.
fn sorted_roles(kind: &EventKind) -> EventKind {
    match kind {
        EventKind::AppRoles { roles } => {
            let mut roles = roles.clone();
            roles.sort();
            EventKind::AppRoles { roles }
        }
        other => other.clone(),
    }
}

fn check_event(file: &str, index: usize, actual: &WebhookEvent, expected: &Expected) {
    let at = format!("{file}: event {index}");
    assert_eq!(actual.feed, expected.feed, "{at}: feed");
    assert_eq!(actual.kind.name(), expected.name, "{at}: kind name");
    assert_eq!(actual.page_id, expected.page_id, "{at}: page id");
    assert_eq!(actual.psid.as_deref(), expected.psid, "{at}: psid");
    assert_eq!(actual.timestamp, expected.timestamp, "{at}: timestamp (ms)");
    assert_eq!(
        sorted_roles(&actual.kind),
        sorted_roles(&expected.kind),
        "{at}: fields"
    );
}

#[test]
fn every_fixture_parses_as_expected() {
    for case in cases() {
        let parsed = parse_fixture(case.file);
        assert_eq!(
            parsed.events.len(),
            case.events.len(),
            "{}: number of events in {:#?}",
            case.file,
            parsed.events
        );
        for (i, (actual, expected)) in parsed.events.iter().zip(&case.events).enumerate() {
            check_event(case.file, i, actual, expected);
        }
        assert_eq!(
            parsed.rejected.len(),
            case.rejected.len(),
            "{}: number of rejected events in {:#?}",
            case.file,
            parsed.rejected
        );
        for (actual, (location, reason)) in parsed.rejected.iter().zip(&case.rejected) {
            assert_eq!(
                actual.location, *location,
                "{}: rejected location",
                case.file
            );
            assert!(
                actual.reason.contains(reason),
                "{}: rejected reason {:?} should mention {reason:?}",
                case.file,
                actual.reason
            );
        }
        let unknown = case
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Unknown { .. }))
            .count();
        assert_eq!(
            parsed.unknown_count(),
            unknown,
            "{}: unknown count",
            case.file
        );
    }
}

#[test]
fn every_fixture_file_is_in_the_table() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture directory exists")
        .map(|entry| entry.expect("directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    let cases = cases();
    let in_table: BTreeSet<String> = cases.iter().map(|c| c.file.to_string()).collect();
    assert_eq!(in_table.len(), cases.len(), "a fixture is listed twice");
    let untested: Vec<&String> = on_disk.difference(&in_table).collect();
    let missing: Vec<&String> = in_table.difference(&on_disk).collect();
    assert!(
        untested.is_empty(),
        "fixtures not in the table: {untested:?}"
    );
    assert!(missing.is_empty(), "table rows without a file: {missing:?}");
    assert!(
        on_disk.iter().all(|name| name.ends_with(".json")),
        "only .json files belong in the fixture directory: {on_disk:?}"
    );
}

#[test]
fn every_fixture_verifies_over_its_exact_bytes() {
    for case in cases() {
        let body = read_fixture(case.file);
        let header = sign(APP_SECRET, &body);
        assert_eq!(
            verify_signature(APP_SECRET, &body, Some(&header)),
            Ok(()),
            "{}",
            case.file
        );
        assert_eq!(
            verify_signature(b"another-app-secret", &body, Some(&header)),
            Err(SignatureError::Mismatch),
            "{}: wrong secret",
            case.file
        );
        let mut tampered = body.clone();
        tampered.push(b' ');
        assert_eq!(
            verify_signature(APP_SECRET, &tampered, Some(&header)),
            Err(SignatureError::Mismatch),
            "{}: one extra byte",
            case.file
        );
    }
}

#[test]
fn signature_is_over_the_escaped_bytes_not_a_reserialisation() {
    let file = "text_non_ascii_escaped.json";
    let original = read_fixture(file);
    let original_text = String::from_utf8(original.clone()).expect("fixture is UTF-8");
    assert!(
        original_text.contains(r"h\u00e4tte"),
        "the fixture must keep Meta's \\u00e4 escape in its bytes"
    );
    assert!(original.is_ascii(), "Meta escapes all non-ASCII");

    let value: serde_json::Value = serde_json::from_slice(&original).expect("fixture is JSON");
    let reserialised = serde_json::to_vec(&value).expect("serialises");
    let reserialised_text = String::from_utf8(reserialised.clone()).expect("UTF-8");
    assert!(reserialised_text.contains("h\u{e4}tte"), "raw UTF-8 ä");
    assert!(!reserialised_text.contains(r"\u00e4"));
    assert_ne!(original, reserialised);

    let header = sign(APP_SECRET, &original);
    assert_eq!(
        verify_signature(APP_SECRET, &original, Some(&header)),
        Ok(())
    );
    assert_eq!(
        verify_signature(APP_SECRET, &reserialised, Some(&header)),
        Err(SignatureError::Mismatch),
        "a re-serialised body must not carry the original's signature"
    );
    assert_ne!(sign(APP_SECRET, &reserialised), header);

    // Both spellings mean the same events: only the signature tells them apart.
    assert_eq!(
        parse_webhook(&reserialised).expect("parses"),
        parse_fixture(file)
    );
}

#[test]
fn envelope_errors() {
    assert!(matches!(
        parse_webhook(b"<html>502 Bad Gateway</html>"),
        Err(EnvelopeError::NotJson(_))
    ));
    assert!(matches!(parse_webhook(b""), Err(EnvelopeError::NotJson(_))));
    assert!(matches!(
        parse_webhook(br#"{"object":"page","entry":["#),
        Err(EnvelopeError::NotJson(_))
    ));
    assert_eq!(
        parse_webhook(br#"[{"object":"page"}]"#),
        Err(EnvelopeError::NotAnObject)
    );
    assert_eq!(
        parse_webhook(br#"{"object":"instagram","entry":[{"id":"17841400000000000","time":1761909300770,"messaging":[]}]}"#),
        Err(EnvelopeError::WrongObject("instagram".into()))
    );
    assert_eq!(
        parse_webhook(br#"{"object":"whatsapp_business_account","entry":[]}"#),
        Err(EnvelopeError::WrongObject(
            "whatsapp_business_account".into()
        ))
    );
    assert!(matches!(
        parse_webhook(br#"{"entry":[]}"#),
        Err(EnvelopeError::WrongObject(_))
    ));
    assert_eq!(
        parse_webhook(br#"{"object":"page"}"#),
        Err(EnvelopeError::NoEntries)
    );
    assert_eq!(
        parse_webhook(br#"{"object":"page","entry":{"id":"104857093719402"}}"#),
        Err(EnvelopeError::NoEntries)
    );
    assert_eq!(
        parse_webhook(br#"{"object":"page","entry":[]}"#),
        Ok(ParsedWebhook::default())
    );
}
