//! Timeline keys of the coordinator's own changes (API actions, triggers, re-syncs) never
//! collide, not even between two containers acting in the same millisecond: each container
//! is played by a process of its own (this test binary run again).

use std::process::Command;

use routing_usecases::records::change_key;

const AT_ENV: &str = "ROUTING_CORE_CHANGE_KEY_AT";
const TEST: &str =
    "timeline_keys::two_containers_acting_in_the_same_millisecond_make_different_keys";

/// In a child process: print the first key this "container" makes at the given time.
fn key_of_a_fresh_container(at: &str) -> String {
    let output = Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(AT_ENV, at)
        .output()
        .expect("child container runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    stdout
        .lines()
        .find_map(|line| line.split("CHANGE_KEY=").nth(1))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no key printed: {stdout}"))
}

#[test]
fn two_containers_acting_in_the_same_millisecond_make_different_keys() {
    if let Ok(at) = std::env::var(AT_ENV) {
        // The child: one container's first change.
        println!(
            "CHANGE_KEY={}",
            change_key("request", at.parse().expect("ms"))
        );
        return;
    }
    let at = "1700000000000";
    let first = key_of_a_fresh_container(at);
    let second = key_of_a_fresh_container(at);
    assert_ne!(
        first, second,
        "two containers' first changes of one millisecond collide"
    );
    // Within one container the keys are unique too, and order as they were made.
    let (a, b) = (change_key("request", 5), change_key("request", 5));
    assert!(a < b, "{a} then {b}");
}
