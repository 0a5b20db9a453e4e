//! `rust-version` is the real minimum: no dependency in the lockfile needs
//! a newer compiler than Cargo.toml and the README promise. Checked from
//! `cargo metadata`, so a dependency update cannot move it silently.

use std::process::Command;

/// `1.89` or `1.89.0` as comparable numbers.
fn version(text: &str) -> Vec<u64> {
    let mut parts: Vec<u64> = text.split('.').filter_map(|p| p.parse().ok()).collect();
    parts.resize(3, 0);
    parts
}

#[test]
fn rust_version_covers_every_locked_dependency_and_the_readme_says_it() {
    let promised = env!("CARGO_PKG_RUST_VERSION");
    assert!(!promised.is_empty(), "Cargo.toml must set rust-version");
    let host = Command::new(env!("CARGO"))
        .args(["--version", "--verbose"])
        .output()
        .expect("cargo runs");
    let host = String::from_utf8_lossy(&host.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("cargo names its host");
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
        ])
        .arg(&host)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let (needed, by) = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| Some((p["rust_version"].as_str()?, p["name"].as_str()?)))
        .max_by_key(|(v, _)| version(v))
        .expect("some dependency declares a rust-version");
    assert!(
        version(promised) >= version(needed),
        "rust-version = {promised:?}, but {by} needs Rust {needed}: raise it in Cargo.toml and the README"
    );
    // Not higher either: herald's own code keeps to what its dependencies
    // need (1.89 has everything it uses), so the newest of theirs is the
    // minimum, and a promise above it would turn people away for nothing.
    assert_eq!(
        version(promised),
        version(needed),
        "rust-version = {promised:?}, but the newest dependency minimum is {needed} ({by})"
    );
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    let short = promised.trim_end_matches(".0");
    assert!(
        readme.contains(&format!("Rust ({short}+)")),
        "the README's quick start must say Rust ({short}+)"
    );
}
