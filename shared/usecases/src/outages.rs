//! A scheduled run's streak of Graph answers "unavailable": the sweep and the re-sync batch
//! stop after [`MAX_OUTAGES_IN_A_ROW`] of them instead of spending the run on an outage.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Scheduled runs (the sweep, the re-sync batch) stop after this many Graph calls in a row
/// found the API unavailable (5xx, timeouts, after the client's own retries): the rest
/// waits for the next run.
pub const MAX_OUTAGES_IN_A_ROW: u32 = 3;

/// The streak, shared by a run's concurrent calls: once it reaches
/// [`MAX_OUTAGES_IN_A_ROW`] the API counts as down for the run.
#[derive(Debug, Default)]
pub struct OutageStreak {
    in_a_row: AtomicU32,
    down: AtomicBool,
}

impl OutageStreak {
    /// One more call found the API unavailable.
    pub fn unavailable(&self) {
        if self.in_a_row.fetch_add(1, Ordering::Relaxed) + 1 >= MAX_OUTAGES_IN_A_ROW {
            self.down.store(true, Ordering::Relaxed);
        }
    }

    /// A call got through: the streak ends.
    pub fn answered(&self) {
        self.in_a_row.store(0, Ordering::Relaxed);
    }

    /// [`MAX_OUTAGES_IN_A_ROW`] calls in a row found the API unavailable: stop the run.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}
