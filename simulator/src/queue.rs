//! The event queue of a discrete-event simulation, whose clock never goes back: a radix
//! heap for events at arbitrary times, and FIFO lines and lanes for events a fixed delay
//! ahead. Events at equal times pop in a fixed order (see [`Schedule`]), so every run with
//! the same seed is reproducible.

use std::collections::VecDeque;

/// Simulated time in nanoseconds since the start of the run (584 years fit in a `u64`).
pub type Nanos = u64;

pub const NANOS_PER_SEC: f64 = 1e9;
pub const NANOS_PER_MS: f64 = 1e6;

/// Converts seconds to nanoseconds, rounding to the nearest.
pub fn secs(s: f64) -> Nanos {
    round_to_nanos(s * NANOS_PER_SEC)
}

/// Converts milliseconds to nanoseconds, rounding to the nearest.
pub fn millis(ms: f64) -> Nanos {
    round_to_nanos(ms * NANOS_PER_MS)
}

/// `ns.round() as Nanos`, exactly (half away from zero; negative and NaN give 0), without
/// the call to libm's `round` that x86-64's baseline instructions need: the simulation
/// rounds every random delay.
#[inline]
pub fn round_to_nanos(ns: f64) -> Nanos {
    let whole = ns as Nanos; // truncates, saturating
    // Exact for whole ≤ ns < 2^52; above, `ns` is an integer and the fraction is 0 (or,
    // past `Nanos::MAX`, the cast saturated as `round() as Nanos` does).
    // Without a branch: the fraction is random, so a branch would be mispredicted half the time.
    whole.saturating_add(u64::from(ns - whole as f64 >= 0.5))
}

/// Pending events, earliest first, FIFO among equal times. A time pushed must not be
/// earlier than the last one popped: the queue of a clock that never goes back.
///
/// A radix heap with a sorted front: an event waits in the bucket of the highest bit in
/// which its time differs from a base time, which no pending event is earlier than. The
/// lowest non-empty bucket, when small (the common case), becomes the front: sorted once,
/// then popped in order with no scan, and events pushed into its range are inserted in
/// order. A larger one is split by its earliest time, which becomes the base: its events
/// at that time make the front, the others move to lower buckets. An event moves down at
/// most once per bit, usually a few times; no sequence numbers are needed for FIFO order.
pub struct EventQueue<E> {
    /// No pending event is earlier, and no event popped was earlier either.
    base: Nanos,
    /// Every pending event whose time differs from `base` only in the bits of
    /// `front_mask`, latest first: sorted by time, the first to come last on ties.
    front: Vec<(Nanos, E)>,
    front_mask: u64,
    /// `buckets[b]`: events whose time differs from `base` first at bit `b`, in the order
    /// they came. Those in the front's range are in the front instead.
    buckets: [Vec<(Nanos, E)>; 64],
    /// Bit `b` is set when `buckets[b]` is not empty.
    occupied: u64,
    len: usize,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            base: 0,
            front: Vec::new(),
            front_mask: 0,
            buckets: std::array::from_fn(|_| Vec::new()),
            occupied: 0,
            len: 0,
        }
    }
}

/// Lowest buckets of up to this many events become the front as they are (sorted); larger
/// ones are split first (8 did best on the benchmarks).
const SMALL_BUCKET: usize = 8;

/// The bucket of `time` relative to the base time `base` (they differ).
fn bucket(time: Nanos, base: Nanos) -> usize {
    63 - (time ^ base).leading_zeros() as usize
}

impl<E: Copy> EventQueue<E> {
    /// Schedules `event` at `time`, no earlier than the last event popped. O(1) amortised,
    /// or O(k) to insert into the front behind its k events due no later.
    #[inline]
    pub fn push(&mut self, time: Nanos, event: E) {
        debug_assert!(time >= self.base, "{time} is before {}", self.base);
        self.len += 1;
        let differs = time ^ self.base;
        if differs <= self.front_mask {
            // Popped after every event of the front at `time` or earlier: a scan from its
            // earliest end (binary search was slower on the machine, though fewer branches).
            let mut at = self.front.len();
            while at > 0 && self.front[at - 1].0 <= time {
                at -= 1;
            }
            self.front.insert(at, (time, event));
        } else {
            let b = 63 - differs.leading_zeros() as usize;
            self.buckets[b].push((time, event));
            self.occupied |= 1 << b;
        }
    }

    /// The time of the earliest pending event. O(1), or O(k) to scan the k events of the
    /// lowest bucket when the front is empty.
    pub fn peek_time(&self) -> Option<Nanos> {
        if let Some((time, _)) = self.front.last() {
            return Some(*time);
        }
        if self.occupied == 0 {
            return None;
        }
        let b = self.occupied.trailing_zeros() as usize;
        self.buckets[b].iter().map(|(t, _)| *t).min()
    }

    /// Removes and returns the earliest pending event.
    ///
    /// # Complexity
    /// O(1) amortised for each of the (at most 64, usually few) times an event moves down
    /// a bucket, and for sorting small buckets.
    pub fn pop(&mut self) -> Option<(Nanos, E)> {
        self.pop_until(Nanos::MAX)
    }

    /// Like [`EventQueue::pop`], if the earliest pending event is at `until` or before.
    #[inline]
    pub fn pop_until(&mut self, until: Nanos) -> Option<(Nanos, E)> {
        self.peek_until(until)?;
        Some(self.pop_ready())
    }

    /// Removes and returns the earliest pending event, readied by [`EventQueue::peek_until`].
    #[inline(always)]
    fn pop_ready(&mut self) -> (Nanos, E) {
        self.len -= 1;
        self.front.pop().expect("readied by peek_until")
    }

    /// The time of the earliest pending event if it is at `until` or before. Readies it to
    /// pop, but moves no base past `until` (events may still be pushed from then on).
    #[inline(always)]
    fn peek_until(&mut self, until: Nanos) -> Option<Nanos> {
        if self.front.is_empty() && !self.refill(until) {
            return None;
        }
        let time = self.front.last().expect("refilled").0;
        (time <= until).then_some(time)
    }

    /// Makes the lowest non-empty bucket the front (splitting it first if large); false if
    /// there is no event, or if a large bucket's earliest is after `until`. The front must
    /// be empty.
    #[inline]
    fn refill(&mut self, until: Nanos) -> bool {
        if self.occupied == 0 {
            return false;
        }
        let b = self.occupied.trailing_zeros() as usize;
        if self.buckets[b].len() > SMALL_BUCKET {
            return self.split(b, until);
        }
        // The buckets below are empty: every pending event sharing `base`'s bits above `b`
        // is in this one. Buckets above stay valid.
        std::mem::swap(&mut self.front, &mut self.buckets[b]);
        self.occupied &= !(1 << b);
        self.front_mask = u64::MAX >> (63 - b);
        // Latest first, so the earliest pops off the end; FIFO on ties: reversed, then a
        // stable sort by time, descending. (std's sort of a few elements: fewer instructions
        // than a hand-written insertion sort, 3% of a 1,000-service run.)
        self.front.reverse();
        self.front.sort_by_key(|&(time, _)| std::cmp::Reverse(time));
        true
    }

    /// Makes the earliest time in bucket `b` (the lowest non-empty one) the base: its
    /// events make the front, the others of the bucket move down to the (empty) buckets
    /// below. Buckets above keep their place: their events differ from the new base at the
    /// same bit as from the previous one.
    ///
    /// Does nothing (false) if that time is after `until`: the clock may stop before it,
    /// and events may still be pushed before it, which a base past them would misplace.
    #[inline(never)] // the uncommon path: keeps `pop_until` small enough to inline
    fn split(&mut self, b: usize, until: Nanos) -> bool {
        let earliest = self.buckets[b].iter().map(|(t, _)| *t).min();
        let earliest = earliest.expect("occupied");
        if earliest > until {
            return false;
        }
        self.base = earliest;
        self.front_mask = 0;
        let (below, from) = self.buckets.split_at_mut(b);
        let mut occupied = self.occupied & !(1 << b);
        for &(time, event) in from[0].iter() {
            if time == earliest {
                self.front.push((time, event));
            } else {
                let lower = bucket(time, earliest);
                below[lower].push((time, event));
                occupied |= 1 << lower;
            }
        }
        from[0].clear();
        self.occupied = occupied;
        self.front.reverse(); // the first to come pops first
        true
    }
}

impl<E> EventQueue<E> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A FIFO lane of a [`Schedule`], for events a fixed delay ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lane(u32);

/// What the queue of a [`Schedule`] holds: an event, or the front of a lane.
#[derive(Clone, Copy)]
enum Slot<E> {
    Event(E),
    LaneFront(u32),
}

/// Every pending event of a simulation. Events sent a fixed delay ahead come in time order
/// for each delay, so they need no ordering among themselves, only against the rest:
///
/// - *Delay lines* ([`Schedule::push_delayed`]): FIFO queues, one per delay (up to
///   [`MAX_LINES`]), whose earliest front is compared with the [`EventQueue`] at each pop.
///   The engine sends arrivals and answers that way (a link's latency): two thirds of its
///   events never enter the radix heap, which then holds a third as many near events to
///   sort and split.
/// - *Lanes* ([`Schedule::push_after`]): FIFO queues whose fronts wait in the
///   [`EventQueue`]. The engine sends timeouts that way: most are obsolete (their call was
///   answered) by the time they come up, and a lane drops them in bulk without ever
///   ordering them.
///
/// Order on equal times: delay lines first, the line made first before the others; then
/// the queue, FIFO. Each line is FIFO.
pub struct Schedule<E> {
    queue: EventQueue<Slot<E>>,
    /// The delay of each lane.
    delays: Vec<Nanos>,
    lanes: Vec<VecDeque<(Nanos, E)>>,
    lines: Vec<DelayLine<E>>,
    /// The time and index of the earliest line front ([`NO_LINE`] when every line is
    /// empty): the smallest `(time, index)`.
    next_line: (Nanos, usize),
}

/// Events `delay` after they were sent, in the order sent.
struct DelayLine<E> {
    delay: Nanos,
    events: VecDeque<(Nanos, E)>,
}

/// At most this many delay lines (each pop looks at every line's front); events of other
/// delays go through the queue.
pub const MAX_LINES: usize = 8;

/// `Schedule::next_line` when every line is empty: after any front.
const NO_LINE: (Nanos, usize) = (Nanos::MAX, usize::MAX);

impl<E> Default for Schedule<E> {
    fn default() -> Self {
        Schedule {
            queue: EventQueue::default(),
            delays: Vec::new(),
            lanes: Vec::new(),
            lines: Vec::new(),
            next_line: NO_LINE,
        }
    }
}

impl<E: Copy> Schedule<E> {
    /// Schedules `event` at `time`, no earlier than the last event popped. O(1) amortised.
    pub fn push_at(&mut self, time: Nanos, event: E) {
        self.queue.push(time, Slot::Event(event));
    }

    /// The lane of events `delay` ahead, created on first use. O(L) for L lanes.
    pub fn lane(&mut self, delay: Nanos) -> Lane {
        let lane = match self.delays.iter().position(|&d| d == delay) {
            Some(lane) => lane,
            None => {
                self.delays.push(delay);
                self.lanes.push(VecDeque::new());
                self.lanes.len() - 1
            }
        };
        Lane(lane as u32)
    }

    /// Schedules `event` on `lane`, its delay after `now`; `now` must not go back in time
    /// between pushes on a lane. O(1) amortised.
    #[inline(always)]
    pub fn push_on(&mut self, lane: Lane, now: Nanos, event: E) {
        let at = now + self.delays[lane.0 as usize];
        let queue = &mut self.lanes[lane.0 as usize];
        debug_assert!(queue.back().is_none_or(|(t, _)| *t <= at));
        if queue.is_empty() {
            self.queue.push(at, Slot::LaneFront(lane.0));
        }
        queue.push_back((at, event));
    }

    /// Schedules `event` at `now + delay` on the delay's lane: [`Schedule::lane`], then
    /// [`Schedule::push_on`].
    pub fn push_after(&mut self, now: Nanos, delay: Nanos, event: E) {
        let lane = self.lane(delay);
        self.push_on(lane, now, event);
    }

    /// Schedules `event` at `now + delay` on the delay line of `delay` (made on first use,
    /// up to [`MAX_LINES`]; past them, in the queue). `now` must not go back in time
    /// between pushes, and `now + delay` must be before `Nanos::MAX`. O(1) amortised, plus
    /// a look at each line.
    #[inline(always)]
    pub fn push_delayed(&mut self, now: Nanos, delay: Nanos, event: E) {
        let at = now + delay;
        debug_assert!(at < Nanos::MAX, "the schedule keeps Nanos::MAX for no line");
        let line = match self.lines.iter().position(|line| line.delay == delay) {
            Some(line) => line,
            None if self.lines.len() < MAX_LINES => {
                self.lines.push(DelayLine {
                    delay,
                    events: VecDeque::new(),
                });
                self.lines.len() - 1
            }
            None => return self.push_at(at, event),
        };
        let events = &mut self.lines[line].events;
        debug_assert!(events.back().is_none_or(|(t, _)| *t <= at));
        if events.is_empty() && (at, line) < self.next_line {
            self.next_line = (at, line);
        }
        events.push_back((at, event));
    }

    /// Finds the earliest line front again, after one was taken.
    #[inline(always)]
    fn find_next_line(&mut self) {
        let mut next = NO_LINE;
        for (index, line) in self.lines.iter().enumerate() {
            // Strictly earlier: on equal times the line made first stays.
            if let Some(&(time, _)) = line.events.front()
                && time < next.0
            {
                next = (time, index);
            }
        }
        self.next_line = next;
    }

    /// The time of the earliest pending event, as [`EventQueue::peek_time`].
    pub fn peek_time(&self) -> Option<Nanos> {
        let line = (self.next_line != NO_LINE).then_some(self.next_line.0);
        match (self.queue.peek_time(), line) {
            (Some(queued), Some(line)) => Some(queued.min(line)),
            (queued, line) => queued.or(line),
        }
    }

    /// Removes and returns the earliest pending event if it is at `until` or before, as
    /// [`EventQueue::pop_until`]. When it comes from a lane, then drops the events right
    /// behind it in the lane for which `obsolete` holds (timeouts of calls long answered),
    /// without ordering them at all.
    #[inline]
    pub fn pop_until(&mut self, until: Nanos, obsolete: impl Fn(&E) -> bool) -> Option<(Nanos, E)> {
        let (line_time, line) = self.next_line;
        // The queue is readied only up to the line's front: a large bucket split past it
        // would take a base later than events its handler may still push.
        let queued = self.queue.peek_until(until.min(line_time));
        if queued.is_none_or(|time| time >= line_time) {
            // Lines first on equal times.
            if line_time > until {
                return None;
            }
            if line == NO_LINE.1 {
                return None; // nothing anywhere, and `until` is `Nanos::MAX`
            }
            let event = self.lines[line].events.pop_front();
            self.find_next_line();
            return event;
        }
        match self.queue.pop_ready() {
            (time, Slot::Event(event)) => Some((time, event)),
            (time, Slot::LaneFront(lane)) => {
                let queue = &mut self.lanes[lane as usize];
                let (at, event) = queue.pop_front().expect("a lane front is in its lane");
                debug_assert_eq!(at, time);
                while queue.front().is_some_and(|(_, next)| obsolete(next)) {
                    queue.pop_front();
                }
                if let Some((next, _)) = queue.front() {
                    self.queue.push(*next, Slot::LaneFront(lane));
                }
                Some((time, event))
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.next_line == NO_LINE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap, reproducible pseudo-random numbers (xorshift64) for the randomized tests.
    fn xorshift(mut state: u64) -> impl FnMut() -> u64 {
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        }
    }

    #[test]
    fn lanes_and_queue_come_out_in_time_order() {
        let mut schedule = Schedule::default();
        schedule.push_after(0, 100, "slow@100");
        schedule.push_after(5, 10, "fast@15");
        schedule.push_at(50, "random@50");
        schedule.push_after(95, 10, "fast@105");
        let order: Vec<_> =
            std::iter::from_fn(|| schedule.pop_until(Nanos::MAX, |_| false)).collect();
        assert_eq!(
            order,
            vec![
                (15, "fast@15"),
                (50, "random@50"),
                (100, "slow@100"),
                (105, "fast@105")
            ]
        );
    }

    #[test]
    fn obsolete_events_behind_a_lane_front_are_dropped() {
        let mut schedule = Schedule::default();
        for (now, name) in [(0, "a"), (1, "stale"), (2, "stale"), (3, "b")] {
            schedule.push_after(now, 10, name);
        }
        let order: Vec<_> =
            std::iter::from_fn(|| schedule.pop_until(Nanos::MAX, |e| *e == "stale")).collect();
        assert_eq!(order, vec![(10, "a"), (13, "b")]);
    }

    #[test]
    fn delay_lines_come_first_on_ties_and_in_the_order_they_were_made() {
        let mut schedule = Schedule::default();
        schedule.push_at(10, "queued@10");
        schedule.push_delayed(0, 10, "line10@10");
        schedule.push_delayed(5, 5, "line5@10");
        schedule.push_delayed(2, 10, "line10@12");
        schedule.push_at(11, "queued@11");
        let order: Vec<_> =
            std::iter::from_fn(|| schedule.pop_until(Nanos::MAX, |_| false)).collect();
        assert_eq!(
            order,
            vec![
                (10, "line10@10"),
                (10, "line5@10"),
                (10, "queued@10"),
                (11, "queued@11"),
                (12, "line10@12"),
            ]
        );
        assert!(schedule.is_empty());
        assert_eq!(schedule.peek_time(), None);
    }

    /// Against an order by `(time, source, push order)` — a line's index for the first
    /// [`MAX_LINES`] delays, after every line for the queue (which also takes the delays
    /// past them) — popping one event at a time and pushing relative to it, as the engine
    /// does, with the clock stopping short of the next event now and then.
    #[test]
    fn delay_lines_and_queue_match_a_stable_sort() {
        let mut next = xorshift(0xD1B5_4A32_D192_ED03);
        let delays: Vec<Nanos> = (0..MAX_LINES as u64 + 3).map(|d| d * 700).collect();
        let mut made: Vec<Nanos> = Vec::new(); // the lines' delays, in the order made
        let mut schedule = Schedule::default();
        let mut reference = std::collections::BTreeSet::new();
        let mut now = 0;
        for id in 0..60_000u64 {
            if next().is_multiple_of(2) {
                let delay = delays[(next() % delays.len() as u64) as usize];
                if !made.contains(&delay) && made.len() < MAX_LINES {
                    made.push(delay);
                }
                let source = made.iter().position(|&d| d == delay).unwrap_or(MAX_LINES);
                schedule.push_delayed(now, delay, id);
                reference.insert((now + delay, source, id));
            } else {
                // Many ties and crowded buckets, near and far.
                let time = now + (next() % 4) * 350 + next() % (1 << (next() % 20));
                schedule.push_at(time, id);
                reference.insert((time, MAX_LINES, id));
            }
            if next().is_multiple_of(3) {
                let until = now + next() % 3_000;
                let due = reference.first().filter(|&&(time, _, _)| time <= until);
                let expected = due.copied().map(|(time, _, id)| (time, id));
                reference.retain(|&(time, _, id)| expected != Some((time, id)));
                let popped = schedule.pop_until(until, |_| false);
                assert_eq!(popped, expected, "until {until}");
                assert_eq!(schedule.peek_time(), reference.first().map(|r| r.0));
                now = popped.map_or(until, |(time, _)| time);
            }
        }
        let rest: Vec<_> =
            std::iter::from_fn(|| schedule.pop_until(Nanos::MAX, |_| false)).collect();
        let reference: Vec<_> = reference.into_iter().map(|(t, _, id)| (t, id)).collect();
        assert_eq!(rest, reference);
        assert!(schedule.is_empty());
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

    /// Against a sort by `(time, push order)`, with pushes interleaved with pops as a
    /// simulation does them (never before the last pop).
    #[test]
    fn matches_a_stable_sort_under_interleaved_pushes() {
        let mut next = xorshift(0x2545_F491_4F6C_DD1Du64);
        let mut queue = EventQueue::default();
        let mut reference: Vec<(Nanos, u64)> = Vec::new();
        let mut now = 0;
        for id in 0..20_000u64 {
            // Many ties: times on a coarse grid, at varied distances.
            let time = now + (next() % 64) * (1 << (next() % 20));
            queue.push(time, id);
            reference.push((time, id));
            if next().is_multiple_of(3) {
                reference.sort_by_key(|&(t, id)| (t, id));
                let expected = reference.remove(0);
                assert_eq!(queue.pop(), Some(expected));
                now = expected.0;
            }
        }
        reference.sort_by_key(|&(t, id)| (t, id));
        let rest: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(rest, reference);
        assert!(queue.is_empty());
    }

    /// Against a sort by `(time, push order)`, with the clock stopping between events
    /// (`pop_until`) and going on from there, as the engine runs between windows and
    /// controls: events at the stop, soon after, far ahead, and many on a few times.
    #[test]
    fn matches_a_stable_sort_with_the_clock_stopping_between_events() {
        let mut next = xorshift(0x853C_49E6_748F_EA9Bu64);
        let mut queue = EventQueue::default();
        let mut reference: Vec<(Nanos, u64)> = Vec::new();
        let (mut now, mut popped, mut expected) = (0, Vec::new(), Vec::new());
        for id in 0..60_000u64 {
            let time = match next() % 8 {
                0 => now,
                1 => now + (next() % 3) * 1_000,     // ties
                2 => now + (next() % 4) * (1 << 27), // coarse: many ties, far
                3 => now + next() % (1 << 30),
                _ => now + next() % (1 << 22),
            };
            queue.push(time, id);
            reference.push((time, id));
            if next().is_multiple_of(3) {
                let until = now + next() % (1 << (next() % 28));
                reference.sort_by_key(|&(t, id)| (t, id));
                let due = reference.partition_point(|&(t, _)| t <= until);
                expected.extend(reference.drain(..due));
                while let Some(event) = queue.pop_until(until) {
                    popped.push(event);
                }
                assert_eq!(popped, expected, "until {until}");
                now = until;
            }
        }
        reference.sort_by_key(|&(t, id)| (t, id));
        let rest: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(rest, reference);
    }

    /// A large bucket not due yet is left as it is: split, it would make its earliest time
    /// the base, and an event pushed before that once the clock stopped (a fault injected
    /// between two steps of a live run, answers of the jobs it kills) would come out after
    /// it, and set the clock back.
    #[test]
    fn a_large_bucket_not_due_yet_lets_earlier_ones_in() {
        let mut queue = EventQueue::default();
        queue.push(0, 0);
        for id in 1..=SMALL_BUCKET as u64 + 4 {
            queue.push(1_000 + id, id);
        }
        assert_eq!(queue.pop_until(10), Some((0, 0)));
        assert_eq!(queue.pop_until(500), None);
        queue.push(600, 99);
        assert_eq!(queue.pop(), Some((600, 99)));
        assert_eq!(queue.pop(), Some((1_001, 1)));
    }

    #[test]
    fn an_event_not_due_yet_lets_earlier_ones_in() {
        let mut queue = EventQueue::default();
        queue.push(0, "start");
        queue.push(100, "late");
        assert_eq!(queue.pop_until(10), Some((0, "start")));
        assert_eq!(queue.pop_until(10), None);
        queue.push(50, "early");
        assert_eq!(queue.peek_time(), Some(50));
        assert_eq!(queue.pop(), Some((50, "early")));
        assert_eq!(queue.pop(), Some((100, "late")));
    }

    #[test]
    fn unit_conversions_round() {
        assert_eq!(secs(1.5), 1_500_000_000);
        assert_eq!(millis(0.5), 500_000);
    }

    #[test]
    fn rounding_to_nanos_is_rounding() {
        let mut next = xorshift(0x9E37_79B9_7F4A_7C15);
        let mut samples = vec![
            0.0,
            0.5,
            1.5,
            2.5,
            0.49999999999999994,
            -0.5,
            -3.7,
            f64::NAN,
            4503599627370497.0,
            1e30,
        ];
        for _ in 0..10_000 {
            let state = next();
            let scale = 10f64.powi((state % 18) as i32);
            samples.push((state >> 11) as f64 / (1u64 << 53) as f64 * scale);
        }
        for x in samples {
            assert_eq!(round_to_nanos(x), x.round() as Nanos, "{x}");
        }
    }
}
