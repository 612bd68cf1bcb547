//! Agent actions asked twice (an agents' UI retrying after a network error) are done
//! once: a request carrying an `Idempotency-Key` claims the key for its conversation
//! first; the same key with the same request within 24 h gets the first answer back and
//! nothing is done again; the same key with another request is refused. A key is the API
//! token's own: another token's request with the same key is another request.

use std::future::Future;

use sha2::{Digest, Sha256};

use crate::ports::{KeyClaim, KeyUse, StoreError, StoredAnswer};
use crate::records::Records;

/// How long a key is remembered.
pub const IDEMPOTENCY_KEY_TTL_SECS: i64 = 24 * 3600;
/// Longest key accepted.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;
/// Bytes of a token's digest that scope its keys (128 bits).
const TOKEN_SCOPE_BYTES: usize = 16;
/// Claims raced by a release or an expiry before the request gives up.
const CLAIM_ATTEMPTS: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum IdempotencyError {
    #[error("Idempotency-Key: 1 to 255 visible ASCII characters")]
    BadKey,
    #[error("this Idempotency-Key was used for another request on this conversation")]
    Reused,
    #[error("a request with this Idempotency-Key is in progress (or ended without an answer)")]
    InProgress,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to do with a request carrying a key.
#[derive(Debug)]
pub enum Admission {
    /// First time: act, then [`Idempotency::finish`] with the answer.
    Fresh(Ticket),
    /// Done before: this was the answer.
    Replay(StoredAnswer),
}

/// A key this request holds.
#[derive(Debug)]
pub struct Ticket {
    record: KeyUse,
}

/// The idempotency keys of agent actions.
#[derive(Clone)]
pub struct Idempotency {
    records: Records,
}

impl Idempotency {
    pub fn new(records: Records) -> Self {
        Idempotency { records }
    }

    /// The fingerprint of a request: its route and its exact body.
    pub fn fingerprint(route: &str, body: &[u8]) -> String {
        let mut hash = Sha256::new();
        hash.update(route.as_bytes());
        hash.update([0]);
        hash.update(body);
        hex::encode(hash.finalize())
    }

    /// The scope of the keys of an API token: a digest of the token (never the token),
    /// so that two tokens' keys never meet.
    pub fn token_scope(token: &str) -> String {
        let digest = Sha256::digest(token.as_bytes());
        hex::encode(&digest[..TOKEN_SCOPE_BYTES])
    }

    /// Do `act` once per key: claim `key` of the token `scope` for the conversation; a
    /// request seen before answers its kept answer and does nothing; a fresh one acts, and
    /// the key keeps the answer when `act` says so (it did something, or may have) or is
    /// forgotten (nothing was done: the request may be repeated with it).
    pub async fn once<F, Fut>(
        &self,
        (page_id, psid): (&str, &str),
        scope_and_key: (&str, &str),
        fingerprint: String,
        act: F,
    ) -> Result<StoredAnswer, IdempotencyError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = (StoredAnswer, bool)>,
    {
        let ticket = match self
            .admit(page_id, psid, scope_and_key, fingerprint)
            .await?
        {
            Admission::Replay(answer) => return Ok(answer),
            Admission::Fresh(ticket) => ticket,
        };
        let (answer, keep) = act().await;
        if let Err(err) = self.finish(ticket, keep.then(|| answer.clone())).await {
            tracing::warn!(page_id, error = %err, "the idempotency key's answer was not stored");
        }
        Ok(answer)
    }

    /// Claim `key` of the token `scope` ([`Idempotency::token_scope`]) for this request on
    /// the conversation, or find what it held.
    pub async fn admit(
        &self,
        page_id: &str,
        psid: &str,
        (scope, key): (&str, &str),
        fingerprint: String,
    ) -> Result<Admission, IdempotencyError> {
        check_key(key)?;
        let now = self.records.now();
        let record = KeyUse {
            page_id: page_id.to_string(),
            psid: psid.to_string(),
            key: format!("{scope}:{key}"),
            fingerprint,
            claimed_at: now,
            answer: None,
            expires_at: now.div_euclid(1000) + IDEMPOTENCY_KEY_TTL_SECS,
        };
        let store = self.records.store();
        for _ in 0..CLAIM_ATTEMPTS {
            match store.claim_key(&record, now.div_euclid(1000)).await {
                Ok(KeyClaim::Claimed) => return Ok(Admission::Fresh(Ticket { record })),
                Ok(KeyClaim::Held(held)) if held.fingerprint != record.fingerprint => {
                    return Err(IdempotencyError::Reused)
                }
                Ok(KeyClaim::Held(held)) => {
                    return held
                        .answer
                        .map(Admission::Replay)
                        .ok_or(IdempotencyError::InProgress)
                }
                // Released or expired between the claim and the read: claim again.
                Err(StoreError::VersionConflict) => continue,
                Err(err) => return Err(err.into()),
            }
        }
        Err(IdempotencyError::InProgress)
    }

    /// The request ended: keep its answer for the key (`Some`), or forget the key when
    /// nothing was done and the request may be repeated (`None`).
    pub async fn finish(
        &self,
        ticket: Ticket,
        answer: Option<StoredAnswer>,
    ) -> Result<(), StoreError> {
        let store = self.records.store();
        let record = ticket.record;
        match answer {
            Some(answer) => {
                let done = KeyUse {
                    answer: Some(answer),
                    ..record
                };
                store.complete_key(&done).await
            }
            None => {
                store
                    .release_key(&record.page_id, &record.psid, &record.key)
                    .await
            }
        }
    }
}

fn check_key(key: &str) -> Result<(), IdempotencyError> {
    let visible = key.chars().all(|c| c.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS || !visible {
        return Err(IdempotencyError::BadKey);
    }
    Ok(())
}
