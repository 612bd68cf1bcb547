//! Reads: one conversation, the queue of a Page's role, a conversation's timeline; and
//! marking a conversation read.

use super::{ControlError, ControlService};
use crate::ports::{Listing, QueueQuery, TimelineOrder};
use crate::records::RecordError;
use routing_domain::transition::Transition;
use routing_domain::{Conversation, OwnerRole, TimelineEntry};

impl ControlService {
    pub async fn conversation(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Conversation, ControlError> {
        self.page(page_id)?;
        self.stored(page_id, psid, &format!(" on page {page_id}"))
            .await
    }

    /// Conversations of a Page held by `role`, newest activity first.
    pub async fn queue(
        &self,
        page_id: &str,
        role: OwnerRole,
        unread_only: bool,
        limit: u32,
        cursor: Option<String>,
    ) -> Result<Listing<Conversation>, ControlError> {
        self.page(page_id)?;
        let query = QueueQuery {
            page_id: page_id.to_string(),
            role,
            unread_only,
            limit,
            cursor,
        };
        let listing = self.records.store().queue(&query).await;
        Ok(listing.map_err(RecordError::from)?)
    }

    pub async fn timeline(
        &self,
        page_id: &str,
        psid: &str,
        order: TimelineOrder,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<Listing<TimelineEntry>, ControlError> {
        self.page(page_id)?;
        let store = self.records.store();
        let listing = store.timeline(page_id, psid, order, limit, cursor).await;
        Ok(listing.map_err(RecordError::from)?)
    }

    /// The agents have seen it: no longer unread.
    pub async fn mark_read(&self, page_id: &str, psid: &str) -> Result<Conversation, ControlError> {
        self.page(page_id)?;
        let now = self.records.now();
        let record = self
            .records
            .update(page_id, psid, |current| {
                // A conversation never stored (version 0) is never unread: nothing written.
                if !current.unread {
                    return None;
                }
                let mut next = Transition::successor(current);
                // Seen everything so far, also what Meta stamped ahead of this clock.
                let seen = [
                    current.last_customer_message_at,
                    current.handed_to_humans_at,
                ];
                let through = seen.into_iter().flatten().fold(now, i64::max);
                next.state.note_answered(through);
                next.state.updated_at = now;
                Some(next)
            })
            .await?;
        if record.version == 0 {
            return Err(ControlError::UnknownConversation(format!(
                "no conversation with {psid}"
            )));
        }
        Ok(record)
    }
}
