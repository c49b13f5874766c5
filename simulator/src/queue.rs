//! The event queue: a binary min-heap ordered by `(time, sequence)`, so events at equal times
//! pop in the order they were pushed and every run with the same seed is reproducible.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

/// Simulated time in nanoseconds since the start of the run (584 years fit in a `u64`).
pub type Nanos = u64;

pub const NANOS_PER_SEC: f64 = 1e9;
pub const NANOS_PER_MS: f64 = 1e6;

/// Converts seconds to nanoseconds, rounding to the nearest.
pub fn secs(s: f64) -> Nanos {
    (s * NANOS_PER_SEC).round() as Nanos
}

/// Converts milliseconds to nanoseconds, rounding to the nearest.
pub fn millis(ms: f64) -> Nanos {
    (ms * NANOS_PER_MS).round() as Nanos
}

struct Entry<E> {
    time: Nanos,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.seq) == (other.time, other.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed: `BinaryHeap` is a max-heap and we want the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.time, other.seq).cmp(&(self.time, self.seq))
    }
}

/// Pending events, earliest first, FIFO among equal times.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Schedules `event` at `time`.
    ///
    /// # Complexity
    /// O(log n) for n pending events.
    pub fn push(&mut self, time: Nanos, event: E) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { time, seq, event });
    }

    /// The time of the earliest pending event. O(1).
    pub fn peek_time(&self) -> Option<Nanos> {
        self.heap.peek().map(|entry| entry.time)
    }

    /// Removes and returns the earliest pending event. O(log n).
    pub fn pop(&mut self) -> Option<(Nanos, E)> {
        self.heap.pop().map(|entry| (entry.time, entry.event))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// Events scheduled a fixed delay ahead (network latencies, timeouts, backoffs), kept out
/// of the main heap. Events of one delay are scheduled in time order, so each delay is a
/// FIFO lane; a small heap orders the lanes by their fronts. Most events of a simulation
/// have such delays; only those with random ones (work times, arrivals) need the big heap.
pub struct Lanes<T> {
    lanes: Vec<(Nanos, VecDeque<(Nanos, T)>)>,
    /// `(front time, lane)` of every non-empty lane, earliest first.
    fronts: BinaryHeap<Reverse<(Nanos, usize)>>,
}

impl<T> Default for Lanes<T> {
    fn default() -> Self {
        Lanes {
            lanes: Vec::new(),
            fronts: BinaryHeap::new(),
        }
    }
}

impl<T> Lanes<T> {
    /// Schedules `item` at `now + delay`; `now` must not go back in time between pushes.
    ///
    /// # Complexity
    /// O(L) to find the delay's lane among L lanes (created on first use), then O(1)
    /// amortised, or O(log L) when the lane was empty.
    pub fn push_after(&mut self, now: Nanos, delay: Nanos, item: T) {
        let lane = match self.lanes.iter().position(|(d, _)| *d == delay) {
            Some(lane) => lane,
            None => {
                self.lanes.push((delay, VecDeque::new()));
                self.lanes.len() - 1
            }
        };
        let at = now + delay;
        let queue = &mut self.lanes[lane].1;
        debug_assert!(queue.back().is_none_or(|(t, _)| *t <= at));
        if queue.is_empty() {
            self.fronts.push(Reverse((at, lane)));
        }
        queue.push_back((at, item));
    }

    /// The earliest scheduled time and its lane. O(1).
    pub fn peek(&self) -> Option<(Nanos, usize)> {
        self.fronts.peek().map(|Reverse(front)| *front)
    }

    /// Removes the earliest item, which is in `lane` (as [`Lanes::peek`] said). O(log L).
    pub fn pop(&mut self, lane: usize) -> Option<(Nanos, T)> {
        self.pop_dropping(lane, |_| false).map(|(item, _)| item)
    }

    /// Like [`Lanes::pop`], and then drops the items right behind it in its lane for which
    /// `obsolete` holds (timeouts of calls long answered), without ordering them again.
    /// Returns the item and how many were dropped.
    pub fn pop_dropping(
        &mut self,
        lane: usize,
        obsolete: impl Fn(&T) -> bool,
    ) -> Option<((Nanos, T), u64)> {
        debug_assert_eq!(self.peek().map(|(_, l)| l), Some(lane));
        self.fronts.pop();
        let queue = &mut self.lanes[lane].1;
        let item = queue.pop_front()?;
        let mut dropped = 0;
        while queue.front().is_some_and(|(_, next)| obsolete(next)) {
            queue.pop_front();
            dropped += 1;
        }
        if let Some((next, _)) = queue.front() {
            self.fronts.push(Reverse((*next, lane)));
        }
        Some((item, dropped))
    }

    pub fn len(&self) -> usize {
        self.lanes.iter().map(|(_, q)| q.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.fronts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_come_out_in_time_order() {
        let mut lanes = Lanes::default();
        lanes.push_after(0, 100, "slow@100");
        lanes.push_after(5, 10, "fast@15");
        lanes.push_after(95, 10, "fast@105");
        let mut order = Vec::new();
        while let Some((_, lane)) = lanes.peek() {
            order.push(lanes.pop(lane).unwrap());
        }
        assert_eq!(
            order,
            vec![(15, "fast@15"), (100, "slow@100"), (105, "fast@105")]
        );
    }

    #[test]
    fn pops_in_time_order_and_fifo_on_ties() {
        let mut queue = EventQueue::default();
        queue.push(30, "c");
        queue.push(10, "a1");
        queue.push(20, "b");
        queue.push(10, "a2");
        queue.push(10, "a3");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            order,
            vec![(10, "a1"), (10, "a2"), (10, "a3"), (20, "b"), (30, "c")]
        );
    }

    #[test]
    fn unit_conversions_round() {
        assert_eq!(secs(1.5), 1_500_000_000);
        assert_eq!(millis(0.5), 500_000);
    }
}
