//! The out-of-hours notice: a hand-over to humans outside the Page's opening hours still
//! goes to the inbox, and the customer gets the Page's `out_of_hours` message, once per
//! hand-over. The hand-over's write marks it due (`domain::note_write`) and the lease item
//! wakes the sweep for it, so it is sent within a minute. It is taken off the record
//! first (a write conditional on the version that shows it due) and then sent as the
//! owner app, so no hand-over gets it twice; a send that fails is logged, not repeated.
//! A notice that cannot be sent (the Page's settings, as this container read them, have no
//! `out_of_hours` message any more; the owner is no app of ours) is taken off all the
//! same, so the lease never stays due for it.
//! Its echo carries `AUTOMATIC_MESSAGE_METADATA`, so it is no agent's answer.

use crate::ports::{MessagingType, OutgoingMessage};
use routing_domain::transition::Transition;
use routing_domain::AUTOMATIC_MESSAGE_METADATA;

use super::{from_record, ResetError, TimedReset};

impl TimedReset {
    /// Send the conversation's out-of-hours notice if it is due; whether it was sent now.
    pub async fn send_out_of_hours(&self, page_id: &str, psid: &str) -> Result<bool, ResetError> {
        let config = self.records.config().clone();
        let Some(page) = config.page(page_id) else {
            return Ok(false);
        };
        let text = page.messages.out_of_hours.clone();
        let Some(sender) = self.take_notice(page_id, psid).await? else {
            return Ok(false);
        };
        let (Some(app_id), Some(text)) = (sender, text) else {
            tracing::warn!(
                page_id,
                "out-of-hours notice cannot be sent (no message configured, or the owner is not ours); cleared"
            );
            return Ok(false);
        };
        let Some((_, token)) = config.app_with_token(&app_id, page_id) else {
            return Ok(false);
        };
        let message = OutgoingMessage {
            text,
            messaging_type: MessagingType::Response,
            metadata: Some(AUTOMATIC_MESSAGE_METADATA.to_string()),
            thread_control: None,
        };
        match self
            .graph
            .send_message(token, page_id, psid, &message)
            .await
        {
            Ok(_) => {
                tracing::info!(page_id, "out-of-hours message sent");
                Ok(true)
            }
            Err(err) => {
                tracing::warn!(page_id, error = %err, "out-of-hours message not sent");
                Ok(false)
            }
        }
    }

    /// Take a due notice off the record (a write conditional on the version that shows it
    /// due): `None` when none is due, else the owner app to send it as, when it is ours.
    async fn take_notice(
        &self,
        page_id: &str,
        psid: &str,
    ) -> Result<Option<Option<String>>, ResetError> {
        let config = self.records.config().clone();
        let now = self.now();
        let mut taken: Option<Option<String>> = None;
        self.records
            .update(page_id, psid, |current| {
                taken = None;
                let due = current
                    .out_of_hours_due
                    .is_some_and(|due| due <= now.div_euclid(1000));
                if current.version == 0 || !due {
                    return None;
                }
                let mut next = Transition::successor(current);
                next.state.out_of_hours_due = None;
                next.state.updated_at = now;
                taken = Some(
                    current
                        .owner
                        .app_id
                        .clone()
                        .filter(|app| config.app_with_token(app, page_id).is_some()),
                );
                Some(next)
            })
            .await
            .map_err(from_record)?;
        Ok(taken)
    }
}
