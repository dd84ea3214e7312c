//! Entry storage: a dense array of 56-byte slots, each a small seqlock, and the free list.
//!
//! Contract: a slot is seven atomic words `[hot, policy, meta, a_lo, b_lo, a_hi, b_hi]`. The
//! hot word carries expiry, state, flags and a 24-bit sequence: odd while a writer rewrites the
//! key or policy words, bumped by every rewrite and every free, so a reader that saw the same
//! even sequence before and after reading saw one consistent entry. Expiry and state change
//! by compare-and-swap on the hot word alone, never under the sequence.

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};

use super::key::CtKey;
use super::stats::my_stripe;

pub(crate) const HOT: usize = 0;
pub(crate) const POLICY: usize = 1;
const META: usize = 2;
const A_LO: usize = 3;
const B_LO: usize = 4;
const A_HI: usize = 5;
const B_HI: usize = 6;

// Hot word layout.
const EXPIRY_MASK: u64 = 0xFFFF_FFFF;
const STATE_SHIFT: u32 = 32;
const STATE_MASK: u64 = 0xF << STATE_SHIFT;
pub(crate) const REPLIED: u64 = 1 << 36;
pub(crate) const LIVE: u64 = 1 << 37;
pub(crate) const ALLOW: u64 = 1 << 38;
const SEQ_SHIFT: u32 = 40;
pub(crate) const SEQ_ONE: u64 = 1 << SEQ_SHIFT;

#[inline]
pub(crate) fn expiry(hot: u64) -> u32 {
    (hot & EXPIRY_MASK) as u32
}
#[inline]
pub(crate) fn state(hot: u64) -> u8 {
    ((hot & STATE_MASK) >> STATE_SHIFT) as u8
}
#[inline]
pub(crate) fn seq(hot: u64) -> u64 {
    hot >> SEQ_SHIFT
}
#[inline]
pub(crate) fn writing(hot: u64) -> bool {
    seq(hot) & 1 == 1
}
#[inline]
pub(crate) fn with_state_expiry(hot: u64, code: u8, exp: u32) -> u64 {
    (hot & !(EXPIRY_MASK | STATE_MASK)) | (u64::from(code) << STATE_SHIFT) | u64::from(exp)
}
/// True when `now` is past `exp` (ticks compared with wrap-around).
#[inline]
pub(crate) fn expired(exp: u32, now: u32) -> bool {
    (now.wrapping_sub(exp) as i32) > 0
}
/// `a` later than `b` with wrap-around.
#[inline]
pub(crate) fn later(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// A consistent read of a live slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct View {
    pub hot: u64,
    pub policy: u64,
    pub key: CtKey,
}

#[derive(Debug, Default)]
pub(crate) struct Slot {
    w: [AtomicU64; 7],
}

impl Slot {
    #[inline]
    pub fn hot(&self) -> &AtomicU64 {
        &self.w[HOT]
    }

    /// Pulls the words an IPv4 lookup needs into the cache (a safe stand-in for a prefetch).
    #[inline]
    pub fn touch(&self) -> u64 {
        self.w[HOT].load(Ordering::Relaxed) ^ self.w[B_LO].load(Ordering::Relaxed)
    }

    /// Reads the slot; `None` if it is free. Spins only while a revalidation rewrites it.
    #[inline]
    pub fn read(&self) -> Option<View> {
        loop {
            let h1 = self.w[HOT].load(Ordering::Acquire);
            if h1 & LIVE == 0 {
                return None;
            }
            if writing(h1) {
                spin_loop();
                continue;
            }
            let meta = self.w[META].load(Ordering::Relaxed);
            let mut key = CtKey {
                meta,
                a_lo: self.w[A_LO].load(Ordering::Relaxed),
                b_lo: self.w[B_LO].load(Ordering::Relaxed),
                a_hi: 0,
                b_hi: 0,
            };
            if key.is_v6() {
                key.a_hi = self.w[A_HI].load(Ordering::Relaxed);
                key.b_hi = self.w[B_HI].load(Ordering::Relaxed);
            }
            let policy = self.w[POLICY].load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            let h2 = self.w[HOT].load(Ordering::Relaxed);
            if seq(h1) == seq(h2) {
                return Some(View {
                    hot: h2,
                    policy,
                    key,
                });
            }
        }
    }

    /// Whether this slot holds `key`'s connection, for a caller holding the lock of a bucket
    /// that indexes the slot: then its key words cannot change (a slot is rewritten only
    /// while no bucket indexes it), so no sequence check is needed.
    #[inline]
    pub fn holds_locked(&self, key: &CtKey) -> bool {
        let meta = self.w[META].load(Ordering::Relaxed);
        (meta ^ key.meta) & super::key::META_KEY_MASK == 0
            && self.w[A_LO].load(Ordering::Relaxed) == key.a_lo
            && self.w[B_LO].load(Ordering::Relaxed) == key.b_lo
            && (!key.is_v6()
                || (self.w[A_HI].load(Ordering::Relaxed) == key.a_hi
                    && self.w[B_HI].load(Ordering::Relaxed) == key.b_hi))
    }

    /// Writes a new entry into a slot this thread owns (popped from the free list or killed
    /// under the bucket lock). Readers holding a stale index see a sequence change.
    pub fn init(&self, key: &CtKey, policy: u64, flags_state_expiry: u64) {
        let h = self.w[HOT].load(Ordering::Relaxed);
        debug_assert!(h & LIVE == 0 && !writing(h));
        self.w[HOT].store((h & !LIVE).wrapping_add(SEQ_ONE), Ordering::Relaxed);
        fence(Ordering::Release);
        self.w[META].store(key.meta, Ordering::Relaxed);
        self.w[A_LO].store(key.a_lo, Ordering::Relaxed);
        self.w[B_LO].store(key.b_lo, Ordering::Relaxed);
        self.w[A_HI].store(key.a_hi, Ordering::Relaxed);
        self.w[B_HI].store(key.b_hi, Ordering::Relaxed);
        self.w[POLICY].store(policy, Ordering::Relaxed);
        let seq_bits = (h.wrapping_add(2 * SEQ_ONE)) & !((1 << SEQ_SHIFT) - 1);
        self.w[HOT].store(seq_bits | LIVE | flags_state_expiry, Ordering::Release);
    }

    /// Frees a live slot whose hot word is `expect`; fails if it changed meanwhile.
    pub fn kill_if(&self, expect: u64) -> bool {
        debug_assert!(expect & LIVE != 0 && !writing(expect));
        let dead = (expect & !LIVE).wrapping_add(2 * SEQ_ONE);
        self.w[HOT]
            .compare_exchange(expect, dead, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Frees a live slot unconditionally; returns the hot word it had.
    pub fn kill(&self) -> u64 {
        loop {
            let h = self.w[HOT].load(Ordering::Relaxed);
            if h & LIVE == 0 {
                return h;
            }
            if !writing(h) && self.kill_if(h) {
                return h;
            }
            spin_loop();
        }
    }

    /// Rewrites the policy word under the sequence (revalidation). `accept` sees the current
    /// policy word and says whether to proceed. Returns false if the slot is no longer the
    /// entry whose hot word had sequence `seq_expect`, or `accept` declined.
    pub fn rewrite_policy(
        &self,
        seq_expect: u64,
        policy: u64,
        allow: bool,
        accept: impl Fn(u64) -> bool,
    ) -> bool {
        loop {
            let h = self.w[HOT].load(Ordering::Relaxed);
            if h & LIVE == 0 || seq(h) != seq_expect {
                return false;
            }
            let odd = h.wrapping_add(SEQ_ONE);
            if self.w[HOT]
                .compare_exchange_weak(h, odd, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                spin_loop();
                continue;
            }
            fence(Ordering::Release);
            let ok = accept(self.w[POLICY].load(Ordering::Relaxed));
            if ok {
                self.w[POLICY].store(policy, Ordering::Relaxed);
            }
            // Close the sequence, keeping whatever expiry/state updates raced with us.
            let mut cur = self.w[HOT].load(Ordering::Relaxed);
            loop {
                let mut next = cur.wrapping_add(SEQ_ONE);
                if ok {
                    next = if allow { next | ALLOW } else { next & !ALLOW };
                }
                match self.w[HOT].compare_exchange_weak(
                    cur,
                    next,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return ok,
                    Err(now) => cur = now,
                }
            }
        }
    }

    fn next_free(&self) -> &AtomicU64 {
        &self.w[A_LO]
    }
}

/// Never-used slots are handed out by a bump counter; freed ones go on one of `STRIPES`
/// Treiber stacks whose heads carry an ABA counter in their high half.
#[derive(Debug)]
pub(crate) struct FreeList {
    fresh: AtomicUsize,
    heads: Box<[Padded]>,
}

#[repr(align(64))]
#[derive(Debug, Default)]
struct Padded(AtomicU64);

const STRIPES: usize = 8;
const EMPTY: u64 = 0xFFFF_FFFF;

impl FreeList {
    pub fn new() -> Self {
        Self {
            fresh: AtomicUsize::new(0),
            heads: (0..STRIPES)
                .map(|_| Padded(AtomicU64::new(EMPTY)))
                .collect(),
        }
    }

    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Self>() + STRIPES * std::mem::size_of::<Padded>()
    }

    /// Pushes a freed slot on the calling thread's stripe, so its next pop reuses a slot
    /// that is still in its cache.
    pub fn push(&self, slots: &[Slot], idx: u32) {
        let head = &self.heads[my_stripe() % STRIPES].0;
        let mut h = head.load(Ordering::Relaxed);
        loop {
            slots[idx as usize]
                .next_free()
                .store(h & EMPTY, Ordering::Relaxed);
            let new = u64::from(idx) | ((h >> 32).wrapping_add(1) << 32);
            match head.compare_exchange_weak(h, new, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(cur) => h = cur,
            }
        }
    }

    pub fn pop(&self, slots: &[Slot]) -> Option<u32> {
        let hint = my_stripe();
        if self.fresh.load(Ordering::Relaxed) < slots.len() {
            let i = self.fresh.fetch_add(1, Ordering::Relaxed);
            if i < slots.len() {
                return Some(i as u32);
            }
        }
        for s in 0..STRIPES {
            let head = &self.heads[(hint + s) % STRIPES].0;
            let mut h = head.load(Ordering::Acquire);
            while h & EMPTY != EMPTY {
                let idx = h & EMPTY;
                let next = slots[idx as usize].next_free().load(Ordering::Relaxed) & EMPTY;
                let new = next | ((h >> 32).wrapping_add(1) << 32);
                match head.compare_exchange_weak(h, new, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Some(idx as u32),
                    Err(cur) => h = cur,
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_read_kill() {
        let s = Slot::default();
        assert!(s.read().is_none());
        let key = CtKey {
            meta: 6 << 32,
            a_lo: 1,
            b_lo: 2,
            ..CtKey::default()
        };
        s.init(&key, 42, with_state_expiry(0, 3, 1000));
        let v = s.read().unwrap();
        assert_eq!(
            (v.key, v.policy, state(v.hot), expiry(v.hot)),
            (key, 42, 3, 1000)
        );
        assert!(!writing(v.hot));
        assert!(s.rewrite_policy(seq(v.hot), 43, true, |old| old == 42));
        let w = s.read().unwrap();
        assert_eq!((w.policy, w.hot & ALLOW != 0), (43, true));
        assert!(
            !s.rewrite_policy(seq(v.hot), 44, true, |_| true),
            "stale sequence"
        );
        assert!(!s.kill_if(v.hot));
        assert!(s.kill_if(w.hot));
        assert!(s.read().is_none());
        s.init(&key, 1, 0);
        assert!(seq(s.read().unwrap().hot) > seq(w.hot));
    }

    #[test]
    fn free_list_hands_out_each_slot_once() {
        let slots: Vec<Slot> = (0..5).map(|_| Slot::default()).collect();
        let f = FreeList::new();
        let mut got: Vec<u32> = std::iter::from_fn(|| f.pop(&slots)).collect();
        assert_eq!(got, [0, 1, 2, 3, 4]);
        for idx in got.drain(..) {
            f.push(&slots, idx);
        }
        let mut again: Vec<u32> = std::iter::from_fn(|| f.pop(&slots)).collect();
        again.sort_unstable();
        assert_eq!(again, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn wrap_around_time() {
        assert!(expired(5, 6));
        assert!(!expired(5, 5));
        assert!(expired(u32::MAX, 2));
        assert!(!expired(3, u32::MAX));
        assert!(later(1, u32::MAX));
    }
}
