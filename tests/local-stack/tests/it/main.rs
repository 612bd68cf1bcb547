//! The local stack's end-to-end tests, one binary: moto, the Messenger emulator and the real
//! function binaries, driven through real HTTP only.

mod console_browser;
mod events_end_to_end;
mod handoff_end_to_end;
mod ingest_end_to_end;
mod resync_end_to_end;
mod timed_reset_end_to_end;
