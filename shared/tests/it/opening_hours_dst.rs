//! Opening hours around daylight-saving changes, in five zones (a 30-minute shift in
//! Lord Howe; Santiago changes at midnight). The rule (docs/architecture.md, "Opening
//! hours"): an interval is the set of instants whose local wall-clock time falls in it. So
//! a boundary inside a spring gap opens (or closes) at the instant the gap ends, in every
//! zone alike; an interval wholly inside a gap holds no instant; and an autumn hour that
//! repeats is open twice when it lies inside the interval.
//!
//! Each case is checked minute by minute against that definition computed with `jiff`
//! (an independent reading of the zone), and through `after_open_secs` (the open time the
//! unclaimed timer counts).

use std::collections::BTreeSet;

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use routing_domain::{day_number, OpeningHours, Zone};

/// One day's interval in a zone: the calendar opens on that weekday only.
struct Case {
    zone: &'static str,
    date: &'static str,
    interval: (&'static str, &'static str),
}

impl Case {
    fn date(&self) -> Date {
        self.date.parse().unwrap()
    }

    fn minutes(text: &str) -> u16 {
        let (h, m) = text.split_once(':').unwrap();
        h.parse::<u16>().unwrap() * 60 + m.parse::<u16>().unwrap()
    }

    fn hours(&self) -> OpeningHours {
        let date = self.date();
        let day = day_number(i32::from(date.year()), date.month() as u8, date.day() as u8).unwrap();
        // Monday = 0.
        let weekday = (day + 3).rem_euclid(7) as usize;
        let mut weekly: [Vec<(u16, u16)>; 7] = Default::default();
        weekly[weekday] = vec![(
            Self::minutes(self.interval.0),
            Self::minutes(self.interval.1),
        )];
        OpeningHours::new(Zone::named(self.zone).unwrap(), weekly, BTreeSet::new())
    }

    /// The definition: the local wall-clock time of `at` falls in the interval on the date.
    fn open_by_definition(&self, at: i64) -> bool {
        let tz = TimeZone::get(self.zone).unwrap();
        let local = Timestamp::from_second(at).unwrap().to_zoned(tz).datetime();
        let minute = local.time().hour() as u16 * 60 + local.time().minute() as u16;
        local.date() == self.date()
            && minute >= Self::minutes(self.interval.0)
            && minute < Self::minutes(self.interval.1)
    }

    /// A window around the local day, in UTC seconds (a minute apart).
    fn window(&self) -> impl Iterator<Item = i64> {
        let start = self
            .date()
            .to_datetime(Time::midnight())
            .to_zoned(TimeZone::UTC)
            .unwrap()
            .timestamp()
            .as_second()
            - 30 * 3600;
        (0..(84 * 60)).map(move |m| start + m * 60)
    }

    /// Checks `is_open` minute by minute and the open seconds `after_open_secs` counts;
    /// the open seconds of the day.
    fn check(&self) -> i64 {
        let hours = self.hours();
        let mut open_secs = 0;
        let mut last_open = None;
        for at in self.window() {
            let expected = self.open_by_definition(at);
            assert_eq!(
                hours.is_open(at * 1000),
                expected,
                "{} {} {:?}: open at {} ({at})",
                self.zone,
                self.date,
                self.interval,
                Timestamp::from_second(at).unwrap()
            );
            if expected {
                open_secs += 60;
                last_open = Some(at);
            }
        }
        let first = self.window().next().unwrap();
        if let Some(last) = last_open {
            assert_eq!(
                hours.after_open_secs(first * 1000, open_secs),
                Some(last + 60),
                "{} {}: the day's open time ends where the interval ends",
                self.zone,
                self.date
            );
        }
        open_secs
    }
}

fn instant(text: &str) -> i64 {
    text.parse::<Timestamp>().unwrap().as_second()
}

/// `at` is a change of the zone's offset (the fixtures name real changes).
fn assert_change(zone: &str, at: i64) {
    let tz = TimeZone::get(zone).unwrap();
    let offset = |t: i64| tz.to_offset(Timestamp::from_second(t).unwrap());
    assert_ne!(offset(at - 1), offset(at), "{zone}: no change at {at}");
}

#[test]
fn a_boundary_inside_a_spring_gap_opens_where_the_gap_ends_in_every_zone() {
    // (zone, date, interval starting in the gap, the gap's end)
    let cases = [
        (
            "America/New_York",
            "2026-03-08",
            ("02:30", "05:00"),
            "2026-03-08T03:00:00-04:00",
        ),
        (
            "Europe/Berlin",
            "2026-03-29",
            ("02:30", "05:00"),
            "2026-03-29T03:00:00+02:00",
        ),
        (
            "Australia/Sydney",
            "2026-10-04",
            ("02:30", "05:00"),
            "2026-10-04T03:00:00+11:00",
        ),
        (
            "America/Santiago",
            "2026-09-06",
            ("00:30", "05:00"),
            "2026-09-06T01:00:00-03:00",
        ),
        (
            "Australia/Lord_Howe",
            "2026-10-04",
            ("02:10", "05:00"),
            "2026-10-04T02:30:00+11:00",
        ),
    ];
    for (zone, date, interval, gap_end) in cases {
        let gap_end = instant(gap_end);
        assert_change(zone, gap_end);
        let case = Case {
            zone,
            date,
            interval,
        };
        let hours = case.hours();
        assert!(
            !hours.is_open((gap_end - 1) * 1000),
            "{zone}: closed before"
        );
        assert!(
            hours.is_open(gap_end * 1000),
            "{zone}: open at the gap's end"
        );
        // The timer starts at the gap's end, whatever the zone.
        assert_eq!(
            hours.after_open_secs((gap_end - 3600) * 1000, 60),
            Some(gap_end + 60),
            "{zone}"
        );
        case.check();
        // A close inside the gap: closes where the gap ends.
        let closing = Case {
            zone,
            date,
            interval: ("00:00", interval.0),
        };
        if interval.0 != "00:30" {
            let closes = closing.hours();
            assert!(closes.is_open((gap_end - 1) * 1000), "{zone}: open before");
            assert!(
                !closes.is_open(gap_end * 1000),
                "{zone}: closed at the gap's end"
            );
            closing.check();
        }
    }
}

#[test]
fn an_interval_wholly_inside_a_gap_holds_no_instant_in_every_zone() {
    for (zone, date, interval) in [
        ("America/New_York", "2026-03-08", ("02:10", "02:50")),
        ("Europe/Berlin", "2026-03-29", ("02:10", "02:50")),
        ("Australia/Sydney", "2026-10-04", ("02:10", "02:50")),
        ("America/Santiago", "2026-09-06", ("00:10", "00:50")),
        ("Australia/Lord_Howe", "2026-10-04", ("02:05", "02:25")),
    ] {
        let case = Case {
            zone,
            date,
            interval,
        };
        assert_eq!(case.check(), 0, "{zone}: no wall-clock time of it happens");
    }
}

#[test]
fn a_repeated_autumn_hour_inside_the_interval_counts_twice() {
    // (zone, date, interval, open seconds: wall-clock length + the repeated part)
    let cases = [
        (
            "America/New_York",
            "2026-11-01",
            ("01:00", "03:00"),
            3 * 3600,
        ),
        ("America/New_York", "2026-11-01", ("01:15", "01:45"), 3600),
        ("Europe/Berlin", "2026-10-25", ("02:00", "04:00"), 3 * 3600),
        ("Europe/Berlin", "2026-10-25", ("02:15", "02:45"), 3600),
        (
            "Australia/Sydney",
            "2026-04-05",
            ("02:00", "04:00"),
            3 * 3600,
        ),
        (
            "America/Santiago",
            "2026-04-04",
            ("22:00", "24:00"),
            3 * 3600,
        ),
        (
            "Australia/Lord_Howe",
            "2026-04-05",
            ("01:00", "03:00"),
            2 * 3600 + 1800,
        ),
        (
            "Australia/Lord_Howe",
            "2026-04-05",
            ("01:40", "01:50"),
            1200,
        ),
    ];
    for (zone, date, interval, open) in cases {
        let case = Case {
            zone,
            date,
            interval,
        };
        assert_eq!(case.check(), open, "{zone} {date} {interval:?}");
    }
}
