//! Idempotency keys in the memory store, with the DynamoDB store's semantics: a claim is
//! conditional on no unexpired record of the key.

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::keys::conversation_pk;
use routing_domain::EpochSeconds;
use routing_usecases::ports::{IdempotencyKeys, KeyClaim, KeyUse, StoreError};

fn slot(page_id: &str, psid: &str, key: &str) -> (String, String) {
    (conversation_pk(page_id, psid), key.to_string())
}

#[async_trait]
impl IdempotencyKeys for MemoryStore {
    async fn claim_key(&self, record: &KeyUse, now: EpochSeconds) -> Result<KeyClaim, StoreError> {
        let mut tables = self.lock()?;
        let slot = slot(&record.page_id, &record.psid, &record.key);
        match tables.idempotency.get(&slot) {
            Some(held) if held.expires_at >= now => Ok(KeyClaim::Held(held.clone())),
            _ => {
                tables.idempotency.insert(slot, record.clone());
                Ok(KeyClaim::Claimed)
            }
        }
    }

    async fn complete_key(&self, record: &KeyUse) -> Result<(), StoreError> {
        let mut tables = self.lock()?;
        let slot = slot(&record.page_id, &record.psid, &record.key);
        tables.idempotency.insert(slot, record.clone());
        Ok(())
    }

    async fn release_key(&self, page_id: &str, psid: &str, key: &str) -> Result<(), StoreError> {
        self.lock()?.idempotency.remove(&slot(page_id, psid, key));
        Ok(())
    }
}
