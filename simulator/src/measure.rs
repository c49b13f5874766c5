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
    /// Records a latency in nanoseconds, one at a time (the engine counts through a
    /// [`LatencyRecorder`], which ends with the same histograms).
    pub fn record(&mut self, nanos: Nanos) {
        let histogram = self.0.get_or_insert_with(new_histogram);
        let micros = (nanos / 1_000).max(1);
        // `record` grows an auto-resizing histogram; `saturating_record` would clamp.
        if histogram.record(micros).is_err() {
            histogram.saturating_record(micros);
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

/// An empty histogram of latencies; out of line, so recording stays small.
#[cold]
#[inline(never)]
fn new_histogram() -> Box<Histogram<u32>> {
    Box::new(Histogram::new(2).expect("two significant digits are valid"))
}

/// hdrhistogram's bucket layout for two significant digits from 1 µs (what
/// [`new_histogram`] makes): 256 sub-buckets in the first bucket, then 128 more per power
/// of two, so a value's index is two shifts away.
const SUB_BUCKET_HALF_MAGNITUDE: u32 = 7;
const SUB_BUCKET_HALF: usize = 1 << SUB_BUCKET_HALF_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = 2 * SUB_BUCKET_HALF as u64 - 1;
const LEADING_ZERO_COUNT_BASE: u32 = 64 - (SUB_BUCKET_HALF_MAGNITUDE + 1);

/// The index of `micros` in the counts of [`new_histogram`]'s layout.
#[inline(always)]
fn bucket_index(micros: u64) -> usize {
    let bucket = LEADING_ZERO_COUNT_BASE - (micros | SUB_BUCKET_MASK).leading_zeros();
    let sub_bucket = (micros >> bucket) as usize;
    ((bucket as usize + 1) << SUB_BUCKET_HALF_MAGNITUDE) + sub_bucket - SUB_BUCKET_HALF
}

/// The lowest value counted at `index`: the inverse of [`bucket_index`].
fn lowest_value(index: usize) -> u64 {
    let sub_bucket = (index & (SUB_BUCKET_HALF - 1)) as u64;
    match (index >> SUB_BUCKET_HALF_MAGNITUDE).checked_sub(1) {
        None => sub_bucket,
        Some(bucket) => (sub_bucket + SUB_BUCKET_HALF as u64) << bucket,
    }
}

/// Latencies of the window being recorded, counted in hdrhistogram's own bucket layout and
/// turned into [`Latencies`] when the window is cut: the same histograms as recording each
/// value into hdrhistogram, for a fraction of the work.
///
/// On a large topology a count is a cache miss (hundreds of histograms, kilobytes each), so
/// latencies are logged as they happen and counted a thousand at a time, each count's line
/// fetched a few records ahead: the misses overlap instead of stalling the engine. Counts
/// add up the same in any order.
#[derive(Debug)]
pub struct LatencyRecorder {
    /// `(slot, microseconds)` not yet counted.
    log: Vec<(u32, u64)>,
    /// Each service's counts, then each entry's.
    slots: Vec<Counts>,
    services: usize,
}

/// One histogram's counts, with the range of indices that hold any.
#[derive(Clone, Debug, Default)]
struct Counts {
    counts: Vec<u32>,
    lowest: usize,
    highest: usize,
}

impl Counts {
    fn is_empty(&self) -> bool {
        self.lowest > self.highest
    }

    #[inline(always)]
    fn add(&mut self, index: usize) {
        if index >= self.counts.len() {
            self.grow(index);
        }
        let count = &mut self.counts[index];
        *count = count.saturating_add(1); // as hdrhistogram's u32 counts saturate
        self.lowest = self.lowest.min(index);
        self.highest = self.highest.max(index);
    }

    /// Makes room for `index`, a bucket (half a kilobyte) at a time.
    #[cold]
    #[inline(never)]
    fn grow(&mut self, index: usize) {
        let len = (index / SUB_BUCKET_HALF + 1) * SUB_BUCKET_HALF;
        self.counts.resize(len, 0);
    }

    /// The counts as an hdrhistogram, emptied for the next window (keeping their memory).
    fn take(&mut self) -> Latencies {
        if self.is_empty() {
            return Latencies::default();
        }
        let high = lowest_value(self.highest).max(2);
        let mut histogram = Histogram::new_with_max(high, 2).expect("a valid range");
        histogram.auto(true);
        for index in self.lowest..=self.highest {
            let count = std::mem::take(&mut self.counts[index]);
            if count > 0 {
                histogram
                    .record_n(lowest_value(index), count)
                    .expect("sized for the highest value");
            }
        }
        (self.lowest, self.highest) = (usize::MAX, 0);
        Latencies(Some(Box::new(histogram)))
    }
}

impl LatencyRecorder {
    const LOG_CAPACITY: usize = 1024;

    pub fn new(services: usize, entries: usize) -> LatencyRecorder {
        let empty = Counts {
            lowest: usize::MAX,
            ..Counts::default()
        };
        LatencyRecorder {
            log: Vec::with_capacity(LatencyRecorder::LOG_CAPACITY),
            slots: vec![empty; services + entries],
            services,
        }
    }

    /// Records a latency of service `service`.
    #[inline]
    pub fn service(&mut self, service: usize, nanos: Nanos) {
        self.push(service, nanos);
    }

    /// Records a latency of entry `entry`.
    #[inline]
    pub fn entry(&mut self, entry: usize, nanos: Nanos) {
        self.push(self.services + entry, nanos);
    }

    #[inline(always)]
    fn push(&mut self, slot: usize, nanos: Nanos) {
        let micros = (nanos / 1_000).max(1);
        self.log.push((slot as u32, micros));
        if self.log.len() == LatencyRecorder::LOG_CAPACITY {
            self.count_log();
        }
    }

    /// Counts every logged latency.
    #[inline(never)]
    fn count_log(&mut self) {
        let (log, slots) = (&self.log, &mut self.slots);
        for &(slot, micros) in log {
            slots[slot as usize].add(bucket_index(micros));
        }
        self.log.clear();
    }

    /// Moves everything recorded into `window`'s histograms (which must be empty) and
    /// starts over.
    pub fn take_into(&mut self, window: &mut Window) {
        self.count_log();
        let (services, entries) = self.slots.split_at_mut(self.services);
        for (counts, counters) in services.iter_mut().zip(&mut window.services) {
            if !counts.is_empty() {
                counters.latency = counts.take();
            }
        }
        for (counts, counters) in entries.iter_mut().zip(&mut window.entries) {
            if !counts.is_empty() {
                counters.latency = counts.take();
            }
        }
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

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64Mcg;

    use super::*;

    #[test]
    fn bucket_indices_are_hdrhistograms() {
        let histogram = new_histogram();
        let mut rng = Pcg64Mcg::seed_from_u64(1);
        let small = 0..1u64 << 20;
        let large = (0..100_000).map(|_| rng.random::<u64>() >> rng.random_range(0..40));
        for micros in small.chain(large) {
            let index = bucket_index(micros);
            assert_eq!(
                lowest_value(index),
                histogram.lowest_equivalent(micros),
                "{micros} µs"
            );
            assert_eq!(bucket_index(lowest_value(index)), index, "{micros} µs");
        }
    }

    #[test]
    fn recorded_latencies_equal_hdrhistograms_own() {
        let mut rng = Pcg64Mcg::seed_from_u64(2);
        let mut recorder = LatencyRecorder::new(3, 2);
        let mut direct: Vec<Latencies> = vec![Latencies::default(); 5];
        // Several windows: the recorder's counts must start over clean in each.
        for _ in 0..3 {
            for _ in 0..5_000 {
                let slot = rng.random_range(0..4); // the last entry records nothing
                let nanos = (rng.random::<f64>().powi(4) * 1e10) as u64;
                match slot {
                    0..3 => recorder.service(slot, nanos),
                    _ => recorder.entry(slot - 3, nanos),
                }
                direct[slot].record(nanos);
            }
            let mut window = Window::new(0, 3, 2, 0);
            recorder.take_into(&mut window);
            let recorded = window.services.iter().map(|s| &s.latency);
            let recorded = recorded.chain(window.entries.iter().map(|e| &e.latency));
            for (slot, (recorded, direct)) in recorded.zip(&mut direct).enumerate() {
                assert_eq!(recorded.count(), direct.count(), "slot {slot}");
                assert_eq!(recorded.mean_ms(), direct.mean_ms(), "slot {slot}");
                for q in [0.0, 0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
                    assert_eq!(recorded.quantile_ms(q), direct.quantile_ms(q), "{q}");
                }
                if let (Some(mine), Some(theirs)) = (&recorded.0, &direct.0) {
                    assert_eq!((mine.min(), mine.max()), (theirs.min(), theirs.max()));
                }
                *direct = Latencies::default();
            }
        }
    }
}
