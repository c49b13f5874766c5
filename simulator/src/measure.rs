//! Measures (SPEC "Measures"): counters the engine fills as events happen, cut into windows,
//! and a rolling aggregate of the last few windows that the live view shows.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

use crate::queue::Nanos;

/// Latency histogram in microseconds, 1 µs to 1 h, two significant digits.
pub type LatencyHistogram = Histogram<u64>;

pub fn new_histogram() -> LatencyHistogram {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("static histogram bounds are valid")
}

/// Records a latency in nanoseconds, saturating at the histogram's top.
pub fn record_latency(histogram: &mut LatencyHistogram, nanos: Nanos) {
    histogram.saturating_record((nanos / 1_000).max(1));
}

/// What happened at one service during a window.
#[derive(Clone, Debug)]
pub struct ServiceCounters {
    /// Executions that arrived at an instance (retries included).
    pub arrivals: u64,
    pub successes: u64,
    /// Executions that failed (own error, failed required call, killed mid-way, rejected).
    pub failures: u64,
    /// Failures because the queue was full or no instance could take the call.
    pub rejected: u64,
    /// Retried calls to this service.
    pub retries: u64,
    /// Time from arrival at the service to its answer, of executions that answered.
    pub latency: LatencyHistogram,
    /// Slot-nanoseconds spent busy, for utilisation.
    pub busy_ns: u128,
}

impl Default for ServiceCounters {
    fn default() -> Self {
        ServiceCounters {
            arrivals: 0,
            successes: 0,
            failures: 0,
            rejected: 0,
            retries: 0,
            latency: new_histogram(),
            busy_ns: 0,
        }
    }
}

impl ServiceCounters {
    fn merge(&mut self, other: &ServiceCounters) {
        self.arrivals += other.arrivals;
        self.successes += other.successes;
        self.failures += other.failures;
        self.rejected += other.rejected;
        self.retries += other.retries;
        self.latency
            .add(&other.latency)
            .expect("histograms share their bounds");
        self.busy_ns += other.busy_ns;
    }
}

/// Outside requests at one entry point during a window, counted when they end.
#[derive(Clone, Debug)]
pub struct EntryCounters {
    pub arrivals: u64,
    pub successes: u64,
    pub failures: u64,
    pub latency: LatencyHistogram,
}

impl Default for EntryCounters {
    fn default() -> Self {
        EntryCounters {
            arrivals: 0,
            successes: 0,
            failures: 0,
            latency: new_histogram(),
        }
    }
}

impl EntryCounters {
    fn merge(&mut self, other: &EntryCounters) {
        self.arrivals += other.arrivals;
        self.successes += other.successes;
        self.failures += other.failures;
        self.latency
            .add(&other.latency)
            .expect("histograms share their bounds");
    }
}

/// Calls over one dependency during a window.
#[derive(Clone, Debug, Default)]
pub struct LinkCounters {
    pub calls: u64,
    pub failures: u64,
    pub retries: u64,
}

impl LinkCounters {
    fn merge(&mut self, other: &LinkCounters) {
        self.calls += other.calls;
        self.failures += other.failures;
        self.retries += other.retries;
    }
}

/// Everything counted between `start` and `end`, indexed like the topology's services,
/// entries (in service order) and dependencies.
#[derive(Clone, Debug)]
pub struct Window {
    pub start: Nanos,
    pub end: Nanos,
    pub services: Vec<ServiceCounters>,
    pub entries: Vec<EntryCounters>,
    pub links: Vec<LinkCounters>,
}

impl Window {
    pub fn new(start: Nanos, services: usize, entries: usize, links: usize) -> Window {
        Window {
            start,
            end: start,
            services: vec![ServiceCounters::default(); services],
            entries: vec![EntryCounters::default(); entries],
            links: vec![LinkCounters::default(); links],
        }
    }

    /// Adds `other` (a later window of the same topology) into this one.
    pub fn merge(&mut self, other: &Window) {
        self.start = self.start.min(other.start);
        self.end = self.end.max(other.end);
        for (mine, theirs) in self.services.iter_mut().zip(&other.services) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.entries.iter_mut().zip(&other.entries) {
            mine.merge(theirs);
        }
        for (mine, theirs) in self.links.iter_mut().zip(&other.links) {
            mine.merge(theirs);
        }
    }

    pub fn seconds(&self) -> f64 {
        (self.end - self.start) as f64 / 1e9
    }

    /// Successful outside requests / ended outside requests over all entries.
    pub fn availability(&self) -> Option<f64> {
        let (ok, ended) = self.entries.iter().fold((0, 0), |(ok, ended), e| {
            (ok + e.successes, ended + e.successes + e.failures)
        });
        ratio(ok, ended)
    }
}

/// `part / whole`, or `None` when nothing happened.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The last windows covering about `span` nanoseconds, merged on demand.
pub struct Rolling {
    span: Nanos,
    windows: VecDeque<Window>,
}

impl Rolling {
    pub fn new(span: Nanos) -> Rolling {
        Rolling {
            span,
            windows: VecDeque::new(),
        }
    }

    /// Adds the newest window and forgets those that ended more than `span` before it.
    pub fn push(&mut self, window: Window) {
        let horizon = window.end.saturating_sub(self.span);
        self.windows.push_back(window);
        while self.windows.front().is_some_and(|w| w.end <= horizon) {
            self.windows.pop_front();
        }
    }

    /// All kept windows merged into one; `None` before the first window.
    pub fn merged(&self) -> Option<Window> {
        let mut iter = self.windows.iter();
        let mut merged = iter.next()?.clone();
        for window in iter {
            merged.merge(window);
        }
        Some(merged)
    }

    pub fn clear(&mut self) {
        self.windows.clear();
    }
}
