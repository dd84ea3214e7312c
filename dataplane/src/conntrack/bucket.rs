//! The index: cache-line buckets of ten (16-bit tag, 32-bit slot index) pairs.
//!
//! Contract: a bucket is one 64-byte line. Word 0 holds a 32-bit version (odd while a writer
//! holds the bucket) and tags 8 and 9; words 1-2 hold tags 0-7; words 3-7 hold the slot
//! indexes. Tag 0 marks a free position. Only the lock holder writes a bucket; readers validate
//! a miss with the version (`read_version` before, `version_unchanged` after).

use std::hint::spin_loop;
use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) const WAYS: usize = 10;
const VERSION_MASK: u64 = 0xFFFF_FFFF;
const LANES: u64 = 0x0001_0001_0001_0001;
const HIGH: u64 = 0x8000_8000_8000_8000;
const LOW15: u64 = 0x7FFF_7FFF_7FFF_7FFF;

#[repr(align(64))]
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    w: [AtomicU64; 8],
}

/// Where a key lives: two candidate buckets and its tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Loc {
    pub b1: u32,
    pub b2: u32,
    pub tag: u16,
}

/// Maps `x` (uniform in u32) onto `0..n` without division.
#[inline]
fn fastrange(x: u32, n: u32) -> u32 {
    ((u64::from(x) * u64::from(n)) >> 32) as u32
}

/// The alternative bucket of an entry with `tag` in bucket `b`. An involution:
/// `alt(alt(b, t), t) == b`, so a stored entry's other bucket needs only its tag.
#[inline]
pub(crate) fn alt(b: u32, tag: u16, n: u32) -> u32 {
    let c = fastrange((u32::from(tag)).wrapping_mul(0x9E37_79B1), n);
    let s = u64::from(c) + u64::from(n) - u64::from(b);
    (if s >= u64::from(n) {
        s - u64::from(n)
    } else {
        s
    }) as u32
}

#[inline]
pub(crate) fn locate(hash: u64, n: u32) -> Loc {
    let t = hash as u16;
    let tag = if t == 0 { 1 } else { t };
    let b1 = fastrange((hash >> 32) as u32, n);
    Loc {
        b1,
        b2: alt(b1, tag, n),
        tag,
    }
}

/// Bit mask (bit i = position i) of u16 lanes of `word` equal to `tag`, lanes shifted by `base`.
/// Exact: bit 15 of a lane is set iff the lane is zero (no carry crosses lanes).
#[inline]
fn lanes_equal(word: u64, tag: u16, base: u32) -> u32 {
    let y = word ^ (u64::from(tag) * LANES);
    gather(!(((y & LOW15) + LOW15) | y) & HIGH, base)
}

/// Like `lanes_equal`, one operation cheaper, but a lane just above an equal lane may be
/// reported too (a borrow crosses into it). For candidates that are verified anyway.
#[inline]
fn lanes_maybe_equal(word: u64, tag: u16, base: u32) -> u32 {
    let y = word ^ (u64::from(tag) * LANES);
    gather(y.wrapping_sub(LANES) & !y & HIGH, base)
}

/// Gathers bits 15, 31, 47, 63 into bits `base..base + 4` with one multiply (the partial
/// products land on distinct bits, so nothing carries).
#[inline]
fn gather(high: u64, base: u32) -> u32 {
    ((((high >> 15).wrapping_mul(0x2000_4000_8001) >> 45) & 0xF) as u32) << base
}

impl Bucket {
    /// Positions whose tag equals `tag` (tag 0: free positions), from word values `w0..w2`.
    #[inline]
    pub fn matches_in(w0: u64, w1: u64, w2: u64, tag: u16) -> u32 {
        let m01 = lanes_equal(w1, tag, 0) | lanes_equal(w2, tag, 4);
        // In word 0 only lanes 2 and 3 are tags (8 and 9); lanes 0 and 1 are the version.
        let m2 = lanes_equal(w0, tag, 0) >> 2;
        m01 | (m2 << 8)
    }

    /// Loads the three tag words (word 0 with acquire: it carries the version).
    #[inline]
    pub fn tag_words(&self) -> (u64, u64, u64) {
        (
            self.w[0].load(Ordering::Acquire),
            self.w[1].load(Ordering::Relaxed),
            self.w[2].load(Ordering::Relaxed),
        )
    }

    /// Positions whose tag equals `tag`.
    #[inline]
    pub fn matches(&self, tag: u16) -> u32 {
        let (w0, w1, w2) = self.tag_words();
        Self::matches_in(w0, w1, w2, tag)
    }

    /// Positions whose tag equals `tag`, and perhaps a few others (callers verify each one).
    /// `tag` must not be 0.
    #[inline]
    pub fn candidates(&self, tag: u16) -> u32 {
        let w0 = self.w[0].load(Ordering::Relaxed);
        let w1 = self.w[1].load(Ordering::Relaxed);
        let w2 = self.w[2].load(Ordering::Relaxed);
        // Word 0's low lanes are the version: shift them out so no borrow comes from them.
        lanes_maybe_equal(w1, tag, 0)
            | lanes_maybe_equal(w2, tag, 4)
            | (lanes_maybe_equal(w0 >> 32, tag, 0) & 0x3) << 8
    }

    /// Whether some position is free: `free_positions() != 0`, without gathering the mask
    /// (the cuckoo path search asks this of up to 200 buckets per insert).
    #[inline]
    pub fn has_free(&self) -> bool {
        let (w0, w1, w2) = self.tag_words();
        // A zero lane sets its high bit (a borrow may also set the bits of lanes above it,
        // which does not change the answer). Word 0's version lanes are replaced by ones.
        let zero = |y: u64| y.wrapping_sub(LANES) & !y & HIGH;
        zero(w1) | zero(w2) | zero((w0 >> 32) | 0x0001_0001 << 32) != 0
    }

    /// Free positions.
    #[inline]
    pub fn free_positions(&self) -> u32 {
        self.matches(0)
    }

    #[inline]
    pub fn tag(&self, pos: usize) -> u16 {
        let (word, lane) = tag_place(pos);
        (self.w[word].load(Ordering::Relaxed) >> (lane * 16)) as u16
    }

    #[inline]
    pub fn index(&self, pos: usize) -> u32 {
        (self.w[3 + pos / 2].load(Ordering::Relaxed) >> ((pos % 2) * 32)) as u32
    }

    /// A plain load of word 0, used to pull the line into the cache ahead of a probe.
    #[inline]
    pub fn touch(&self) -> u64 {
        self.w[0].load(Ordering::Relaxed)
    }

    /// The version, read before a probe whose miss must be validated.
    #[inline]
    pub fn read_version(&self) -> u32 {
        self.w[0].load(Ordering::Acquire) as u32
    }

    /// After a probe (the caller issued an acquire fence): was the bucket stable throughout?
    #[inline]
    pub fn version_unchanged(&self, before: u32) -> bool {
        before & 1 == 0 && self.w[0].load(Ordering::Relaxed) as u32 == before
    }

    /// Spins until this thread holds the bucket (yielding if the holder seems descheduled).
    #[inline]
    pub fn lock(&self) {
        if !self.try_lock() {
            self.lock_contended();
        }
    }

    #[cold]
    #[inline(never)]
    fn lock_contended(&self) {
        let mut spins = 0u32;
        while !self.try_lock() {
            spins += 1;
            if spins.is_multiple_of(128) {
                std::thread::yield_now();
            } else {
                spin_loop();
            }
        }
    }

    /// Takes the bucket if no writer holds it.
    #[inline]
    pub fn try_lock(&self) -> bool {
        let w = self.w[0].load(Ordering::Relaxed);
        if w & 1 != 0 {
            return false;
        }
        // The version is even, so adding one cannot carry into the tags.
        let locked = w + 1;
        let ok = self.w[0]
            .compare_exchange_weak(w, locked, Ordering::Acquire, Ordering::Relaxed)
            .is_ok();
        if ok {
            // Seqlock writer: no store below may become visible before the odd version.
            std::sync::atomic::fence(Ordering::Release);
        }
        ok
    }

    /// Releases the bucket: the version becomes even again, one higher.
    #[inline]
    pub fn unlock(&self) {
        let w = self.w[0].load(Ordering::Relaxed);
        debug_assert!(w & 1 == 1, "unlock of an unlocked bucket");
        let v = (w & !VERSION_MASK) | u64::from((w as u32).wrapping_add(1));
        self.w[0].store(v, Ordering::Release);
    }

    /// Writes position `pos` (lock held). The index goes first; a non-zero tag publishes it.
    pub fn set(&self, pos: usize, tag: u16, index: u32) {
        let iw = &self.w[3 + pos / 2];
        let shift = (pos % 2) * 32;
        let old = iw.load(Ordering::Relaxed);
        iw.store(
            (old & !(0xFFFF_FFFF << shift)) | (u64::from(index) << shift),
            Ordering::Relaxed,
        );
        self.set_tag(pos, tag);
    }

    /// Frees position `pos` (lock held).
    pub fn clear(&self, pos: usize) {
        self.set_tag(pos, 0);
    }

    fn set_tag(&self, pos: usize, tag: u16) {
        let (word, lane) = tag_place(pos);
        let shift = lane * 16;
        let old = self.w[word].load(Ordering::Relaxed);
        self.w[word].store(
            (old & !(0xFFFF << shift)) | (u64::from(tag) << shift),
            Ordering::Relaxed,
        );
    }
}

/// (word, lane) of the tag of position `pos`.
#[inline]
fn tag_place(pos: usize) -> (usize, usize) {
    match pos {
        0..=3 => (1, pos),
        4..=7 => (2, pos - 4),
        _ => (0, pos - 6),
    }
}

/// Iterates the set bits of a position mask.
#[inline]
pub(crate) fn positions(mut mask: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let p = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            p
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_indexes_round_trip() {
        let b = Bucket::default();
        assert_eq!(b.free_positions(), (1 << WAYS) - 1);
        b.lock();
        for pos in 0..WAYS {
            b.set(pos, 0xA000 + pos as u16, 1000 + pos as u32);
        }
        b.unlock();
        for pos in 0..WAYS {
            assert_eq!(b.tag(pos), 0xA000 + pos as u16);
            assert_eq!(b.index(pos), 1000 + pos as u32);
            assert_eq!(b.matches(0xA000 + pos as u16), 1 << pos);
        }
        assert_eq!(b.free_positions(), 0);
        assert!(!b.has_free());
        b.lock();
        b.clear(9);
        b.set(3, 0xA009, 7);
        b.unlock();
        assert_eq!(b.free_positions(), 1 << 9);
        assert!(b.has_free());
        assert_eq!(b.matches(0xA009), 1 << 3);
        assert_eq!(positions(0b1010_0001).collect::<Vec<_>>(), [0, 5, 7]);
        for pos in 0..WAYS {
            let t = b.tag(pos);
            if t != 0 {
                assert_ne!(b.candidates(t) & (1 << pos), 0);
            }
        }
    }

    #[test]
    fn has_free_agrees_with_free_positions() {
        // Every single free position, in a bucket whose version has every bit pattern nearby.
        for version in [0u64, 0xFFFF_FFFE, 0x0001_0000] {
            for free in 0..=WAYS {
                let b = Bucket::default();
                b.w[0].store(version, Ordering::Relaxed);
                b.lock();
                for pos in (0..WAYS).filter(|&p| p != free) {
                    b.set(pos, 0x0001 + pos as u16 * 0x1111, pos as u32);
                }
                b.unlock();
                assert_eq!(b.has_free(), b.free_positions() != 0, "free {free}");
                assert_eq!(b.has_free(), free < WAYS);
            }
        }
    }

    #[test]
    fn version_tracks_writers() {
        let b = Bucket::default();
        let v = b.read_version();
        assert!(b.version_unchanged(v));
        assert!(b.try_lock());
        assert!(!b.try_lock());
        assert!(!b.version_unchanged(b.read_version()));
        b.unlock();
        assert!(!b.version_unchanged(v));
        assert_eq!(b.read_version(), v + 2);
        // The version wraps without touching tags 8 and 9.
        b.w[0].store(0xBEEF_0000_FFFF_FFFE, Ordering::Relaxed);
        b.lock();
        b.unlock();
        assert_eq!(b.w[0].load(Ordering::Relaxed), 0xBEEF_0000_0000_0000);
    }

    #[test]
    fn alt_is_an_involution() {
        for n in [1u32, 2, 3, 10, 11_113, 1 << 20] {
            for (b, t) in [(0u32, 1u16), (n - 1, 0xFFFF), (n / 2, 0x1234)] {
                let a = alt(b, t, n);
                assert!(a < n);
                assert_eq!(alt(a, t, n), b);
            }
        }
    }
}
