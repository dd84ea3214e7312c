//! When a poll loop keeps polling its rings and when it sleeps in `poll()`.
//!
//! Contract: a loop calls [`Pacer::next`] once per iteration with whether the iteration did
//! any work and the time it read for it. While work arrives, and for the busy-poll window
//! after the last of it, the answer is to poll again; after the window, to sleep (up to
//! [`Pacing::idle_poll`], woken early by a frame). So a loaded port never pays a wake-up
//! between batches (a sleeping vCPU can take far longer to wake than a flood takes to fill a
//! socket's rings: bench/README.md, "Where the frames are lost"), and an idle one costs no CPU
//! once the window has passed.

use std::time::{Duration, Instant};

/// The pacing of a poll loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Keep polling this long after the last work before sleeping (zero: sleep at once).
    pub busy_poll: Duration,
    /// Longest sleep in `poll()`.
    pub idle_poll: Duration,
}

/// What a poll loop does after an iteration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// The iteration did work: go on.
    Work,
    /// Nothing to do, but within the busy-poll window: poll again.
    Spin,
    /// Nothing to do for the whole window: sleep in `poll()`.
    Sleep,
}

/// Tracks the last work of one poll loop.
#[derive(Debug, Clone)]
pub struct Pacer {
    pacing: Pacing,
    last_work: Instant,
}

impl Pacer {
    /// A pacer whose window starts at `now`.
    pub fn new(pacing: Pacing, now: Instant) -> Self {
        Self {
            pacing,
            last_work: now,
        }
    }

    /// The pacing it applies.
    pub fn pacing(&self) -> Pacing {
        self.pacing
    }

    /// What to do after an iteration at `now` that did work (`worked`) or not.
    pub fn next(&mut self, worked: bool, now: Instant) -> Pace {
        if worked {
            self.last_work = now;
            Pace::Work
        } else if now.saturating_duration_since(self.last_work) < self.pacing.busy_poll {
            Pace::Spin
        } else {
            Pace::Sleep
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pacing(busy_us: u64) -> Pacing {
        Pacing {
            busy_poll: Duration::from_micros(busy_us),
            idle_poll: Duration::from_millis(100),
        }
    }

    #[test]
    fn polls_through_the_window_after_work_then_sleeps() {
        let t0 = Instant::now();
        let us = |n| t0 + Duration::from_micros(n);
        let mut p = Pacer::new(pacing(100), t0);
        assert_eq!(p.next(true, us(10)), Pace::Work);
        assert_eq!(p.next(false, us(50)), Pace::Spin);
        assert_eq!(p.next(false, us(109)), Pace::Spin);
        assert_eq!(p.next(false, us(110)), Pace::Sleep);
        assert_eq!(
            p.next(true, us(500)),
            Pace::Work,
            "work restarts the window"
        );
        assert_eq!(p.next(false, us(590)), Pace::Spin);
        assert_eq!(p.next(false, us(601)), Pace::Sleep);
    }

    #[test]
    fn a_zero_window_sleeps_whenever_there_is_nothing_to_do() {
        let t0 = Instant::now();
        let mut p = Pacer::new(pacing(0), t0);
        assert_eq!(p.next(false, t0), Pace::Sleep);
        assert_eq!(p.next(true, t0), Pace::Work);
        assert_eq!(p.next(false, t0), Pace::Sleep);
    }

    #[test]
    fn a_clock_read_before_the_last_work_counts_as_inside_the_window() {
        let t0 = Instant::now();
        let mut p = Pacer::new(pacing(100), t0 + Duration::from_millis(1));
        assert_eq!(p.next(false, t0), Pace::Spin);
    }
}
