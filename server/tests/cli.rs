//! The `blastradius` command as a user runs it (SPEC "CLI — Contract").

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

fn blastradius(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blastradius"))
        .args(args)
        .env_remove("BLASTRADIUS_TOKEN")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A file in a temporary directory of its own, removed with it.
struct TempFile {
    dir: PathBuf,
    path: PathBuf,
}

impl std::ops::Deref for TempFile {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Writes `template NAME` to a file in a fresh temporary directory.
fn template_file(name: &str, extra: &[&str]) -> TempFile {
    let mut args = vec!["template", name];
    args.extend_from_slice(extra);
    let text = stdout(&blastradius(&args));
    // Tests run in parallel, some on the same template: each file gets a directory of its own.
    static FILES: AtomicUsize = AtomicUsize::new(0);
    let number = FILES.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!(
        "blastradius-cli-{}-{number}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, text).unwrap();
    TempFile { dir, path }
}

#[test]
fn every_template_prints_a_valid_topology() {
    for name in simulator::templates::NAMES {
        let text = stdout(&blastradius(&["template", name, "--seed", "3"]));
        simulator::Topology::from_json(&text).unwrap_or_else(|err| panic!("{name}: {err}"));
    }
}

#[test]
fn simulate_json_is_byte_identical_for_the_same_input_and_seed() {
    let file = template_file("shop", &[]);
    let file = file.to_str().unwrap();
    let args = [
        "simulate",
        file,
        "--duration",
        "30",
        "--seed",
        "9",
        "--fault",
        "10s kill catalog-db duration=5s",
        "--json",
    ];
    let first = stdout(&blastradius(&args));
    let second = stdout(&blastradius(&args));
    assert_eq!(first, second);
    let report: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(report["seed"], 9);
    assert_eq!(report["timeline"].as_array().unwrap().len(), 30);
    // catalog-db is down from 10 s to 15 s: every request fails then.
    let at = |t: usize| report["timeline"][t - 1]["availability"].as_f64().unwrap();
    assert!(
        at(5) > 0.99 && at(13) == 0.0 && at(25) > 0.99,
        "{}",
        report["timeline"]
    );
    for field in ["events", "hops", "entries", "services"] {
        assert!(!report[field].is_null(), "{field}");
    }
    let other_seed = stdout(&blastradius(&[
        "simulate",
        file,
        "--duration",
        "30",
        "--seed",
        "10",
        "--json",
    ]));
    assert_ne!(first, other_seed);
}

#[test]
fn compare_reports_every_mode_with_a_summary() {
    let file = template_file("shop", &[]);
    let output = stdout(&blastradius(&[
        "compare",
        file.to_str().unwrap(),
        "--duration",
        "20",
        "--fault",
        "5s kill auth",
        "--json",
    ]));
    let comparison: Value = serde_json::from_str(&output).unwrap();
    for mode in ["dns", "lb", "smart"] {
        assert!(
            comparison["modes"][mode]["entries"]["web"].is_object(),
            "{mode}"
        );
        let summary = &comparison["summary"][mode];
        // auth is required by every request and stays down: 15 s of outage, no recovery.
        assert_eq!(summary["outage_s"], 15.0, "{mode}: {summary}");
        assert!(summary["recover_s"].is_null(), "{mode}: {summary}");
        assert!(
            summary["lost"].as_u64().unwrap() > 1000,
            "{mode}: {summary}"
        );
    }
}

#[test]
fn analyze_finds_the_hub_of_a_star() {
    let file = template_file("star", &["--size", "6"]);
    let output = stdout(&blastradius(&["analyze", file.to_str().unwrap(), "--json"]));
    let analysis: Value = serde_json::from_str(&output).unwrap();
    assert!(
        analysis["spof"]
            .as_array()
            .unwrap()
            .contains(&Value::from("hub")),
        "{analysis}"
    );
    assert_eq!(analysis["entries"].as_array().unwrap().len(), 5);
    assert_eq!(analysis["blast_radius"]["hub"]["client-1"], 0.0);
}

#[test]
fn report_prints_markdown_or_identical_json() {
    let file = template_file("star", &["--size", "6"]);
    let markdown = stdout(&blastradius(&["report", file.to_str().unwrap()]));
    assert!(
        markdown.starts_with("# Resilience report: star"),
        "{markdown}"
    );
    assert!(markdown.contains("`hub`"), "{markdown}");
    let json = |seed: &str| {
        stdout(&blastradius(&[
            "report",
            file.to_str().unwrap(),
            "--json",
            "--seed",
            seed,
        ]))
    };
    let first = json("3");
    assert_eq!(first, json("3"));
    let report: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(report["ranking"][0]["service"], "hub");
}

#[test]
fn mistakes_get_clear_errors() {
    let file = template_file("line", &[]);
    let file = file.to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "simulate",
                file,
                "--duration",
                "5",
                "--fault",
                "later kill svc-1",
            ],
            "bad fault 'later kill svc-1'",
        ),
        (
            &[
                "simulate",
                file,
                "--duration",
                "5",
                "--fault",
                "1s kill nope",
            ],
            "no service is named 'nope'",
        ),
        (
            &["simulate", "/no/such.json", "--duration", "5"],
            "/no/such.json",
        ),
        (&["simulate", file, "--duration", "-3"], "--duration"),
        (&["template", "donut"], "no template is named 'donut'"),
    ];
    for (args, expected) in cases {
        let output = blastradius(args);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn serving_off_loopback_needs_a_token() {
    let output = blastradius(&["serve", "--bind", "0.0.0.0:0"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("without a token") && stderr.contains("--token"),
        "{stderr}"
    );
}

#[test]
fn experiment_reports_a_verdict_and_exits_by_it() {
    let file = template_file("shop", &["--seed", "4"]);
    let dir = file.parent().unwrap();
    let plan = |name: &str, min: f64| {
        let path = dir.join(format!("{name}.json"));
        let text = format!(
            r#"{{"name": "{name}", "faults": [{{"kind": "kill", "service": "catalog-db", "at_s": 3, "duration_s": 4}}],
                "hypothesis": {{"min_availability": {min}, "over_s": 2}}, "duration_s": 12}}"#
        );
        std::fs::write(&path, text).unwrap();
        path
    };
    let file = file.to_str().unwrap();
    let strict = plan("strict", 0.99);
    let args = [
        "experiment",
        file,
        "--plan",
        strict.to_str().unwrap(),
        "--json",
    ];
    let failed = blastradius(&args);
    assert_eq!(failed.status.code(), Some(1), "a broken hypothesis exits 1");
    let report: Value = serde_json::from_slice(&failed.stdout).unwrap();
    assert_eq!(report["verdict"], "failed");
    assert_eq!(
        report["broke_at_s"], 4,
        "catalog-db down from 3 s: the second to 4 s breaks"
    );
    assert_eq!(report["timeline"].as_array().unwrap().len(), 12);
    assert_eq!(
        failed.stdout,
        blastradius(&args).stdout,
        "same plan and seed, same report"
    );

    let lenient = plan("lenient", 0.0);
    let passed = stdout(&blastradius(&[
        "experiment",
        file,
        "--plan",
        lenient.to_str().unwrap(),
    ]));
    assert!(passed.contains("verdict: PASSED"), "{passed}");

    let bad = dir.join("bad.json");
    std::fs::write(
        &bad,
        r#"{"hypothesis": {"min_availability": 0.9, "over_s": 20}, "duration_s": 10}"#,
    )
    .unwrap();
    let output = blastradius(&["experiment", file, "--plan", bad.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("hypothesis.over_s"), "{message}");
}
