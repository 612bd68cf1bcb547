//! The one mapping from the services' errors to the HTTP contract's status codes and error
//! codes. Messages are ours; a storage error's own text goes to the log only.

use serde_json::json;

use super::reply::ApiError;
use routing_domain::Owner;
use routing_usecases::control::ControlError;
use routing_usecases::idempotency::IdempotencyError;
use routing_usecases::ingest::{ReceiveError, SubscriptionError};
use routing_usecases::ports::{GraphError, StoreError};
use routing_usecases::records::RecordError;
use routing_usecases::resync::ResyncError;

fn owner_details(owner: &Owner) -> serde_json::Value {
    json!({ "owner": owner })
}

/// Meta's refusal or failure, with the owner it concerns.
pub fn graph_error(err: &GraphError, owner: &Owner) -> ApiError {
    match err {
        GraphError::NotOwner { .. } => ApiError::new(
            409,
            "not_owner",
            "Meta says the acting app does not control this conversation",
        )
        .with_details(owner_details(owner)),
        GraphError::WindowClosed => ApiError::new(409, "window_closed", err.to_string()),
        GraphError::NoRole => ApiError::new(409, "no_role", err.to_string()),
        GraphError::OwnerHidden => ApiError::new(409, "owner_hidden", err.to_string()),
        GraphError::WrongAppId => ApiError::bad_request("bad_target", err.to_string()),
        GraphError::PersonUnavailable => ApiError::new(409, "person_unavailable", err.to_string()),
        GraphError::AutomatedFlowInControl => {
            ApiError::new(409, "automated_flow_in_control", err.to_string())
        }
        GraphError::Unavailable(detail) => {
            tracing::warn!(error = %detail, "Graph API unavailable");
            ApiError::new(
                502,
                "graph_unavailable",
                "the Graph API did not answer; try again",
            )
        }
        GraphError::RateLimited { .. } => ApiError::new(502, "graph_unavailable", err.to_string()),
        GraphError::OutcomeUnknown(_) => ApiError::new(
            502,
            "graph_outcome_unknown",
            "Meta may have applied this call but did not answer in time (a message may have \
             been delivered): check the conversation before repeating it",
        ),
        GraphError::TokenInvalid => ApiError::new(502, "graph_token_invalid", err.to_string()),
        GraphError::Other { code, subcode, .. } => {
            tracing::warn!(error = %err, "Graph API error");
            let subcode = subcode.map_or(String::new(), |s| format!("/{s}"));
            ApiError::new(
                502,
                "graph_error",
                format!("Meta refused the call (error {code}{subcode})"),
            )
        }
    }
}

impl From<&StoreError> for ApiError {
    fn from(err: &StoreError) -> Self {
        match err {
            StoreError::InvalidCursor => {
                ApiError::bad_request("bad_cursor", "cursor is not one this listing gave out")
            }
            StoreError::TooLarge(what) => {
                tracing::error!(error = %what, "write over DynamoDB's limits");
                ApiError::internal("the change is too large to store")
            }
            other => {
                tracing::error!(error = %other, "storage request failed");
                ApiError::new(
                    503,
                    "store_unavailable",
                    "the conversation store is unavailable; try again",
                )
            }
        }
    }
}

impl From<&RecordError> for ApiError {
    fn from(err: &RecordError) -> Self {
        match err {
            RecordError::Store(err) => err.into(),
            RecordError::Contention => ApiError::new(
                503,
                "contention",
                "the conversation kept changing; try again",
            ),
        }
    }
}

impl From<&ControlError> for ApiError {
    fn from(err: &ControlError) -> Self {
        match err {
            ControlError::UnknownPage(_) => ApiError::not_found("unknown_page", err.to_string()),
            ControlError::UnknownApp(_) => ApiError::not_found("unknown_app", err.to_string()),
            ControlError::ActingForbidden(_) => ApiError::forbidden("forbidden", err.to_string()),
            ControlError::UnknownConversation(_) => {
                ApiError::not_found("unknown_conversation", err.to_string())
            }
            ControlError::Invalid { code, message } => ApiError::bad_request(code, message.clone()),
            ControlError::WindowClosed(message) => ApiError::new(409, "window_closed", *message),
            ControlError::BotMayNotSpeak { owner } => {
                ApiError::new(409, "not_owner", err.to_string()).with_details(owner_details(owner))
            }
            ControlError::Graph { error, owner } => graph_error(error, owner),
            ControlError::Record(err) => err.into(),
        }
    }
}

impl From<ControlError> for ApiError {
    fn from(err: ControlError) -> Self {
        ApiError::from(&err)
    }
}

impl From<&IdempotencyError> for ApiError {
    fn from(err: &IdempotencyError) -> Self {
        match err {
            IdempotencyError::BadKey => {
                ApiError::bad_request("bad_idempotency_key", err.to_string())
            }
            IdempotencyError::Reused => {
                ApiError::new(422, "idempotency_key_reused", err.to_string())
            }
            IdempotencyError::InProgress => {
                ApiError::new(409, "idempotency_key_in_use", err.to_string())
            }
            IdempotencyError::Store(err) => err.into(),
        }
    }
}

impl From<IdempotencyError> for ApiError {
    fn from(err: IdempotencyError) -> Self {
        ApiError::from(&err)
    }
}

impl From<&ResyncError> for ApiError {
    fn from(err: &ResyncError) -> Self {
        match err {
            ResyncError::UnknownPage(_) => ApiError::not_found("unknown_page", err.to_string()),
            ResyncError::UnknownConversation { .. } => {
                ApiError::not_found("unknown_conversation", err.to_string())
            }
            ResyncError::NoAppToAsk(_) => ApiError::not_found("unknown_app", err.to_string()),
            ResyncError::Graph { error, owner } => graph_error(error, owner),
            ResyncError::KeptChanging => ApiError::new(503, "contention", err.to_string()),
            ResyncError::OutOfTime => ApiError::new(503, "out_of_time", "out of time"),
            ResyncError::Record(err) => err.into(),
        }
    }
}

impl From<ResyncError> for ApiError {
    fn from(err: ResyncError) -> Self {
        ApiError::from(&err)
    }
}

impl From<&SubscriptionError> for ApiError {
    fn from(err: &SubscriptionError) -> Self {
        match err {
            SubscriptionError::UnknownApp(_) => ApiError::not_found("unknown_app", err.to_string()),
            SubscriptionError::BadMode => ApiError::forbidden("bad_hub_mode", err.to_string()),
            SubscriptionError::MissingChallenge => {
                ApiError::bad_request("missing_hub_challenge", err.to_string())
            }
            SubscriptionError::BadChallenge => {
                ApiError::bad_request("bad_hub_challenge", err.to_string())
            }
            SubscriptionError::WrongVerifyToken => {
                ApiError::forbidden("bad_verify_token", err.to_string())
            }
        }
    }
}

impl From<&ReceiveError> for ApiError {
    fn from(err: &ReceiveError) -> Self {
        match err {
            ReceiveError::UnknownApp(_) => ApiError::not_found("unknown_app", err.to_string()),
            ReceiveError::BadSignature(inner) => {
                ApiError::unauthorized("bad_signature", inner.to_string())
            }
            ReceiveError::NotStored(_) => {
                ApiError::internal("the events could not be stored; Meta will deliver them again")
            }
        }
    }
}
