//! A Page's opening hours: a time zone, weekly open intervals and closed dates. Pure
//! calendar arithmetic (IANA zones from the bundled database, daylight saving included):
//! whether the Page is open at an instant, and when a number of *open* seconds have
//! passed since an instant (the unclaimed timer counts open hours only).

use std::collections::BTreeSet;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

use super::time::{EpochMillis, EpochSeconds};

/// Minutes in a day: an interval may end at `24:00`.
pub const MINUTES_PER_DAY: u16 = 24 * 60;
/// How far ahead a deadline is looked for (a calendar open less than this never ends).
const SEARCH_DAYS: u32 = 400;

/// Opening hours, validated: intervals are `[start, end)` minutes after local midnight,
/// sorted and disjoint within each day.
#[derive(Clone, Debug, PartialEq)]
pub struct OpeningHours {
    zone: TimeZone,
    /// Monday first.
    weekly: [Vec<(u16, u16)>; 7],
    closed: BTreeSet<Date>,
}

impl OpeningHours {
    /// `weekly[0]` is Monday's intervals; each is sorted, disjoint, `start < end <= 1440`.
    pub fn new(zone: TimeZone, weekly: [Vec<(u16, u16)>; 7], closed: BTreeSet<Date>) -> Self {
        OpeningHours {
            zone,
            weekly,
            closed,
        }
    }

    /// The open intervals of `date` as epoch seconds `[start, end)`.
    fn intervals_on(&self, date: Date) -> Vec<(EpochSeconds, EpochSeconds)> {
        if self.closed.contains(&date) {
            return Vec::new();
        }
        let day = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
        self.weekly[day % 7]
            .iter()
            .filter_map(|&(start, end)| {
                Some((self.instant(date, start)?, self.instant(date, end)?))
            })
            .filter(|(start, end)| start < end)
            .collect()
    }

    /// `minutes` after local midnight of `date` (1440: the next midnight), as epoch
    /// seconds; a local time that does not exist (a daylight-saving gap) moves forward.
    fn instant(&self, date: Date, minutes: u16) -> Option<EpochSeconds> {
        let (date, minutes) = if minutes >= MINUTES_PER_DAY {
            (date.tomorrow().ok()?, 0)
        } else {
            (date, minutes)
        };
        let hour = i8::try_from(minutes / 60).ok()?;
        let minute = i8::try_from(minutes % 60).ok()?;
        let local = date.at(hour, minute, 0, 0);
        Some(self.zone.to_timestamp(local).ok()?.as_second())
    }

    fn local_date(&self, at: EpochSeconds) -> Option<Date> {
        let instant = Timestamp::from_second(at).ok()?;
        Some(instant.to_zoned(self.zone.clone()).date())
    }

    /// The Page is open at `at`.
    pub fn is_open(&self, at: EpochMillis) -> bool {
        let secs = at.div_euclid(1000);
        let Some(date) = self.local_date(secs) else {
            return false;
        };
        [date.yesterday().ok(), Some(date)]
            .into_iter()
            .flatten()
            .flat_map(|d| self.intervals_on(d))
            .any(|(start, end)| start <= secs && secs < end)
    }

    /// When `open_secs` seconds of opening time have passed since `from` (epoch seconds),
    /// or `None` when the calendar has not that much opening time within about a year.
    pub fn after_open_secs(&self, from: EpochMillis, open_secs: i64) -> Option<EpochSeconds> {
        let from = from.div_euclid(1000);
        let mut left = open_secs.max(0);
        let mut date = self.local_date(from)?.yesterday().ok()?;
        for _ in 0..SEARCH_DAYS {
            for (start, end) in self.intervals_on(date) {
                let start = start.max(from);
                if end <= start {
                    continue;
                }
                if end - start >= left {
                    return Some(start + left);
                }
                left -= end - start;
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 09:00–17:00 Monday to Friday in Berlin, closed on 2026-12-25.
    fn office() -> OpeningHours {
        let day = vec![(9 * 60, 17 * 60)];
        OpeningHours::new(
            TimeZone::get("Europe/Berlin").unwrap(),
            [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                Vec::new(),
                Vec::new(),
            ],
            BTreeSet::from([Date::new(2026, 12, 25).unwrap()]),
        )
    }

    fn at(text: &str) -> EpochMillis {
        let zoned: jiff::Zoned = text.parse().unwrap();
        zoned.timestamp().as_millisecond()
    }

    #[test]
    fn open_within_the_weekly_hours_of_the_page_s_zone() {
        let hours = office();
        // Tuesday 2026-12-01, Berlin is UTC+1 in winter.
        assert!(hours.is_open(at("2026-12-01T09:00:00+01:00[Europe/Berlin]")));
        assert!(hours.is_open(at("2026-12-01T16:59:59+01:00[Europe/Berlin]")));
        assert!(!hours.is_open(at("2026-12-01T17:00:00+01:00[Europe/Berlin]")));
        assert!(!hours.is_open(at("2026-12-01T08:59:00+01:00[Europe/Berlin]")));
        assert!(
            !hours.is_open(at("2026-12-05T12:00:00+01:00[Europe/Berlin]")),
            "Saturday"
        );
        assert!(
            !hours.is_open(at("2026-12-25T12:00:00+01:00[Europe/Berlin]")),
            "closed date"
        );
        // Summer time: 09:00 in Berlin is 07:00 UTC.
        assert!(hours.is_open(at("2026-07-01T07:00:00+00:00[UTC]")));
        assert!(!hours.is_open(at("2026-07-01T06:59:00+00:00[UTC]")));
    }

    #[test]
    fn the_timer_counts_open_seconds_only() {
        let hours = office();
        let secs = |t: &str| at(t) / 1000;
        // Within the day.
        assert_eq!(
            hours.after_open_secs(at("2026-12-01T10:00:00+01:00[Europe/Berlin]"), 1800),
            Some(secs("2026-12-01T10:30:00+01:00[Europe/Berlin]"))
        );
        // Friday 16:30 + 1 h of open time: Monday 09:30.
        assert_eq!(
            hours.after_open_secs(at("2026-12-04T16:30:00+01:00[Europe/Berlin]"), 3600),
            Some(secs("2026-12-07T09:30:00+01:00[Europe/Berlin]"))
        );
        // Handed over at night: the clock starts at opening.
        assert_eq!(
            hours.after_open_secs(at("2026-12-01T22:00:00+01:00[Europe/Berlin]"), 600),
            Some(secs("2026-12-02T09:10:00+01:00[Europe/Berlin]"))
        );
        // Thursday 24th after hours: the 25th is closed, so Saturday/Sunday too: Monday.
        assert_eq!(
            hours.after_open_secs(at("2026-12-24T18:00:00+01:00[Europe/Berlin]"), 60),
            Some(secs("2026-12-28T09:01:00+01:00[Europe/Berlin]"))
        );
        // Across the spring change of clocks (Sunday 2026-03-29): Friday 16:00 + 2 h.
        assert_eq!(
            hours.after_open_secs(at("2026-03-27T16:00:00+01:00[Europe/Berlin]"), 7200),
            Some(secs("2026-03-30T10:00:00+02:00[Europe/Berlin]"))
        );
    }

    #[test]
    fn a_calendar_that_never_opens_has_no_deadline() {
        let never = OpeningHours::new(TimeZone::UTC, Default::default(), BTreeSet::new());
        assert!(!never.is_open(0));
        assert_eq!(never.after_open_secs(0, 60), None);
        let always = OpeningHours::new(
            TimeZone::UTC,
            std::array::from_fn(|_| vec![(0, MINUTES_PER_DAY)]),
            BTreeSet::new(),
        );
        assert_eq!(always.after_open_secs(1_000, 90_000), Some(90_001));
    }
}
