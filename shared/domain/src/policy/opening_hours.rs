//! A Page's `opening_hours` as the configuration document writes them:
//!
//! ```json
//! "opening_hours": {"time_zone": "Europe/Berlin",
//!                   "weekly": {"mon": ["09:00-12:30", "13:30-17:00"], "sat": ["10:00-14:00"]},
//!                   "closed_dates": ["2026-12-25"]}
//! ```
//!
//! Each value is checked where it is read, so an error names its field
//! (`pages[0].opening_hours.weekly.mon[1]: ...`); overlapping intervals of one day name the
//! day.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{civil_date, day_number, DayNumber, OpeningHours, Zone, MINUTES_PER_DAY};

/// An IANA time zone name, known to the bundled time-zone database.
#[derive(Clone, Debug, PartialEq)]
pub struct ZoneName {
    name: String,
    zone: Zone,
}

impl<'de> Deserialize<'de> for ZoneName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        let zone = Zone::named(&name).ok_or_else(|| {
            D::Error::custom(format!(
                "{name:?} is not an IANA time zone (for example \"Europe/Berlin\")"
            ))
        })?;
        Ok(ZoneName { name, zone })
    }
}

impl Serialize for ZoneName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

/// `"HH:MM-HH:MM"`, local time, the end after the start (`24:00` for midnight).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct OpenInterval {
    pub start: u16,
    pub end: u16,
}

fn minutes(text: &str, end: bool) -> Option<u16> {
    let (h, m) = text.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let total = h * 60 + m;
    let fits = m < 60 && (h < 24 || (end && total == MINUTES_PER_DAY));
    fits.then_some(total)
}

impl<'de> Deserialize<'de> for OpenInterval {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let parsed = text
            .split_once('-')
            .and_then(|(s, e)| Some((minutes(s.trim(), false)?, minutes(e.trim(), true)?)));
        match parsed {
            Some((start, end)) if start < end => Ok(OpenInterval { start, end }),
            Some(_) => Err(D::Error::custom(format!("{text:?}: the end must be after the start"))),
            None => Err(D::Error::custom(format!(
                "{text:?} is not \"HH:MM-HH:MM\" (for example \"09:00-17:30\", \"24:00\" for midnight)"
            ))),
        }
    }
}

impl fmt::Display for OpenInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, e) = (self.start, self.end);
        write!(f, "{:02}:{:02}-{:02}:{:02}", s / 60, s % 60, e / 60, e % 60)
    }
}

impl Serialize for OpenInterval {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// `"YYYY-MM-DD"`, a date in the Page's time zone on which it is closed all day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ClosedDate(pub DayNumber);

fn parse_date(text: &str) -> Option<DayNumber> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    let digits = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_digit());
    if parts.next().is_some() || !digits(y, 4) || !digits(m, 2) || !digits(d, 2) {
        return None;
    }
    day_number(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

impl<'de> Deserialize<'de> for ClosedDate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_date(&text)
            .map(ClosedDate)
            .ok_or_else(|| D::Error::custom(format!("{text:?} is not a date \"YYYY-MM-DD\"")))
    }
}

impl Serialize for ClosedDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (y, m, d) = civil_date(self.0);
        serializer.collect_str(&format_args!("{y:04}-{m:02}-{d:02}"))
    }
}

/// The open intervals of each day of the week (a day not listed is closed).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    #[serde(default)]
    pub mon: Vec<OpenInterval>,
    #[serde(default)]
    pub tue: Vec<OpenInterval>,
    #[serde(default)]
    pub wed: Vec<OpenInterval>,
    #[serde(default)]
    pub thu: Vec<OpenInterval>,
    #[serde(default)]
    pub fri: Vec<OpenInterval>,
    #[serde(default)]
    pub sat: Vec<OpenInterval>,
    #[serde(default)]
    pub sun: Vec<OpenInterval>,
}

impl WeeklyHours {
    /// Monday first, with the document's names.
    pub fn days(&self) -> [(&'static str, &Vec<OpenInterval>); 7] {
        [
            ("mon", &self.mon),
            ("tue", &self.tue),
            ("wed", &self.wed),
            ("thu", &self.thu),
            ("fri", &self.fri),
            ("sat", &self.sat),
            ("sun", &self.sun),
        ]
    }
}

/// A Page's opening hours as configured.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OpeningHoursConfig {
    pub time_zone: ZoneName,
    #[serde(default)]
    pub weekly: WeeklyHours,
    #[serde(default)]
    pub closed_dates: Vec<ClosedDate>,
}

impl OpeningHoursConfig {
    /// The first day whose intervals overlap, as its document name.
    pub fn overlapping_day(&self) -> Option<&'static str> {
        self.weekly
            .days()
            .into_iter()
            .find_map(|(name, intervals)| {
                let mut sorted = intervals.clone();
                sorted.sort();
                sorted
                    .windows(2)
                    .any(|w| w[1].start < w[0].end)
                    .then_some(name)
            })
    }

    /// The calendar the rules use.
    pub fn calendar(&self) -> OpeningHours {
        let weekly = self.weekly.days().map(|(_, intervals)| {
            let mut sorted: Vec<(u16, u16)> = intervals.iter().map(|i| (i.start, i.end)).collect();
            sorted.sort_unstable();
            sorted
        });
        let closed: BTreeSet<DayNumber> = self.closed_dates.iter().map(|d| d.0).collect();
        OpeningHours::new(self.time_zone.zone.clone(), weekly, closed)
    }
}
