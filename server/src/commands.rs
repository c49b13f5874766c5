//! The offline commands of the CLI: `simulate`, `compare`, `analyze` and `template`. Each
//! reads its input, runs the pure simulator, and prints JSON (`--json`) or a table.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use simulator::analysis;
use simulator::experiment::{self, Plan, PlanError, Verdict};
use simulator::fault::Fault;
use simulator::report::{Comparison, Latency, Report, Run};
use simulator::templates;
use simulator::topology::{RoutingMode, Topology};

/// Reads a topology file (`.json`, `.yaml` or `.yml`), naming the file in any error.
pub fn read_topology(path: &Path) -> Result<Topology, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read topology {}: {err}", path.display()))?;
    Topology::from_file_text(&path.to_string_lossy(), &text)
        .map_err(|err| format!("topology {} is invalid: {err}", path.display()))
}

/// The faults of `--fault` strings and a `--faults` JSON file, in that order.
pub fn read_faults(cli: &[String], file: Option<&PathBuf>) -> Result<Vec<Fault>, String> {
    let mut faults = cli
        .iter()
        .map(|text| Fault::parse_cli(text))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|err| format!("cannot read faults {}: {err}", path.display()))?;
        let deserializer = &mut serde_json::Deserializer::from_str(&text);
        let listed: Vec<Fault> = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            format!(
                "faults {} are invalid at {}: {}",
                path.display(),
                err.path(),
                err.inner()
            )
        })?;
        faults.extend(listed);
    }
    Ok(faults)
}

fn check_duration(duration_s: f64) -> Result<(), String> {
    if duration_s.is_finite() && duration_s > 0.0 && duration_s <= 1e7 {
        Ok(())
    } else {
        Err(format!(
            "--duration must be a number of seconds above 0 (and at most 10^7), not {duration_s}"
        ))
    }
}

pub struct SimulateArgs<'a> {
    pub file: &'a Path,
    pub duration_s: f64,
    pub seed: u64,
    pub routing: Option<RoutingMode>,
    pub faults: Vec<Fault>,
    pub json: bool,
}

pub fn simulate(args: SimulateArgs) -> Result<String, String> {
    check_duration(args.duration_s)?;
    let mut topology = read_topology(args.file)?;
    if let Some(mode) = args.routing {
        topology.routing.mode = mode;
    }
    let run = Run {
        topology,
        duration_s: args.duration_s,
        seed: args.seed,
        faults: args.faults,
    };
    let report = run.simulate().map_err(|err| format!("bad fault: {err}"))?;
    if args.json {
        return Ok(serde_json::to_string(&report).expect("reports serialise"));
    }
    Ok(report_table(&report))
}

pub struct CompareArgs<'a> {
    pub file: &'a Path,
    pub duration_s: f64,
    pub seed: u64,
    pub faults: Vec<Fault>,
    pub slo: f64,
    pub json: bool,
}

pub fn compare(args: CompareArgs) -> Result<String, String> {
    check_duration(args.duration_s)?;
    if !(args.slo > 0.0 && args.slo <= 1.0) {
        return Err(format!("--slo must be a share in (0, 1], not {}", args.slo));
    }
    let run = Run {
        topology: read_topology(args.file)?,
        duration_s: args.duration_s,
        seed: args.seed,
        faults: args.faults,
    };
    let comparison = run
        .compare(args.slo)
        .map_err(|err| format!("bad fault: {err}"))?;
    if args.json {
        return Ok(serde_json::to_string(&comparison).expect("reports serialise"));
    }
    Ok(comparison_table(&comparison, args.slo))
}

/// `experiment`: plays the plan in `plan_file` on a fresh run of `file`; the report (JSON or
/// plain words) and whether the hypothesis held.
pub fn experiment(
    file: &Path,
    plan_file: &Path,
    seed: u64,
    routing: Option<RoutingMode>,
    json: bool,
) -> Result<(String, bool), String> {
    let mut topology = read_topology(file)?;
    if let Some(mode) = routing {
        topology.routing.mode = mode;
    }
    let text = std::fs::read_to_string(plan_file)
        .map_err(|err| format!("cannot read plan {}: {err}", plan_file.display()))?;
    let invalid = |err: PlanError| format!("plan {} is invalid: {err}", plan_file.display());
    let plan = Plan::from_json(&text).map_err(invalid)?;
    let report = experiment::run(topology, seed, plan).map_err(invalid)?;
    let held = report.verdict == Verdict::Passed;
    if json {
        return Ok((
            serde_json::to_string(&report).expect("reports serialise"),
            held,
        ));
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "experiment '{}' on {} ({} routing, seed {})",
        report.name,
        report.topology,
        report.routing.name(),
        report.seed
    );
    let _ = writeln!(out, "hypothesis: {}", report.hypothesis_text);
    for fault in &report.faults {
        let _ = writeln!(
            out,
            "  at {:>6} s  {}",
            fault.at_s.unwrap_or(0.0),
            fault.describe()
        );
    }
    let _ = writeln!(
        out,
        "verdict: {} — {}",
        report.verdict.as_str().to_uppercase(),
        report.reason
    );
    let _ = writeln!(
        out,
        "outage: {} s below the objective; {} requests lost",
        report.outage_s, report.lost
    );
    for (name, entry) in &report.entries {
        let _ = writeln!(
            out,
            "  {name:<20} {:>8} arrivals  {:>8} availability",
            entry.arrivals,
            percent(entry.availability)
        );
    }
    Ok((out, held))
}

/// `report`: the resilience report in Markdown, or JSON.
pub fn resilience_report(file: &Path, seed: u64, json: bool) -> Result<String, String> {
    let topology = read_topology(file)?;
    let report = simulator::resilience::report(&topology, seed);
    Ok(if json {
        serde_json::to_string(&report).expect("reports serialise")
    } else {
        report.to_markdown()
    })
}

pub fn analyze(file: &Path, json: bool) -> Result<String, String> {
    let topology = read_topology(file)?;
    let analysis = analysis::analyze(&topology);
    if json {
        return Ok(serde_json::to_string(&analysis).expect("analyses serialise"));
    }
    let mut out = String::new();
    let _ = writeln!(out, "entries: {}", analysis.entries.join(", "));
    let spof = if analysis.spof.is_empty() {
        "none".to_string()
    } else {
        analysis.spof.join(", ")
    };
    let _ = writeln!(out, "single points of failure: {spof}");
    let _ = writeln!(
        out,
        "\npredicted share of each entry's requests still succeeding with one service killed:"
    );
    let _ = write!(out, "{:<24}", "killed");
    for entry in &analysis.entries {
        let _ = write!(out, " {entry:>12}");
    }
    out.push('\n');
    for (service, by_entry) in &analysis.blast_radius {
        let _ = write!(out, "{service:<24}");
        for entry in &analysis.entries {
            let share = by_entry.get(entry).copied().unwrap_or(1.0);
            let _ = write!(out, " {:>11.1}%", share * 100.0);
        }
        out.push('\n');
    }
    Ok(out)
}

pub fn template(name: &str, size: Option<usize>, seed: u64) -> Result<String, String> {
    templates::build(name, size, seed)
        .map(|topology| topology.to_json_pretty())
        .map_err(|err| err.to_string())
}

fn millis(value: Option<f64>) -> String {
    value.map_or("-".to_string(), |v| format!("{v:.1}"))
}

fn percent(value: Option<f64>) -> String {
    value.map_or("-".to_string(), |v| format!("{:.2}%", v * 100.0))
}

fn latency_cells(latency: &Latency) -> String {
    format!(
        "{:>9} {:>9} {:>9}",
        millis(latency.p50),
        millis(latency.p95),
        millis(latency.p99)
    )
}

fn report_table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} s simulated, seed {}, routing {}: {} events, {} service executions",
        report.duration_s,
        report.seed,
        report.routing.name(),
        report.events,
        report.hops
    );
    let _ = writeln!(
        out,
        "\n{:<24} {:>10} {:>12} {:>9} {:>9} {:>9}",
        "entry", "requests", "availability", "p50 ms", "p95 ms", "p99 ms"
    );
    for (name, entry) in &report.entries {
        let _ = writeln!(
            out,
            "{name:<24} {:>10} {:>12} {}",
            entry.arrivals,
            percent(entry.availability),
            latency_cells(&entry.latency_ms)
        );
    }
    let _ = writeln!(
        out,
        "\n{:<24} {:>10} {:>9} {:>9} {:>8} {:>6} {:>9} {:>9} {:>9}",
        "service",
        "arrivals",
        "failures",
        "rejected",
        "retries",
        "busy",
        "p50 ms",
        "p95 ms",
        "p99 ms"
    );
    for (name, s) in &report.services {
        let _ = writeln!(
            out,
            "{name:<24} {:>10} {:>9} {:>9} {:>8} {:>5.1}% {}",
            s.arrivals,
            s.failures,
            s.rejected,
            s.retries,
            s.utilization * 100.0,
            latency_cells(&s.latency_ms)
        );
    }
    out
}

fn comparison_table(comparison: &Comparison, slo: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<8} {:>12} {:>10} {:>10} {:>11}",
        "routing", "availability", "lost", "outage s", "recover s"
    );
    for (mode, summary) in &comparison.summary {
        let recover = summary
            .recover_s
            .map_or("never".to_string(), |s| format!("{s:.0}"));
        let _ = writeln!(
            out,
            "{:<8} {:>12} {:>10} {:>10} {:>11}",
            mode.name(),
            percent(summary.availability),
            summary.lost,
            summary.outage_s,
            recover
        );
    }
    let _ = writeln!(out, "\n(outage: seconds with availability below {slo})");
    out
}
