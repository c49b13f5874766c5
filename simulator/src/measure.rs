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

    /// Takes `other`'s records out of these, which must include them (`other` was merged
    /// in); false, leaving these unusable, if they did not.
    #[must_use]
    pub fn unmerge(&mut self, other: &Latencies) -> bool {
        match (&mut self.0, &other.0) {
            (_, None) => true,
            (None, Some(theirs)) => theirs.is_empty(),
            (Some(mine), Some(theirs)) => mine.subtract(theirs.as_ref()).is_ok(),
        }
    }

    pub fn count(&self) -> u64 {
        self.0.as_ref().map_or(0, |h| h.len())
    }

    /// Forgets every record, keeping the memory for the next ones.
    pub fn clear(&mut self) {
        if let Some(histogram) = self.0.as_mut() {
            histogram.reset();
        }
    }

    /// The latency at quantile `q` (0–1) in milliseconds; `None` before any record.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let histogram = self.0.as_ref().filter(|h| !h.is_empty())?;
        Some(histogram.value_at_quantile(q) as f64 / 1e3)
    }

    /// The latencies at quantiles `qs` (ascending, 0–1) in milliseconds, in one walk over
    /// the counts; `None`s before any record.
    pub fn quantiles_ms<const N: usize>(&self, qs: [f64; N]) -> [Option<f64>; N] {
        let Some(histogram) = self.0.as_ref().filter(|h| !h.is_empty()) else {
            return [None; N];
        };
        debug_assert!(qs.is_sorted(), "{qs:?}");
        let mut values = histogram.value_at_quantiles(qs);
        std::array::from_fn(|_| values.next().map(|micros| micros as f64 / 1e3))
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

    /// Undoes [`ServiceCounters::merge`] of `other`; false if its latencies were not in.
    fn unmerge(&mut self, other: &ServiceCounters) -> bool {
        self.arrivals -= other.arrivals;
        self.successes -= other.successes;
        self.failures -= other.failures;
        self.rejected -= other.rejected;
        self.retries -= other.retries;
        self.busy_ns -= other.busy_ns;
        self.latency.unmerge(&other.latency)
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

    /// Undoes [`EntryCounters::merge`] of `other`; false if its latencies were not in.
    fn unmerge(&mut self, other: &EntryCounters) -> bool {
        self.arrivals -= other.arrivals;
        self.successes -= other.successes;
        self.failures -= other.failures;
        self.latency.unmerge(&other.latency)
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

    fn unmerge(&mut self, other: &LinkCounters) {
        self.calls -= other.calls;
        self.failures -= other.failures;
        self.retries -= other.retries;
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

    /// Takes `other` (the earliest window merged into this one) out again, leaving this
    /// one's times as they are; false, leaving this window unusable, if it was not merged
    /// in.
    #[must_use]
    fn unmerge(&mut self, other: &Window) -> bool {
        let mut ok = self.same_shape(other);
        for (mine, theirs) in self.services.iter_mut().zip(&other.services) {
            ok &= mine.unmerge(theirs);
        }
        for (mine, theirs) in self.entries.iter_mut().zip(&other.entries) {
            ok &= mine.unmerge(theirs);
        }
        for (mine, theirs) in self.links.iter_mut().zip(&other.links) {
            mine.unmerge(theirs);
        }
        ok
    }

    /// Whether `other` counts the same services, entries and links.
    fn same_shape(&self, other: &Window) -> bool {
        self.services.len() == other.services.len()
            && self.entries.len() == other.entries.len()
            && self.links.len() == other.links.len()
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

/// The last windows covering about `span` nanoseconds, and their sum.
///
/// The sum is kept as windows come and go — the newest added, those past the span taken
/// out — rather than merged anew at every read: a live session reads it ten times a
/// second, and merging ten windows of a 1,000-service topology walked every count of
/// 14,000 histograms each time.
pub struct Rolling {
    span: Nanos,
    windows: VecDeque<Window>,
    /// Every kept window added up; `None` while there is none.
    sum: Option<Window>,
}

impl Rolling {
    pub fn new(span: Nanos) -> Rolling {
        Rolling {
            span,
            windows: VecDeque::new(),
            sum: None,
        }
    }

    /// Adds the newest window and forgets those that ended more than `span` before it. A
    /// window of another shape (a new topology) starts the sum afresh.
    pub fn push(&mut self, window: Window) {
        let horizon = window.end.saturating_sub(self.span);
        match &mut self.sum {
            Some(sum) if sum.same_shape(&window) => sum.merge(&window),
            _ => {
                self.windows.clear();
                self.sum = Some(window.clone());
            }
        }
        self.windows.push_back(window);
        while self.windows.front().is_some_and(|w| w.end <= horizon) {
            let gone = self.windows.pop_front().expect("checked");
            let sum = self.sum.as_mut().expect("kept with the windows");
            if !sum.unmerge(&gone) {
                // Cannot happen (each window was added); recount rather than show wrong
                // figures.
                self.sum = self.merged();
            }
        }
        if let (Some(sum), Some(first)) = (&mut self.sum, self.windows.front()) {
            sum.start = first.start;
        }
    }

    /// All kept windows added up; `None` before the first window.
    pub fn sum(&self) -> Option<&Window> {
        self.sum.as_ref()
    }

    /// All kept windows merged anew, one by one.
    fn merged(&self) -> Option<Window> {
        let mut iter = self.windows.iter();
        let mut merged = iter.next()?.clone();
        for window in iter {
            merged.merge(window);
        }
        Some(merged)
    }

    pub fn clear(&mut self) {
        self.windows.clear();
        self.sum = None;
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

    /// Every figure of a window: counters, latency counts, means and quantiles.
    type Figures = Vec<(Vec<u64>, u64, Option<f64>, Vec<Option<f64>>)>;

    fn figures(window: &Window) -> (Nanos, Nanos, Figures, Vec<[u64; 3]>) {
        let quantiles = |l: &Latencies| [0.5, 0.95, 0.99, 1.0].map(|q| l.quantile_ms(q)).to_vec();
        let services = window.services.iter().map(|s| {
            let counts = vec![
                s.arrivals,
                s.successes,
                s.failures,
                s.rejected,
                s.retries,
                s.busy_ns as u64,
            ];
            (
                counts,
                s.latency.count(),
                s.latency.mean_ms(),
                quantiles(&s.latency),
            )
        });
        let entries = window.entries.iter().map(|e| {
            let counts = vec![e.arrivals, e.successes, e.failures];
            (
                counts,
                e.latency.count(),
                e.latency.mean_ms(),
                quantiles(&e.latency),
            )
        });
        let links = window
            .links
            .iter()
            .map(|l| [l.calls, l.failures, l.retries]);
        (
            window.start,
            window.end,
            services.chain(entries).collect(),
            links.collect(),
        )
    }

    /// The rolling sum, windows added as they come and taken out as they go, shows what
    /// merging the kept windows anew gives — counts, means and quantiles alike — including
    /// after a window of another shape starts it afresh.
    #[test]
    fn the_rolling_sum_matches_the_kept_windows_merged() {
        let mut rng = Pcg64Mcg::seed_from_u64(7);
        let mut rolling = Rolling::new(1_000);
        let mut start = 0;
        for step in 0..60 {
            // A new topology (one more service) a third of the way in.
            let services = if step < 20 { 4 } else { 5 };
            let mut window = Window::new(start, services, 2, 3);
            window.end = start + 100;
            start = window.end;
            for service in &mut window.services {
                service.arrivals = rng.random_range(0..50);
                service.successes = rng.random_range(0..50);
                service.failures = rng.random_range(0..5);
                service.busy_ns = rng.random_range(0..1_000_000);
                // Some windows leave a service's histogram unmade, as idle ones do.
                for _ in 0..rng.random_range(0..3) * 40 {
                    // Now and then a latency far above the rest, which grows a histogram.
                    let nanos = match rng.random_range(0..200) {
                        0 => 3_000_000_000,
                        _ => rng.random_range(1_000..40_000_000),
                    };
                    service.latency.record(nanos);
                }
            }
            for entry in &mut window.entries {
                entry.arrivals = rng.random_range(0..30);
                entry.latency.record(rng.random_range(1_000..9_000_000));
            }
            for link in &mut window.links {
                link.calls = rng.random_range(0..100);
            }
            rolling.push(window);
            let merged = rolling.merged().expect("a window was pushed");
            let sum = rolling.sum().expect("a window was pushed");
            assert_eq!(figures(sum), figures(&merged), "step {step}");
            for service in &sum.services {
                let one_by_one = [0.0, 0.5, 0.99, 1.0].map(|q| service.latency.quantile_ms(q));
                let one_walk = service.latency.quantiles_ms([0.0, 0.5, 0.99, 1.0]);
                assert_eq!(one_walk, one_by_one, "step {step}");
            }
            let kept = if step < 20 {
                (step + 1).min(10)
            } else {
                (step - 19).min(10)
            };
            assert_eq!(rolling.windows.len(), kept, "step {step}");
        }
        rolling.clear();
        assert!(rolling.sum().is_none());
    }
}
