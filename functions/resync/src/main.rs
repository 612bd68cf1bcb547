//! Lambda entry point (being built: see the crate's lib).
fn main() {}
