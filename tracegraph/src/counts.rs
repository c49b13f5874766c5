//! What the graph counts per span-time bucket, and the running sum of the buckets the live
//! figures cover. Indexed by the graph's service and link numbers; vectors grow as services
//! and links appear.

use simulator::measure::Latencies;

/// A service's SERVER/CONSUMER spans (for a virtual service: the calls made to it).
#[derive(Clone, Debug, Default)]
pub(crate) struct ServiceCounts {
    pub spans: u64,
    pub errors: u64,
    pub latency: Latencies,
}

/// An entry point's root spans.
#[derive(Clone, Debug, Default)]
pub(crate) struct EntryCounts {
    pub roots: u64,
    pub errors: u64,
    pub latency: Latencies,
}

/// A link's CLIENT/PRODUCER spans.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LinkCounts {
    pub calls: u64,
    pub failures: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Counts {
    pub services: Vec<ServiceCounts>,
    /// By service number: a service's requests as an entry point.
    pub entries: Vec<EntryCounts>,
    pub links: Vec<LinkCounts>,
}

fn at<T: Default>(items: &mut Vec<T>, index: u32) -> &mut T {
    let index = index as usize;
    if items.len() <= index {
        items.resize_with(index + 1, T::default);
    }
    &mut items[index]
}

impl Counts {
    pub fn service(&mut self, service: u32) -> &mut ServiceCounts {
        at(&mut self.services, service)
    }

    pub fn entry(&mut self, service: u32) -> &mut EntryCounts {
        at(&mut self.entries, service)
    }

    pub fn link(&mut self, link: u32) -> &mut LinkCounts {
        at(&mut self.links, link)
    }

    /// Zeroes every count, keeping the histograms' memory.
    pub fn clear(&mut self) {
        for s in &mut self.services {
            s.spans = 0;
            s.errors = 0;
            s.latency.clear();
        }
        for e in &mut self.entries {
            e.roots = 0;
            e.errors = 0;
            e.latency.clear();
        }
        self.links.fill(LinkCounts::default());
    }

    pub fn merge(&mut self, other: &Counts) {
        for (i, theirs) in other.services.iter().enumerate() {
            let mine = self.service(i as u32);
            mine.spans += theirs.spans;
            mine.errors += theirs.errors;
            mine.latency.merge(&theirs.latency);
        }
        for (i, theirs) in other.entries.iter().enumerate() {
            let mine = self.entry(i as u32);
            mine.roots += theirs.roots;
            mine.errors += theirs.errors;
            mine.latency.merge(&theirs.latency);
        }
        for (i, theirs) in other.links.iter().enumerate() {
            let mine = self.link(i as u32);
            mine.calls += theirs.calls;
            mine.failures += theirs.failures;
        }
    }

    /// Takes `other` (merged in earlier) out again; false if its latencies were not in, which
    /// leaves these counts unusable (the caller recounts).
    #[must_use]
    pub fn unmerge(&mut self, other: &Counts) -> bool {
        let mut ok = true;
        for (i, theirs) in other.services.iter().enumerate() {
            let mine = self.service(i as u32);
            mine.spans = mine.spans.saturating_sub(theirs.spans);
            mine.errors = mine.errors.saturating_sub(theirs.errors);
            ok &= mine.latency.unmerge(&theirs.latency);
        }
        for (i, theirs) in other.entries.iter().enumerate() {
            let mine = self.entry(i as u32);
            mine.roots = mine.roots.saturating_sub(theirs.roots);
            mine.errors = mine.errors.saturating_sub(theirs.errors);
            ok &= mine.latency.unmerge(&theirs.latency);
        }
        for (i, theirs) in other.links.iter().enumerate() {
            let mine = self.link(i as u32);
            mine.calls = mine.calls.saturating_sub(theirs.calls);
            mine.failures = mine.failures.saturating_sub(theirs.failures);
        }
        ok
    }
}
