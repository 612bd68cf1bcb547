//! The EventBridge adapter against a fake `PutEvents` endpoint: every event it was given
//! is answered, also when EventBridge's answer lists fewer entries than were sent.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;

use routing_core::bus::EventBridgeBus;
use routing_domain::{
    events_between, BusinessEvent, Cause, ControlChangeNote, Conversation, Owner, OwnerRole,
};
use routing_usecases::ports::EventBus;

/// A server answering one HTTP request with `body` (as EventBridge's JSON protocol does);
/// its URL, and the request it read.
fn answering_once(body: &'static str) -> (String, JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let url = format!("http://{}", listener.local_addr().expect("bound"));
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("one request");
        let request = read_request(&mut stream);
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(response.as_bytes()).expect("answered");
        request
    });
    (url, server)
}

/// One request: its head, then as many body bytes as its `Content-Length` says.
fn read_request(stream: &mut impl Read) -> String {
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf).expect("read");
        request.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&request).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return text;
            }
        }
        if n == 0 {
            return text;
        }
    }
}

fn client(endpoint: &str) -> aws_sdk_eventbridge::Client {
    let config = aws_sdk_eventbridge::Config::builder()
        .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
        .http_client(routing_core::tls::sdk_http_client())
        .region(aws_sdk_eventbridge::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_eventbridge::config::Credentials::new(
            "local", "local", None, None, "local",
        ))
        .build();
    aws_sdk_eventbridge::Client::from_conf(config)
}

/// A hand-over of `psid` to the inbox: one event.
fn hand_over(psid: &str) -> BusinessEvent {
    let bot = Owner::app("1001", OwnerRole::Bot);
    let inbox = Owner::app("2002", OwnerRole::Inbox);
    let mut old = Conversation::new("111", psid, 1_000);
    old.version = 1;
    old.owner = bot.clone();
    let mut new = old.clone();
    new.version = 2;
    new.owner = inbox.clone();
    new.last_control_change = Some(ControlChangeNote {
        from: bot,
        to: inbox,
        cause: Cause::Api,
        actor: Some("1001".into()),
        agent: None,
        event: "pass_thread_control".into(),
        at: 5_000,
    });
    events_between(Some(&old), &new).expect("a hand-over is an event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_with_fewer_entries_than_sent_fails_the_missing_ones() {
    let (url, server) = answering_once(r#"{"FailedEntryCount":0,"Entries":[{"EventId":"e-1"}]}"#);
    let bus = EventBridgeBus::new(client(&url), "routing");
    let events = [hand_over("a"), hand_over("b"), hand_over("c")];
    let answers = bus.publish(&events).await;
    let request = server.join().expect("the server ran");
    assert!(request.contains("PutEvents"), "{request}");
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert!(answers[0].is_ok(), "{answers:?}");
    assert!(
        answers[1..].iter().all(Result::is_err),
        "entries the answer does not list were not taken: {answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_with_an_error_code_fails_that_event_only() {
    let (url, server) = answering_once(
        r#"{"FailedEntryCount":1,"Entries":[{"ErrorCode":"InternalFailure","ErrorMessage":"try again"},{"EventId":"e-2"}]}"#,
    );
    let bus = EventBridgeBus::new(client(&url), "routing");
    let answers = bus.publish(&[hand_over("a"), hand_over("b")]).await;
    server.join().expect("the server ran");
    assert!(answers[0].is_err(), "{answers:?}");
    assert!(answers[1].is_ok(), "{answers:?}");
}
