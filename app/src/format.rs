//! How figures are written on screen.

/// `0.992` → `99.2%`; no figure → `—`.
pub fn percent(share: Option<f64>) -> String {
    match share {
        Some(share) => format!("{:.1}%", share * 100.0),
        None => "—".to_string(),
    }
}

/// Milliseconds with a precision that suits their size.
pub fn millis(ms: Option<f64>) -> String {
    match ms {
        None => "—".to_string(),
        Some(ms) if ms < 10.0 => format!("{ms:.1} ms"),
        Some(ms) if ms < 10_000.0 => format!("{ms:.0} ms"),
        Some(ms) => format!("{:.1} s", ms / 1000.0),
    }
}

/// Requests per second, rounded for reading at a glance.
pub fn rate(rps: f64) -> String {
    if rps < 10.0 {
        format!("{rps:.1}/s")
    } else {
        format!("{rps:.0}/s")
    }
}

/// Simulated time as `m:ss`.
pub fn clock(seconds: f64) -> String {
    let whole = seconds.max(0.0) as u64;
    format!("{}:{:02}", whole / 60, whole % 60)
}

/// A length of simulated time: `4.2 s`, `3 min 10 s`.
pub fn duration(seconds: f64) -> String {
    if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else {
        let whole = seconds.round() as u64;
        format!("{} min {} s", whole / 60, whole % 60)
    }
}
