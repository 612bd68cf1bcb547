//! The idempotency keys of agent actions (`Idempotency-Key` on `POST .../messages` and
//! `POST .../control`): per conversation, kept 24 h, holding the request's fingerprint and,
//! once the action ended, its answer. Adapters: `store::DynamoStore`, `store::MemoryStore`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::StoreError;
use routing_domain::{EpochMillis, EpochSeconds};

/// An HTTP answer kept for a key: its status and JSON body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAnswer {
    pub status: u16,
    pub body: String,
}

/// One key of one conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUse {
    pub page_id: String,
    pub psid: String,
    pub key: String,
    /// What the request was (its route and body), hashed: a key reused for another
    /// request is refused.
    pub fingerprint: String,
    pub claimed_at: EpochMillis,
    /// `None` while the first request is still at work.
    pub answer: Option<StoredAnswer>,
    /// The key is forgotten after this (DynamoDB TTL; expired keys are treated as absent).
    pub expires_at: EpochSeconds,
}

/// What claiming a key found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key was free (or expired): it is now this request's.
    Claimed,
    /// The key is held: by a request at work, or with the answer of one that ended.
    Held(KeyUse),
}

#[async_trait]
pub trait IdempotencyKeys: Send + Sync {
    /// Store `record` (no answer yet) unless an unexpired record of the same key exists
    /// (as of `now`); then that record.
    async fn claim_key(&self, record: &KeyUse, now: EpochSeconds) -> Result<KeyClaim, StoreError>;

    /// Store the answer of a key this request claimed.
    async fn complete_key(&self, record: &KeyUse) -> Result<(), StoreError>;

    /// Forget a key this request claimed (it did nothing: the request may be repeated).
    async fn release_key(&self, page_id: &str, psid: &str, key: &str) -> Result<(), StoreError>;
}
