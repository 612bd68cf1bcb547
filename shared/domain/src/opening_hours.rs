//! A Page's opening hours: a time zone, weekly open intervals and closed dates. Pure
//! calendar arithmetic: whether the Page is open at an instant, and when a number of
//! *open* seconds have passed since an instant (the unclaimed timer counts open hours
//! only). Time zones are IANA zones from the bundled database ([`Zone`]), daylight saving
//! included; of them only the UTC offset at an instant is used, the calendar itself is
//! days since the epoch (keeping the functions' binaries small).

use std::collections::BTreeSet;

use super::time::{EpochMillis, EpochSeconds};
use super::zone::Zone;

/// Minutes in a day: an interval may end at `24:00`.
pub const MINUTES_PER_DAY: u16 = 24 * 60;
/// How far ahead a deadline is looked for (a calendar open less than this never ends).
const SEARCH_DAYS: i64 = 400;
const SECS_PER_DAY: i64 = 86_400;

/// A civil date as days since 1970-01-01 (proleptic Gregorian).
pub type DayNumber = i64;

/// Days since 1970-01-01 of `year-month-day`, when that date exists (years 1–9999).
pub fn day_number(year: i32, month: u8, day: u8) -> Option<DayNumber> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if !(1..=9999).contains(&year) || day == 0 || day > days_in_month {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// `(year, month, day)` of a day number.
pub fn civil_date(days: DayNumber) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u8, day as u8)
}

/// Monday = 0 … Sunday = 6 (1970-01-01 was a Thursday).
fn weekday(days: DayNumber) -> usize {
    (days + 3).rem_euclid(7) as usize
}

/// Opening hours, validated: intervals are `[start, end)` minutes after local midnight,
/// sorted and disjoint within each day.
#[derive(Clone, Debug, PartialEq)]
pub struct OpeningHours {
    zone: Zone,
    /// Monday first.
    weekly: [Vec<(u16, u16)>; 7],
    closed: BTreeSet<DayNumber>,
}

impl OpeningHours {
    /// `weekly[0]` is Monday's intervals; each is sorted, disjoint, `start < end <= 1440`.
    pub fn new(zone: Zone, weekly: [Vec<(u16, u16)>; 7], closed: BTreeSet<DayNumber>) -> Self {
        OpeningHours {
            zone,
            weekly,
            closed,
        }
    }

    /// The zone's UTC offset at `at` (epoch seconds), in seconds.
    fn offset(&self, at: EpochSeconds) -> i64 {
        self.zone.offset_at(at)
    }

    /// The instants whose local wall-clock time lies in `[from, to)` (seconds since the
    /// local epoch), as ascending epoch-second intervals `[start, end)`: between two
    /// changes of the zone's offset the local clock runs evenly, so each stretch of one
    /// offset contributes the part whose local time is in range. A boundary inside a gap
    /// (spring forward) therefore falls on the instant the gap ends; a time that repeats
    /// (autumn) is in range twice.
    fn instants_of_local(&self, from: i64, to: i64) -> Vec<(EpochSeconds, EpochSeconds)> {
        // UTC offsets lie within ±26 h.
        let (lo, hi) = (from - 26 * 3600, to + 26 * 3600);
        let changes = self.zone.transitions_between(lo, hi);
        let starts = std::iter::once(lo).chain(changes.iter().copied());
        let ends = changes.iter().copied().chain(std::iter::once(hi));
        let mut spans: Vec<(EpochSeconds, EpochSeconds)> = Vec::new();
        for (a, b) in starts.zip(ends) {
            let offset = self.offset(a);
            let (start, end) = ((from - offset).max(a), (to - offset).min(b));
            if start >= end {
                continue;
            }
            match spans.last_mut() {
                Some(last) if last.1 == start => last.1 = end,
                _ => spans.push((start, end)),
            }
        }
        spans
    }

    /// The open intervals of local day `day` as epoch seconds `[start, end)`, ascending.
    fn intervals_on(&self, day: DayNumber) -> Vec<(EpochSeconds, EpochSeconds)> {
        if self.closed.contains(&day) {
            return Vec::new();
        }
        let midnight = day * SECS_PER_DAY;
        self.weekly[weekday(day)]
            .iter()
            .flat_map(|&(start, end)| {
                self.instants_of_local(
                    midnight + i64::from(start) * 60,
                    midnight + i64::from(end) * 60,
                )
            })
            .collect()
    }

    fn local_day(&self, at: EpochSeconds) -> DayNumber {
        (at + self.offset(at)).div_euclid(SECS_PER_DAY)
    }

    /// The Page is open at `at`: its local wall-clock time falls in an open interval of
    /// its local date.
    pub fn is_open(&self, at: EpochMillis) -> bool {
        let secs = at.div_euclid(1000);
        let local = secs + self.offset(secs);
        let day = local.div_euclid(SECS_PER_DAY);
        let minute = local.rem_euclid(SECS_PER_DAY) / 60;
        !self.closed.contains(&day)
            && self.weekly[weekday(day)]
                .iter()
                .any(|&(start, end)| i64::from(start) <= minute && minute < i64::from(end))
    }

    /// When `open_secs` seconds of opening time have passed since `from` (epoch seconds),
    /// or `None` when the calendar has not that much opening time within about a year.
    pub fn after_open_secs(&self, from: EpochMillis, open_secs: i64) -> Option<EpochSeconds> {
        let from = from.div_euclid(1000);
        let mut left = open_secs.max(0);
        let first = self.local_day(from) - 1;
        for day in first..first + SEARCH_DAYS {
            for (start, end) in self.intervals_on(day) {
                let start = start.max(from);
                if end <= start {
                    continue;
                }
                if end - start >= left {
                    return Some(start + left);
                }
                left -= end - start;
            }
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
            Zone::named("Europe/Berlin").unwrap(),
            [
                day.clone(),
                day.clone(),
                day.clone(),
                day.clone(),
                day,
                Vec::new(),
                Vec::new(),
            ],
            BTreeSet::from([day_number(2026, 12, 25).unwrap()]),
        )
    }

    fn at(text: &str) -> EpochMillis {
        let zoned: jiff::Zoned = text.parse().unwrap();
        zoned.timestamp().as_millisecond()
    }

    #[test]
    fn day_numbers_round_trip_and_name_the_weekday() {
        assert_eq!(day_number(1970, 1, 1), Some(0));
        assert_eq!(day_number(2026, 11, 30), Some(20_787));
        assert_eq!(weekday(20_787), 0, "2026-11-30 is a Monday");
        assert_eq!(civil_date(20_787), (2026, 11, 30));
        assert_eq!(day_number(2024, 2, 29).map(civil_date), Some((2024, 2, 29)));
        assert_eq!(day_number(2026, 2, 29), None);
        assert_eq!(day_number(2026, 13, 1), None);
        for days in [-1, 0, 59, 60, 11_016, 20_787, 2_932_896] {
            let (y, m, d) = civil_date(days);
            assert_eq!(day_number(y as i32, m, d), Some(days), "{days}");
        }
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
        let never = OpeningHours::new(Zone::utc(), Default::default(), BTreeSet::new());
        assert!(!never.is_open(0));
        assert_eq!(never.after_open_secs(0, 60), None);
        let always = OpeningHours::new(
            Zone::utc(),
            std::array::from_fn(|_| vec![(0, MINUTES_PER_DAY)]),
            BTreeSet::new(),
        );
        assert_eq!(always.after_open_secs(1_000, 90_000), Some(90_001));
    }
}
