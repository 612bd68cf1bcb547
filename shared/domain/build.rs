//! Build script of the domain crate: generates the time-zone table (`build/zone_table.rs`).

#[path = "build/tzif.rs"]
mod tzif;
#[path = "build/zone_table.rs"]
mod zone_table;

fn main() {
    zone_table::generate();
}
