//! A history from a seed: the conversations, the steps of real traffic, and the faults
//! Meta injects (each with its own per-history probability).

use std::fmt;

/// Our Page (its bot and inbox are ours) and a second Page whose bot is another company's
/// app (only its inbox is ours).
pub const PAGES: [&str; 2] = [routing_usecases::testing::PAGE, "222"];

/// One conversation: a Page and a customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv {
    pub page: usize,
    pub customer: usize,
}

impl Conv {
    pub fn page_id(self) -> &'static str {
        PAGES[self.page]
    }

    pub fn psid(self) -> String {
        format!("{}{:03}", 7000 + self.page * 100, self.customer)
    }
}

/// One step of traffic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    CustomerMessage(Conv),
    HandoverPostback(Conv),
    ReturnPostback(Conv),
    KeywordMessage(Conv),
    AgentReply {
        conv: Conv,
        take_control: bool,
        reset_after: bool,
    },
    /// The bot answers the customer through the control API (`as: bot`), taking control
    /// first or not.
    BotMessage {
        conv: Conv,
        take_control: bool,
    },
    BotPass(Conv),
    BotRelease(Conv),
    InboxRequest(Conv),
    PageInboxReply(Conv),
    Extend(Conv),
    Reset(Conv),
    MarkRead(Conv),
    AdvanceClock {
        secs: i64,
    },
    Sweep,
    TtlStreamRecord(Conv),
    ResyncBatch,
    ResyncOne(Conv),
}

/// A fault armed before a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The next webhook delivery is sent twice.
    DuplicateDelivery,
    /// The next delivery's first attempt is dropped (Meta retries it).
    DropFirstAttempt,
    /// Every attempt of the next delivery is lost: Meta gives up on it.
    DropEveryAttempt,
    /// The next `count` deliveries are held and released in reverse order.
    Reorder { count: u32 },
    /// The next call of `endpoint` fails with this HTTP status and Graph error; with
    /// `after_applying`, Meta applied the call before answering the error (an ambiguous
    /// answer: the coordinator must not repeat it).
    GraphError {
        endpoint: &'static str,
        status: u16,
        code: i64,
        subcode: Option<i64>,
        after_applying: bool,
    },
    /// The next call of `endpoint` is slow.
    Latency { endpoint: &'static str, ms: u64 },
}

impl Fault {
    /// The fault's kind, for the run's summary.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::DuplicateDelivery => "duplicated",
            Fault::DropFirstAttempt => "first attempt dropped",
            Fault::DropEveryAttempt => "given up",
            Fault::Reorder { .. } => "reordered",
            Fault::GraphError {
                after_applying: true,
                ..
            } => "graph error after applying",
            Fault::GraphError { .. } => "graph error",
            Fault::Latency { .. } => "slow answer",
        }
    }
}

/// The probabilities of this history's faults, per step.
#[derive(Clone, Copy, Debug)]
pub struct FaultRates {
    pub duplicate: f64,
    pub drop_first: f64,
    pub reorder: f64,
    pub graph_error: f64,
    pub latency: f64,
    /// Deliveries Meta gives up on (drawn apart from the rest, so that adding this fault
    /// left every earlier seed's history as it was).
    pub give_up: f64,
}

/// A seeded history.
#[derive(Clone, Debug)]
pub struct History {
    pub seed: u64,
    pub conversations: Vec<Conv>,
    pub rates: FaultRates,
    /// Steps do not wait for Meta's webhooks of the step before (deliveries race the next
    /// steps, as in production); otherwise every step waits for them (replays exactly).
    pub racing: bool,
    /// Each step with the faults armed just before it.
    pub steps: Vec<(Vec<Fault>, Step)>,
}

const GRAPH_ENDPOINTS: [&str; 5] = [
    "messages",
    "pass_thread_control",
    "take_thread_control",
    "release_thread_control",
    "thread_owner",
];

impl History {
    /// 1–20 conversations on 1–2 Pages, `min_steps..=max_steps` steps; with `racing`,
    /// half the histories let deliveries race the next steps.
    pub fn generate(seed: u64, min_steps: usize, max_steps: usize, racing: bool) -> History {
        let mut rng = fastrand::Rng::with_seed(seed);
        let pages = rng.usize(1..=2);
        let conversations: Vec<Conv> = (0..rng.usize(1..=20))
            .map(|customer| Conv {
                page: rng.usize(0..pages),
                customer,
            })
            .collect();
        let rates = FaultRates {
            duplicate: rng.f64() * 0.2,
            drop_first: rng.f64() * 0.15,
            reorder: rng.f64() * 0.1,
            graph_error: rng.f64() * 0.15,
            latency: rng.f64() * 0.05,
            give_up: 0.0,
        };
        let mut losses = fastrand::Rng::with_seed(seed.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15);
        let rates = FaultRates {
            give_up: losses.f64() * 0.03,
            ..rates
        };
        let racing = rng.bool() && racing;
        let count = rng.usize(min_steps..=max_steps.max(min_steps));
        let mut steps = Vec::with_capacity(count);
        for _ in 0..count {
            let conv = conversations[rng.usize(0..conversations.len())];
            let mut armed = faults(&mut rng, &rates);
            if losses.f64() < rates.give_up {
                armed.push(Fault::DropEveryAttempt);
            }
            steps.push((armed, step(&mut rng, conv)));
            // Bot messages, drawn apart too: earlier seeds keep their steps, in order.
            if losses.u32(0..100) < 6 {
                let take_control = losses.bool();
                steps.push((Vec::new(), Step::BotMessage { conv, take_control }));
            }
        }
        History {
            seed,
            conversations,
            rates,
            racing,
            steps,
        }
    }

    /// The same history with only the steps `keep` (for shrinking).
    pub fn with_steps(&self, keep: &[(Vec<Fault>, Step)]) -> History {
        History {
            steps: keep.to_vec(),
            ..self.clone()
        }
    }
}

fn step(rng: &mut fastrand::Rng, conv: Conv) -> Step {
    match rng.u32(0..100) {
        0..=21 => Step::CustomerMessage(conv),
        22..=28 => Step::HandoverPostback(conv),
        29..=32 => Step::ReturnPostback(conv),
        33..=36 => Step::KeywordMessage(conv),
        37..=50 => Step::AgentReply {
            conv,
            take_control: rng.bool(),
            reset_after: rng.u32(0..5) == 0,
        },
        51..=54 => Step::BotPass(conv),
        55..=57 => Step::BotRelease(conv),
        58..=60 => Step::InboxRequest(conv),
        61..=66 => Step::PageInboxReply(conv),
        67..=69 => Step::Extend(conv),
        70..=72 => Step::Reset(conv),
        73..=76 => Step::MarkRead(conv),
        77..=84 => Step::AdvanceClock {
            secs: [30, 600, 3_700, 90_000][rng.usize(0..4)],
        },
        85..=89 => Step::Sweep,
        90..=91 => Step::TtlStreamRecord(conv),
        92..=95 => Step::ResyncBatch,
        _ => Step::ResyncOne(conv),
    }
}

fn faults(rng: &mut fastrand::Rng, rates: &FaultRates) -> Vec<Fault> {
    let mut armed = Vec::new();
    if rng.f64() < rates.duplicate {
        armed.push(Fault::DuplicateDelivery);
    }
    if rng.f64() < rates.drop_first {
        armed.push(Fault::DropFirstAttempt);
    }
    if rng.f64() < rates.reorder {
        armed.push(Fault::Reorder {
            count: rng.u32(2..=4),
        });
    }
    if rng.f64() < rates.graph_error {
        let endpoint = GRAPH_ENDPOINTS[rng.usize(0..GRAPH_ENDPOINTS.len())];
        let (status, code, subcode, after_applying) = match rng.u32(0..5) {
            0 => (500, 2, None, false),
            1 => (400, 613, None, false),
            2 if endpoint == "messages" => (400, 10, Some(2_018_300), false),
            2 => (400, 100, Some(2_534_037), false),
            3 => (500, 2, None, endpoint != "thread_owner"),
            _ => (503, 1, None, false),
        };
        armed.push(Fault::GraphError {
            endpoint,
            status,
            code,
            subcode,
            after_applying,
        });
    }
    if rng.f64() < rates.latency {
        let endpoint = GRAPH_ENDPOINTS[rng.usize(0..GRAPH_ENDPOINTS.len())];
        armed.push(Fault::Latency {
            endpoint,
            ms: rng.u64(50..400),
        });
    }
    armed
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {} ({} conversations, {}, fault rates {:?})",
            self.seed,
            self.conversations.len(),
            if self.racing {
                "racing deliveries"
            } else {
                "settled steps"
            },
            self.rates
        )?;
        for (i, (faults, step)) in self.steps.iter().enumerate() {
            if faults.is_empty() {
                writeln!(f, "  {i:3}: {step:?}")?;
            } else {
                writeln!(f, "  {i:3}: {step:?}   faults {faults:?}")?;
            }
        }
        Ok(())
    }
}
