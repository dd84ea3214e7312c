//! Incremental expiry: the sweep visits a window of slots in order and frees the expired
//! entries among them, their bucket loads started a group at a time.
//!
//! Contract: `sweep_ticks(now, budget)` visits `budget` slots from a shared cursor and removes
//! each entry that is expired when it is visited and still holds the same hot word when its
//! buckets are locked (a refresh or another sweeper in between wins). The scan itself is a
//! sequential read of hot words with no atomic read-modify-write, so the bucket lines of up to
//! `BATCH` expired entries are all in flight before the first lock (as in the batched writers).

use std::sync::atomic::Ordering;

use super::super::bucket::{Loc, positions};
use super::super::slot::{LIVE, View, expired, expiry, writing};
use super::super::stats::Counter;
use super::{BATCH, ConntrackTable};

/// An expired entry found by the scan, with its buckets (whose loads have been started).
#[derive(Clone, Copy)]
struct Expired {
    idx: usize,
    view: View,
    loc: Loc,
}

impl ConntrackTable {
    pub(super) fn sweep_ticks(&self, now: u32, budget: usize) -> usize {
        let cap = self.slots.len();
        let budget = budget.min(cap);
        let start = self.sweep_cursor.fetch_add(budget, Ordering::Relaxed) % cap;
        let mut group: [Option<Expired>; BATCH] = [None; BATCH];
        let mut n = 0;
        let mut removed = 0;
        let mut sink = 0;
        for i in 0..budget {
            let idx = if start + i >= cap {
                start + i - cap
            } else {
                start + i
            };
            let slot = &self.slots[idx];
            let h = slot.hot().load(Ordering::Relaxed);
            if h & LIVE == 0 || writing(h) || !expired(expiry(h), now) {
                continue;
            }
            let Some(view) = slot.read() else { continue };
            if !expired(expiry(view.hot), now) {
                continue;
            }
            let loc = self.locate(&view.key);
            sink ^= self.bucket(loc.b1).touch() ^ self.bucket(loc.b2).touch();
            group[n] = Some(Expired { idx, view, loc });
            n += 1;
            if n == BATCH {
                std::hint::black_box(sink);
                removed += self.expire_group(&group[..n]);
                n = 0;
            }
        }
        std::hint::black_box(sink);
        removed += self.expire_group(&group[..n]);
        self.counters.add(Counter::Expired, removed as u64);
        removed
    }

    fn expire_group(&self, group: &[Option<Expired>]) -> usize {
        group.iter().flatten().filter(|e| self.expire(e)).count()
    }

    /// Frees one expired entry if its slot still holds the hot word the scan read.
    fn expire(&self, e: &Expired) -> bool {
        let loc = e.loc;
        self.lock_pair(loc);
        let mut at = None;
        for b in [loc.b1, loc.b2] {
            let bucket = self.bucket(b);
            if let Some(pos) =
                positions(bucket.matches(loc.tag)).find(|&p| bucket.index(p) as usize == e.idx)
            {
                at = Some((b, pos));
                break;
            }
        }
        let slot = &self.slots[e.idx];
        let done = match at {
            Some((b, pos)) if slot.kill_if(e.view.hot) => {
                self.bucket(b).clear(pos);
                true
            }
            _ => false,
        };
        self.unlock_pair(loc);
        if done {
            self.free.push(&self.slots, e.idx as u32);
        }
        done
    }
}
