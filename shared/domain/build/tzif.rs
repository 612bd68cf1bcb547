//! TZif data (RFC 8536), version 2 or later: the 64-bit transitions, the UTC offset from
//! each on, the offset before the first, and the POSIX TZ footer. Dependency-free: the
//! build script reads the bundled Time Zone Database with it (`build/zone_table.rs`).

/// A parsed TZif file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tzif {
    /// Instants (epoch seconds) at which the offset changes, ascending.
    pub transitions: Vec<i64>,
    /// The UTC offset (seconds) from each transition on.
    pub offsets: Vec<i64>,
    /// The offset before the first transition.
    pub initial: i64,
    /// The POSIX TZ rule after the last transition (empty: none).
    pub footer: String,
}

fn be_u32(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn be_i64(data: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

/// The second (64-bit) data block and the footer of `data`.
pub fn parse(data: &[u8]) -> Option<Tzif> {
    let header = |at: usize| -> Option<[usize; 6]> {
        if data.get(at..at + 4)? != b"TZif" {
            return None;
        }
        let mut counts = [0usize; 6];
        for (i, count) in counts.iter_mut().enumerate() {
            *count = be_u32(data, at + 20 + 4 * i)? as usize;
        }
        Some(counts)
    };
    let [isut, isstd, leap, time, types, chars] = header(0)?;
    if *data.get(4)? < b'2' {
        return None;
    }
    let second = 44 + time * 5 + types * 6 + chars + leap * 8 + isstd + isut;
    let [isut, isstd, leap, time, types, chars] = header(second)?;
    let base = second + 44;
    let transitions: Vec<i64> = (0..time)
        .map(|i| be_i64(data, base + 8 * i))
        .collect::<Option<_>>()?;
    let indices = data.get(base + 8 * time..base + 9 * time)?;
    let types_at = base + 9 * time;
    let utoff = |i: usize| -> Option<i64> {
        let raw = be_u32(data, types_at + 6 * i)?;
        Some(i64::from(raw as i32))
    };
    let offsets: Vec<i64> = indices
        .iter()
        .map(|&i| utoff(usize::from(i)))
        .collect::<Option<_>>()?;
    let footer_at = types_at + types * 6 + chars + leap * 12 + isstd + isut;
    let footer = std::str::from_utf8(data.get(footer_at..)?).ok()?;
    let footer = footer
        .trim_start_matches('\n')
        .split('\n')
        .next()
        .unwrap_or("");
    Some(Tzif {
        transitions,
        offsets,
        initial: if types > 0 { utoff(0)? } else { 0 },
        footer: footer.to_string(),
    })
}

impl Tzif {
    /// Only what matters from `from` on: the transitions at or after it, and the offset
    /// in force just before it as the initial one.
    pub fn since(mut self, from: i64) -> Tzif {
        let kept = self.transitions.partition_point(|t| *t < from);
        if kept > 0 {
            self.initial = self.offsets[kept - 1];
            self.transitions.drain(..kept);
            self.offsets.drain(..kept);
        }
        self
    }
}
