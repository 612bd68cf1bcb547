//! What a claimed reset leads to: the reset recorded (or given back to an owner who renewed
//! meanwhile), left to Meta's own idle rule, or the claim dropped.

use super::{from_record, ResetError, ResetOutcome, SkipReason, TimedReset};
use crate::config::{PagePolicy, Secret};
use crate::ports::GraphError;
use crate::records::change_key;
use routing_domain::transition::{
    apply_control_change, confirm_recorded_change, ControlChange, Transition,
};
use routing_domain::{
    Cause, Conversation, EpochMillis, Happening, Owner, TimelineEntry, META_IDLE_SECS,
};

impl TimedReset {
    /// Meta confirmed the reset: record it, unless something happened meanwhile. A
    /// renewal (customer message, agent reply, the owner's take) wins: control goes back to
    /// the owner. Another owner since the claim decides: the reset is not recorded and a
    /// re-sync confirms with Meta.
    pub(super) async fn record_reset(
        &self,
        page: &PagePolicy,
        claimed: &Conversation,
        app_id: &str,
        token: &Secret,
        to: Owner,
        event: &str,
    ) -> Result<ResetOutcome, ResetError> {
        let finished_at = self.now();
        let key = change_key("timeout", finished_at);
        let metadata = format!("no activity for {} s", page.reset_after());
        let change = ControlChange {
            to,
            cause: Cause::Timeout,
            actor: Some(app_id),
            event,
            metadata: Some(&metadata),
            at: finished_at,
            key,
        };
        let mut outcome = ResetOutcome::Skipped {
            reason: SkipReason::ChangedMeanwhile,
        };
        let mut wrote = false;
        self.records
            .update_from(&page.id, &claimed.psid, Some(claimed.clone()), |current| {
                let (transition, decided) = after_reset(current, claimed, &change, page);
                outcome = decided;
                wrote = transition.is_some();
                transition
            })
            .await
            .map_err(from_record)?;
        if let (ResetOutcome::Restored { owner }, true) = (&outcome, wrote) {
            self.restore(page, &claimed.psid, owner, app_id, token)
                .await?;
        }
        Ok(outcome)
    }

    /// Give control back to `owner` at Meta after a reset that lost the race with a
    /// renewal; the record already says `owner`. Failing that, ask for a re-sync.
    async fn restore(
        &self,
        page: &PagePolicy,
        psid: &str,
        owner: &Owner,
        app_id: &str,
        token: &Secret,
    ) -> Result<(), ResetError> {
        let answer = self
            .graph
            .take_thread_control(token, &page.id, psid, Some("timed_reset_undone"))
            .await;
        let at = self.now();
        let key = change_key("timeout-undone", at);
        let failed = answer.as_ref().err().map(GraphError::to_string);
        tracing::info!(page_id = %page.id, restored = failed.is_none(), "timed reset lost a race with a renewal");
        self.records
            .update(&page.id, psid, |current| {
                let mut next = Transition::successor(current);
                next.state.needs_resync |= failed.is_some() || current.owner != *owner;
                next.timeline.push(TimelineEntry::new(
                    at,
                    &key,
                    Happening::Control {
                        from: owner.clone(),
                        to: owner.clone(),
                        cause: Cause::Timeout,
                        actor: Some(app_id.to_string()),
                        event: "timed_reset_undone".into(),
                        metadata: Some(match &failed {
                            None => "renewed while resetting; control given back".into(),
                            Some(err) => {
                                format!("renewed while resetting; give-back failed: {err}")
                            }
                        }),
                        late: false,
                    },
                ));
                Some(next)
            })
            .await
            .map_err(from_record)?;
        Ok(())
    }

    /// Meta's inbox or an app we hold no token for has it. Meta idles a thread after 24 h
    /// without activity: until then the lease moves to that deadline; after it, the
    /// record becomes idle and a re-sync confirms with Meta.
    pub(super) async fn leave_to_meta(
        &self,
        page: &PagePolicy,
        claimed: &Conversation,
    ) -> Result<ResetOutcome, ResetError> {
        let at = self.now();
        let key = change_key("timeout", at);
        let mut outcome = ResetOutcome::Skipped {
            reason: SkipReason::ChangedMeanwhile,
        };
        self.records
            .update_from(&page.id, &claimed.psid, Some(claimed.clone()), |current| {
                if current.reset_claimed_at != claimed.reset_claimed_at {
                    return None;
                }
                let (mut next, decided) = left_to_meta(current, claimed, page, at, &key);
                outcome = decided;
                next.state.reset_claimed_at = None;
                Some(next)
            })
            .await
            .map_err(from_record)?;
        Ok(outcome)
    }

    /// Drop the claim: for a retry (the lease stays due), or for good (`give_up`: flagged
    /// for re-sync and, unless a renewal landed meanwhile, taken out of the sweep until the
    /// re-sync sets the lease from Meta's answer).
    pub(super) async fn unclaim(
        &self,
        page: &PagePolicy,
        claimed: &Conversation,
        give_up: bool,
    ) -> Result<(), ResetError> {
        self.records
            .update_from(&page.id, &claimed.psid, Some(claimed.clone()), |current| {
                if current.reset_claimed_at != claimed.reset_claimed_at {
                    return None;
                }
                let mut next = Transition::successor(current);
                next.state.reset_claimed_at = None;
                if give_up {
                    next.state.needs_resync = true;
                    let untouched = current.owner == claimed.owner
                        && current.control_expires_at == claimed.control_expires_at;
                    if untouched {
                        next.state.control_expires_at = None;
                    }
                }
                Some(next)
            })
            .await
            .map_err(from_record)
            .map(drop)
    }
}

/// What the record says after Meta confirmed the reset `change` claimed on `claimed`: the
/// reset recorded when the claim is still ours, the owner the same and the lease still
/// due; else why not (Meta's own webhook came first, a renewal won, or another owner).
fn after_reset(
    current: &Conversation,
    claimed: &Conversation,
    change: &ControlChange<'_>,
    page: &PagePolicy,
) -> (Option<Transition>, ResetOutcome) {
    let from = claimed.owner.clone();
    let to = change.to.clone();
    let mine = current.reset_claimed_at == claimed.reset_claimed_at;
    let same_owner = current.owner == from;
    // A control event applied since the claim (a webhook, an API change): it may have
    // reached Meta before or after the release, so Meta is asked.
    let newer_event = current.control_marker() != claimed.control_marker();
    if mine && same_owner && current.lease_expired(change.at) {
        let mut transition = apply_control_change(current, change, page);
        transition.state.reset_claimed_at = None;
        transition.state.needs_resync |= newer_event;
        return (Some(transition), ResetOutcome::Reset { from, to });
    }
    let outcome = if current.owner == to {
        // Meta's webhook for the reset was applied first.
        ResetOutcome::Reset {
            from,
            to: to.clone(),
        }
    } else if same_owner {
        // Renewed (a reply, a message, a take by the owner) while Meta released it: the
        // owner gets control back.
        ResetOutcome::Restored { owner: from }
    } else {
        ResetOutcome::Skipped {
            reason: SkipReason::ChangedMeanwhile,
        }
    };
    if !mine {
        // Another executor took over an expired claim: it decides.
        return (None, outcome);
    }
    let mut next = if current.owner == to {
        // Meta confirmed the reset: it outranks every older event, as any confirmed change.
        confirm_recorded_change(current, change).unwrap_or_else(|| Transition::successor(current))
    } else {
        Transition::successor(current)
    };
    next.state.reset_claimed_at = None;
    // Another owner since the claim: whether Meta applied that change before or after the
    // release is unknown here; ask Meta.
    next.state.needs_resync |= !same_owner && current.owner != to;
    (Some(next), outcome)
}

/// Meta's inbox or an app we hold no token for has it: until Meta's own idle rule (24 h
/// without activity) the lease waits for it; after it, the record becomes idle and a
/// re-sync confirms with Meta.
fn left_to_meta(
    current: &Conversation,
    claimed: &Conversation,
    page: &PagePolicy,
    at: EpochMillis,
    key: &str,
) -> (Transition, ResetOutcome) {
    let meta_idles_at = current.last_activity_at.div_euclid(1000) + META_IDLE_SECS;
    let unchanged = current.control_marker() == claimed.control_marker();
    if !unchanged || !current.lease_expired(at) {
        let reason = SkipReason::ChangedMeanwhile;
        return (
            Transition::successor(current),
            ResetOutcome::Skipped { reason },
        );
    }
    if meta_idles_at * 1000 > at {
        let mut next = Transition::successor(current);
        next.state.control_expires_at = Some(meta_idles_at);
        let until = meta_idles_at;
        return (next, ResetOutcome::WaitsForMeta { until });
    }
    let change = ControlChange {
        to: Owner::idle(),
        cause: Cause::Timeout,
        actor: None,
        event: "meta_idle_timeout",
        metadata: Some("Meta idles the thread after 24 h without activity; re-sync queued"),
        at,
        key: key.to_string(),
    };
    let mut transition = apply_control_change(current, &change, page);
    transition.state.needs_resync = true;
    let from = claimed.owner.clone();
    (transition, ResetOutcome::LeftToMeta { from })
}
