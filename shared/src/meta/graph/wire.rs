//! The request bodies the client sends (thread control and the Send API), in Meta's shapes.

use serde::Serialize;

use routing_usecases::ports::{MessagingType, OutgoingMessage, ThreadControl};

#[derive(Serialize)]
pub(super) struct Recipient<'a> {
    pub(super) id: &'a str,
}

#[derive(Serialize)]
pub(super) struct PassBody<'a> {
    pub(super) recipient: Recipient<'a>,
    pub(super) target_app_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) metadata: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct RecipientBody<'a> {
    pub(super) recipient: Recipient<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) metadata: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct ExtendBody<'a> {
    pub(super) recipient: Recipient<'a>,
    pub(super) duration: u64,
}

#[derive(Serialize)]
pub(super) struct SendBody<'a> {
    pub(super) recipient: Recipient<'a>,
    messaging_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tag: Option<&'static str>,
    message: SendMessageBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thread_control: Option<SendThreadControl<'a>>,
}

#[derive(Serialize)]
pub(super) struct SendMessageBody<'a> {
    text: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) metadata: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct SendThreadControl<'a> {
    control_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    app_id: Option<&'a str>,
}

impl<'a> SendBody<'a> {
    pub(super) fn new(psid: &'a str, message: &'a OutgoingMessage) -> Self {
        let (messaging_type, tag) = match message.messaging_type {
            MessagingType::Response => ("RESPONSE", None),
            MessagingType::HumanAgent => ("MESSAGE_TAG", Some("HUMAN_AGENT")),
        };
        let thread_control = message
            .thread_control
            .as_ref()
            .map(|control| match control {
                ThreadControl::Pass { app_id } => SendThreadControl {
                    control_type: "pass",
                    app_id: Some(app_id),
                },
                ThreadControl::Release => SendThreadControl {
                    control_type: "release",
                    app_id: None,
                },
            });
        SendBody {
            recipient: Recipient { id: psid },
            messaging_type,
            tag,
            message: SendMessageBody {
                text: &message.text,
                metadata: message.metadata.as_deref(),
            },
            thread_control,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn send_bodies() {
        let message = OutgoingMessage {
            text: "hi".into(),
            messaging_type: MessagingType::HumanAgent,
            metadata: Some("m".into()),
            thread_control: Some(ThreadControl::Pass {
                app_id: "2002".into(),
            }),
        };
        assert_eq!(
            serde_json::to_value(SendBody::new("U1", &message)).unwrap(),
            json!({"recipient":{"id":"U1"},"messaging_type":"MESSAGE_TAG","tag":"HUMAN_AGENT",
                   "message":{"text":"hi","metadata":"m"},
                   "thread_control":{"control_type":"pass","app_id":"2002"}})
        );
        let plain = OutgoingMessage {
            text: "hi".into(),
            messaging_type: MessagingType::Response,
            metadata: None,
            thread_control: Some(ThreadControl::Release),
        };
        assert_eq!(
            serde_json::to_value(SendBody::new("U1", &plain)).unwrap(),
            json!({"recipient":{"id":"U1"},"messaging_type":"RESPONSE",
                   "message":{"text":"hi"},"thread_control":{"control_type":"release"}})
        );
    }
}
