//! Measures (SPEC "Measures"): counters the engine fills as events happen, cut into windows,
//! and a rolling aggregate of the last few windows that the live view shows.

use std::collections::VecDeque;

use hdrhistogram::Histogram;

use crate::queue::Nanos;

/// Latencies recorded in a window: an hdrhistogram in microseconds with two significant
/// digits, allocated on the first record and growing with the largest value. A window of a
/// 1,000-service topology holds mostly idle services: they cost a null pointer each.
///
/// Counts are `u32`: half the memory of `u64`, and so half the memory traffic when a
/// histogram is created and grows, which dominated a 1,000-service run's cache misses. A
/// count would saturate only past 4 billion records in one bucket of one window (days of
/// simulated time at thousands of requests per second to one service).
#[derive(Clone, Debug, Default)]
pub struct Latencies(Option<Box<Histogram<u32>>>);

impl Latencies {
    /// Records a latency in nanoseconds.
    pub fn record(&mut self, nanos: Nanos) {
        self.record_micros((nanos / 1_000).max(1));
    }

    /// Records a latency in whole microseconds (at least 1).
    #[inline]
    fn record_micros(&mut self, micros: u64) {
        self.record_all_micros([micros]);
    }

    /// Records latencies in whole microseconds (each at least 1).
    #[inline]
    fn record_all_micros(&mut self, micros: impl IntoIterator<Item = u64>) {
        let histogram = self.0.get_or_insert_with(new_histogram);
        for micros in micros {
            // `record` grows an auto-resizing histogram; `saturating_record` would clamp.
            if histogram.record(micros).is_err() {
                histogram.saturating_record(micros);
            }
        }
    }

    /// Adds `other`'s records to these.
    pub fn merge(&mut self, other: &Latencies) {
        match (&mut self.0, &other.0) {
            (_, None) => {}
            (None, Some(theirs)) => self.0 = Some(theirs.clone()),
            (Some(mine), Some(theirs)) => mine
                .add(theirs.as_ref())
                .expect("auto-resizing histograms always add"),
        }
    }

    pub fn count(&self) -> u64 {
        self.0.as_ref().map_or(0, |h| h.len())
    }

    /// The latency at quantile `q` (0–1) in milliseconds; `None` before any record.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let histogram = self.0.as_ref().filter(|h| !h.is_empty())?;
        Some(histogram.value_at_quantile(q) as f64 / 1e3)
    }

    /// The mean latency in milliseconds; `None` before any record.
    pub fn mean_ms(&self) -> Option<f64> {
        let histogram = self.0.as_ref().filter(|h| !h.is_empty())?;
        Some(histogram.mean() / 1e3)
    }
}

/// The largest latency a new histogram has room for without growing, in microseconds
/// (~33 ms, 4.6 KB of counts). Growing reallocates and copies the counts: started at the
/// smallest size, a 1,000-service run spent more than a third of its last-level cache misses
/// on that.
const HISTOGRAM_ROOM_MICROS: u64 = 1 << 15;

/// An empty histogram of latencies (auto-resizing past [`HISTOGRAM_ROOM_MICROS`]); out of
/// line, so recording stays small.
#[cold]
#[inline(never)]
fn new_histogram() -> Box<Histogram<u32>> {
    let mut histogram = Histogram::new_with_max(HISTOGRAM_ROOM_MICROS, 2)
        .expect("two significant digits are valid");
    histogram.auto(true);
    Box::new(histogram)
}

/// Latencies waiting to be recorded into a window's histograms.
///
/// On a large topology a histogram record is a cache miss (hundreds of histograms, each
/// kilobytes of counts): recorded as they happen, each stalled the engine. Logged, grouped
/// by histogram and recorded 64 per histogram at a time, each histogram's header and the
/// counts its latencies share are fetched once per batch. On a small topology, whose
/// histograms stay in the cache, grouping would only cost: its log is short and recorded
/// in order. Counts add up the same in any order, so the histograms end exactly as if
/// recorded one by one.
#[derive(Debug)]
pub struct LatencyLog {
    /// `(slot, microseconds)`: a slot is a service's index, or the number of services plus
    /// an entry's index.
    records: Vec<(u32, u32)>,
    /// Records at which the log is recorded. The log grows to it as it fills rather than
    /// reserving it up front: a live session cuts a window every tenth of a second, long
    /// before a large topology's log (up to 1 MB) is full.
    capacity: usize,
    /// Whether to group by slot before recording; scratch for it: the records by slot,
    /// and where each slot's group starts.
    group: bool,
    grouped: Vec<(u32, u32)>,
    starts: Vec<u32>,
}

impl LatencyLog {
    /// Above this many histograms (services and entries), the log groups by histogram.
    const GROUP_ABOVE: usize = 64;

    /// Latencies a grouping log holds per histogram: a histogram's counts in use (a few
    /// dozen cache lines) are then fetched once per batch and hit several times, where
    /// 8,192 latencies over 1,466 histograms fetched a line for nearly every latency.
    const PER_HISTOGRAM: usize = 64;

    /// A log for a window of `services` and `entries`.
    pub fn new(services: usize, entries: usize) -> LatencyLog {
        let histograms = services + entries;
        let group = histograms > LatencyLog::GROUP_ABOVE;
        let capacity = if group {
            (histograms * LatencyLog::PER_HISTOGRAM).clamp(1 << 13, 1 << 17)
        } else {
            1 << 10
        };
        LatencyLog {
            records: Vec::new(),
            capacity,
            group,
            grouped: Vec::new(),
            starts: Vec::new(),
        }
    }

    /// Logs a latency of service `service` in `window`.
    #[inline]
    pub fn push_service(&mut self, window: &mut Window, service: usize, nanos: Nanos) {
        self.push(window, service as u32, nanos);
    }

    /// Logs a latency of entry `entry` in `window`.
    #[inline]
    pub fn push_entry(&mut self, window: &mut Window, entry: usize, nanos: Nanos) {
        self.push(window, (window.services.len() + entry) as u32, nanos);
    }

    /// Logs a latency of `slot` in `window`, recording the log when it is full.
    #[inline]
    fn push(&mut self, window: &mut Window, slot: u32, nanos: Nanos) {
        let micros = (nanos / 1_000).max(1);
        let Ok(micros) = u32::try_from(micros) else {
            // Over 71 minutes: rare enough to record at once.
            return window.latencies(slot).record(nanos);
        };
        self.records.push((slot, micros));
        if self.records.len() == self.capacity {
            self.flush(window);
        }
    }

    /// Records every logged latency into `window`'s histograms.
    #[inline(never)]
    pub fn flush(&mut self, window: &mut Window) {
        if !self.group {
            for &(slot, micros) in &self.records {
                window.latencies(slot).record_micros(u64::from(micros));
            }
            self.records.clear();
            return;
        }
        // A histogram at a time: a counting sort by slot.
        self.starts.clear();
        self.starts
            .resize(window.services.len() + window.entries.len() + 1, 0);
        for &(slot, _) in &self.records {
            self.starts[slot as usize + 1] += 1;
        }
        for i in 1..self.starts.len() {
            self.starts[i] += self.starts[i - 1];
        }
        self.grouped.clear();
        self.grouped.resize(self.records.len(), (0, 0));
        for &record in &self.records {
            let at = &mut self.starts[record.0 as usize];
            self.grouped[*at as usize] = record;
            *at += 1;
        }
        // Each slot's start has moved to its end: a histogram is looked up once per group.
        let mut begin = 0;
        for (slot, &end) in self.starts.iter().enumerate() {
            let group = &self.grouped[begin..end as usize];
            if !group.is_empty() {
                let micros = group.iter().map(|&(_, micros)| u64::from(micros));
                window.latencies(slot as u32).record_all_micros(micros);
            }
            begin = end as usize;
        }
        self.records.clear();
    }
}

/// What happened at one service during a window.
#[derive(Clone, Debug, Default)]
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
    pub latency: Latencies,
    /// Slot-nanoseconds spent busy, for utilisation.
    pub busy_ns: u128,
}

impl ServiceCounters {
    fn merge(&mut self, other: &ServiceCounters) {
        self.arrivals += other.arrivals;
        self.successes += other.successes;
        self.failures += other.failures;
        self.rejected += other.rejected;
        self.retries += other.retries;
        self.latency.merge(&other.latency);
        self.busy_ns += other.busy_ns;
    }
}

/// Outside requests at one entry point during a window, counted when they end.
#[derive(Clone, Debug, Default)]
pub struct EntryCounters {
    pub arrivals: u64,
    pub successes: u64,
    pub failures: u64,
    pub latency: Latencies,
}

impl EntryCounters {
    pub fn merge(&mut self, other: &EntryCounters) {
        self.arrivals += other.arrivals;
        self.successes += other.successes;
        self.failures += other.failures;
        self.latency.merge(&other.latency);
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

    /// The latencies of a [`LatencyLog`] slot.
    #[inline(always)]
    fn latencies(&mut self, slot: u32) -> &mut Latencies {
        let slot = slot as usize;
        match slot.checked_sub(self.services.len()) {
            None => &mut self.services[slot].latency,
            Some(entry) => &mut self.entries[entry].latency,
        }
    }

    pub fn seconds(&self) -> f64 {
        (self.end - self.start) as f64 / 1e9
    }

    /// Successful outside requests / ended outside requests over all entries.
    pub fn availability(&self) -> Option<f64> {
        let (ok, ended) = self.outcomes();
        ratio(ok, ended)
    }

    /// `(successful, ended)` outside requests over all entries.
    pub fn outcomes(&self) -> (u64, u64) {
        self.entries.iter().fold((0, 0), |(ok, ended), e| {
            (ok + e.successes, ended + e.successes + e.failures)
        })
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

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64Mcg;

    use super::*;

    /// The log, grouping or not, ends with the histograms recording one by one gives.
    #[test]
    fn logged_latencies_end_as_recorded_one_by_one() {
        for (services, entries) in [(3, 2), (90, 40)] {
            let mut rng = Pcg64Mcg::seed_from_u64(services as u64);
            let mut logged = Window::new(0, services, entries, 0);
            let mut direct = Window::new(0, services, entries, 0);
            let mut log = LatencyLog::new(services, entries);
            for i in 0..50_000 {
                // Mostly milliseconds, now and then over 71 minutes (recorded at once).
                let nanos = match i % 10_000 {
                    0 => 5_000_000_000_000,
                    _ => (rng.random::<f64>().powi(3) * 1e9) as Nanos,
                };
                let slot = rng.random_range(0..services + entries);
                match slot.checked_sub(services) {
                    None => log.push_service(&mut logged, slot, nanos),
                    Some(entry) => log.push_entry(&mut logged, entry, nanos),
                }
                direct.latencies(slot as u32).record(nanos);
            }
            log.flush(&mut logged);
            let all = |w: &Window| -> Vec<(u64, Option<f64>, Vec<Option<f64>>)> {
                let services = w.services.iter().map(|s| &s.latency);
                services
                    .chain(w.entries.iter().map(|e| &e.latency))
                    .map(|l| {
                        let quantiles = [0.0, 0.5, 0.99, 0.9999, 1.0];
                        let quantiles = quantiles.iter().map(|&q| l.quantile_ms(q)).collect();
                        (l.count(), l.mean_ms(), quantiles)
                    })
                    .collect()
            };
            assert_eq!(all(&logged), all(&direct), "{services} services");
            assert_eq!(
                all(&logged).iter().map(|h| h.0).sum::<u64>(),
                50_000,
                "every latency counted once"
            );
        }
    }
}
