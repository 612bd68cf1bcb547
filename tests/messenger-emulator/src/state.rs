//! The emulator's state: threads, sent messages, faults, and the webhook outbox.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::clock::Clock;
use crate::config::{AppConfig, EmulatorConfig, PageConfig};
use crate::delivery::{Dispatcher, Job};
use crate::faults::Faults;
use crate::meta_json::{signature_256, to_meta_json};
use crate::PAGE_INBOX_APP_ID;

/// 24 hours in milliseconds.
pub(crate) const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// 7 days in milliseconds.
pub(crate) const WEEK_MS: i64 = 7 * DAY_MS;

/// The app controlling a thread and until when.
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub app_id: String,
    pub expires_at_ms: i64,
}

/// One conversation (Page, PSID).
#[derive(Debug, Clone, Default)]
pub(crate) struct Thread {
    pub owner: Option<Owner>,
    pub last_customer_ms: Option<i64>,
}

impl Thread {
    /// The owner at `now`, or `None` when the thread is idle (no owner or control expired).
    pub(crate) fn owner_at(&self, now: i64) -> Option<&Owner> {
        self.owner
            .as_ref()
            .filter(|owner| now < owner.expires_at_ms)
    }

    pub(crate) fn owner_id_at(&self, now: i64) -> Option<String> {
        self.owner_at(now).map(|owner| owner.app_id.clone())
    }
}

/// A message sent through the Send API or by a human in Meta's inbox.
#[derive(Debug, Clone, Serialize)]
pub struct SentMessage {
    /// The `m_...` id returned to the sender.
    pub message_id: String,
    /// The Page.
    pub page_id: String,
    /// The recipient.
    pub psid: String,
    /// The sending app (263902037430900 for a human in Meta's inbox).
    pub app_id: String,
    /// `RESPONSE`, `UPDATE`, `MESSAGE_TAG`, or null for an inbox reply.
    pub messaging_type: Option<String>,
    /// The message tag (e.g. `HUMAN_AGENT`), if any.
    pub tag: Option<String>,
    /// The text.
    pub text: String,
    /// `message.metadata`, if any.
    pub metadata: Option<String>,
    /// The `thread_control` object of the call, if any.
    pub thread_control: Option<Value>,
    /// The thread's owner when the message was sent (null: idle), before any
    /// `thread_control` of the call; a test oracle, not something Meta tells.
    pub owner_at_send: Option<String>,
    /// Emulator clock, epoch ms.
    pub timestamp: i64,
}

/// Mutable state, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct World {
    pub threads: BTreeMap<(String, String), Thread>,
    pub sent: Vec<SentMessage>,
    pub faults: Faults,
    seq: u64,
    delivery_seq: u64,
}

impl World {
    pub(crate) fn thread_mut(&mut self, page_id: &str, psid: &str) -> &mut Thread {
        self.threads
            .entry((page_id.to_owned(), psid.to_owned()))
            .or_default()
    }

    pub(crate) fn thread(&self, page_id: &str, psid: &str) -> Option<&Thread> {
        self.threads.get(&(page_id.to_owned(), psid.to_owned()))
    }

    /// A new unique message id.
    pub(crate) fn next_mid(&mut self, now: i64) -> String {
        self.seq += 1;
        format!("m_emu{now:x}{:06x}", self.seq)
    }

    fn next_delivery_id(&mut self) -> u64 {
        self.delivery_seq += 1;
        self.delivery_seq
    }

    /// Clears threads, messages and faults (held deliveries are returned for release).
    pub(crate) fn reset(&mut self) -> Vec<Job> {
        self.threads.clear();
        self.sent.clear();
        self.reset_faults()
    }

    /// Clears every fault (held deliveries are returned for release, reversed).
    pub(crate) fn reset_faults(&mut self) -> Vec<Job> {
        let held = self.take_held();
        self.faults = Faults::default();
        held
    }

    /// Removes the deliveries held by the `reverse` fault, in reverse order.
    pub(crate) fn take_held(&mut self) -> Vec<Job> {
        match self.faults.reverse.take() {
            Some(hold) => hold.held.into_iter().rev().collect(),
            None => Vec::new(),
        }
    }

    /// [`World::take_held`] once the `reverse` fault holds its count; nothing before.
    pub(crate) fn take_held_if_collected(&mut self) -> Vec<Job> {
        let collected = self
            .faults
            .reverse
            .as_ref()
            .is_some_and(|hold| hold.held.len() >= hold.count as usize);
        if collected {
            self.take_held()
        } else {
            Vec::new()
        }
    }
}

/// A webhook event to deliver to one app.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub page_id: String,
    pub app_id: String,
    pub psid: String,
    pub channel: &'static str,
    pub kind: &'static str,
    pub event: Value,
}

/// Everything the HTTP handlers share.
pub(crate) struct Shared {
    pub config: EmulatorConfig,
    tokens: HashMap<String, (usize, usize)>,
    pub clock: Arc<Clock>,
    world: Mutex<World>,
    pub dispatcher: Dispatcher,
}

impl Shared {
    /// Builds the state and starts the delivery workers (inside a Tokio runtime).
    pub(crate) fn new(config: EmulatorConfig) -> Result<Self, reqwest::Error> {
        let clock = Arc::new(Clock::default());
        let mut tokens = HashMap::new();
        let mut subscribers = Vec::new();
        for (p, page) in config.pages.iter().enumerate() {
            for (a, app) in page.apps.iter().enumerate() {
                tokens.insert(app.page_token.clone(), (p, a));
                if app.subscribed() {
                    subscribers.push((page.id.clone(), app.id.clone()));
                }
            }
        }
        let dispatcher =
            Dispatcher::start(subscribers, config.delivery.clone(), Arc::clone(&clock))?;
        Ok(Self {
            config,
            tokens,
            clock,
            world: Mutex::new(World::default()),
            dispatcher,
        })
    }

    pub(crate) fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The Page and app a token belongs to.
    pub(crate) fn token(&self, token: &str) -> Option<(&PageConfig, &AppConfig)> {
        let (p, a) = *self.tokens.get(token)?;
        let page = self.config.pages.get(p)?;
        Some((page, page.apps.get(a)?))
    }

    pub(crate) fn page(&self, page_id: &str) -> Option<&PageConfig> {
        self.config.pages.iter().find(|page| page.id == page_id)
    }

    /// Runs `f` under the state lock, then queues the webhooks it produced, still under
    /// the lock so queue order matches the order of state changes.
    pub(crate) fn with_world<R>(&self, f: impl FnOnce(&mut World, &mut Vec<Outgoing>) -> R) -> R {
        let mut world = self.world.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        let result = f(&mut world, &mut out);
        let now = self.now();
        for outgoing in out {
            self.dispatch(&mut world, outgoing, now);
        }
        result
    }

    /// Releases held deliveries and waits until every queued delivery has been attempted
    /// to the end. Returns the number still pending on timeout.
    pub(crate) async fn settle(&self, timeout: Duration) -> Result<(), usize> {
        self.dispatcher
            .send_all(self.with_world(|world, _| world.take_held()));
        match tokio::time::timeout(timeout, self.dispatcher.wait_idle()).await {
            Ok(()) => Ok(()),
            Err(_) => Err(self.dispatcher.pending()),
        }
    }

    /// Resets threads, messages, faults and the delivery log (not the clock).
    pub(crate) fn reset(&self) {
        self.dispatcher
            .send_all(self.with_world(|world, _| world.reset()));
        self.dispatcher.clear_records();
    }

    /// Clears every fault, releasing held deliveries (reversed).
    pub(crate) fn reset_faults(&self) {
        self.dispatcher
            .send_all(self.with_world(|world, _| world.reset_faults()));
    }

    fn dispatch(&self, world: &mut World, outgoing: Outgoing, now: i64) {
        let Some(page) = self.page(&outgoing.page_id) else {
            return;
        };
        let Some(app) = page.apps.iter().find(|app| app.id == outgoing.app_id) else {
            return;
        };
        let Some(url) = app.webhook_url.clone() else {
            return;
        };
        let mut entry = Map::new();
        entry.insert("id".into(), json!(page.id));
        entry.insert("time".into(), json!(now));
        entry.insert(outgoing.channel.into(), json!([outgoing.event]));
        let envelope = json!({"object": "page", "entry": [Value::Object(entry)]});
        let body = match to_meta_json(&envelope) {
            Ok(body) => body,
            Err(err) => {
                tracing::error!(%err, "cannot serialise webhook body");
                return;
            }
        };
        let signature = signature_256(&app.app_secret, &body);
        let job = Job {
            delivery_id: world.next_delivery_id(),
            page_id: outgoing.page_id,
            app_id: outgoing.app_id,
            psid: outgoing.psid,
            url,
            channel: outgoing.channel,
            kind: outgoing.kind,
            body: body.into(),
            signature,
            drop_first: false,
            drop_every: false,
            duplicate: false,
        };
        let mut jobs = vec![job];
        if world.faults.duplicate_remaining > 0 {
            world.faults.duplicate_remaining -= 1;
            let mut copy = jobs[0].clone();
            copy.delivery_id = world.next_delivery_id();
            copy.duplicate = true;
            jobs.push(copy);
        }
        for job in &mut jobs {
            if world.faults.drop_every_remaining > 0 {
                world.faults.drop_every_remaining -= 1;
                job.drop_every = true;
                continue;
            }
            if world.faults.drop_first_remaining > 0 {
                world.faults.drop_first_remaining -= 1;
                job.drop_first = true;
            }
        }
        for job in jobs {
            self.dispatcher.add_pending();
            match world.faults.reverse.as_mut() {
                Some(hold) => {
                    hold.held.push(job);
                    self.dispatcher.send_all(world.take_held_if_collected());
                }
                None => self.dispatcher.send(job),
            }
        }
    }

    /// An app id as it appears inside webhook events.
    pub(crate) fn app_value(&self, app_id: &str) -> Value {
        if self.config.numeric_app_ids {
            if let Ok(number) = app_id.parse::<u64>() {
                return json!(number);
            }
        }
        json!(app_id)
    }

    /// Sends `messaging` to the owner and `standby` to every other subscribed app with
    /// the standby permission.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn fan_out(
        &self,
        out: &mut Vec<Outgoing>,
        page: &PageConfig,
        psid: &str,
        owner: Option<&str>,
        kind: &'static str,
        messaging: &Value,
        standby: &Value,
    ) {
        for app in page.apps.iter().filter(|app| app.subscribed()) {
            let (channel, event) = if owner == Some(app.id.as_str()) {
                ("messaging", messaging)
            } else if app.standby {
                ("standby", standby)
            } else {
                continue;
            };
            out.push(Outgoing {
                page_id: page.id.clone(),
                app_id: app.id.clone(),
                psid: psid.to_owned(),
                channel,
                kind,
                event: event.clone(),
            });
        }
    }

    /// Sends the handover event `kind` (`pass_`, `take_` or `request_thread_control`) on
    /// `messaging` to `app_id` (if it is subscribed): the app ids of `fields` (null for
    /// `None`), then `metadata` if any.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handover(
        &self,
        out: &mut Vec<Outgoing>,
        page: &PageConfig,
        psid: &str,
        now: i64,
        app_id: &str,
        kind: &'static str,
        fields: &[(&str, Option<&str>)],
        metadata: Option<String>,
    ) {
        let subscribed = page
            .apps
            .iter()
            .any(|app| app.id == app_id && app.subscribed());
        if !subscribed {
            return;
        }
        let mut body = Map::new();
        for (key, id) in fields {
            body.insert(
                (*key).to_owned(),
                id.map_or(Value::Null, |id| self.app_value(id)),
            );
        }
        if let Some(metadata) = metadata {
            body.insert("metadata".into(), json!(metadata));
        }
        out.push(Outgoing {
            page_id: page.id.clone(),
            app_id: app_id.to_owned(),
            psid: psid.to_owned(),
            channel: "messaging",
            kind,
            event: user_event(&page.id, psid, now, kind, Value::Object(body)),
        });
    }
}

/// Whether `app_id` is a connected app of `page` (Meta's Page Inbox always is).
pub(crate) fn is_connected(page: &PageConfig, app_id: &str) -> bool {
    app_id == PAGE_INBOX_APP_ID
        || page
            .apps
            .iter()
            .any(|app| app.id == app_id && app.connected)
}

/// A webhook event: `{sender, recipient, timestamp, key: body}`.
fn event(sender: &str, recipient: &str, now: i64, key: &str, body: Value) -> Value {
    let mut event = Map::new();
    event.insert("sender".into(), json!({"id": sender}));
    event.insert("recipient".into(), json!({"id": recipient}));
    event.insert("timestamp".into(), json!(now));
    event.insert(key.into(), body);
    Value::Object(event)
}

/// An event from the customer: sender = PSID, recipient = Page.
pub(crate) fn user_event(page_id: &str, psid: &str, now: i64, key: &str, body: Value) -> Value {
    event(psid, page_id, now, key, body)
}

/// An event from the Page (echo): sender = Page, recipient = PSID.
pub(crate) fn page_event(page_id: &str, psid: &str, now: i64, key: &str, body: Value) -> Value {
    event(page_id, psid, now, key, body)
}

/// A JSON view of a thread for the control API.
pub(crate) fn thread_view(page_id: &str, psid: &str, thread: Option<&Thread>, now: i64) -> Value {
    let owner = thread.and_then(|t| t.owner_at(now));
    json!({
        "page_id": page_id,
        "psid": psid,
        "owner_app_id": owner.map(|o| o.app_id.clone()),
        "idle": owner.is_none(),
        "expires_at_ms": owner.map(|o| o.expires_at_ms),
        "expires_at": owner.map(|o| o.expires_at_ms.div_euclid(1000)),
        "last_customer_message_at_ms": thread.and_then(|t| t.last_customer_ms),
        "now_ms": now,
    })
}
