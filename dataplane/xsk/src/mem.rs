//! Raw access to UMEM frame bytes, for the one token holder of each frame.
//!
//! Contract: [`FrameMem`] knows where every frame's packet data starts and how much room it has;
//! callers (`crate::io`) pass a [`crate::Frame`] they own (checked to belong to this UMEM), which
//! makes the returned slices exclusive: the kernel does not touch a frame in user space, and no
//! second token for it exists. [`FrameMem::lend`] hands out the buffers of many frames at once;
//! it checks that no index is lent twice in one call, so the slices it returns are disjoint
//! whatever the caller passes.
#![allow(unsafe_code)]

use std::{any::Any, marker::PhantomData, ptr::NonNull};

use crate::io::{PortId, Received};

/// Per-frame data pointers into a memory region kept alive by `_keep`.
pub(crate) struct FrameMem {
    ptrs: Vec<NonNull<u8>>,
    capacity: usize,
    /// `lent[i] == epoch`: frame `i` was lent by the current [`FrameMem::lend`] call.
    lent: Vec<u32>,
    epoch: u32,
    _keep: Box<dyn Any + Send>,
}

impl std::fmt::Debug for FrameMem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameMem")
            .field("frames", &self.ptrs.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

// SAFETY: the pointers target memory owned by `_keep` (which is `Send`); FrameMem hands out
// slices only through `&self`/`&mut self` methods whose callers prove frame ownership, so moving
// it to another thread moves the only access path with it.
unsafe impl Send for FrameMem {}

impl FrameMem {
    /// # Safety
    /// Every pointer must be valid for reads and writes of `capacity` bytes for as long as `keep`
    /// lives, and the ranges must not overlap.
    pub(crate) unsafe fn new(
        ptrs: Vec<NonNull<u8>>,
        capacity: usize,
        keep: Box<dyn Any + Send>,
    ) -> Self {
        let lent = vec![0; ptrs.len()];
        Self {
            ptrs,
            capacity,
            lent,
            epoch: 0,
            _keep: keep,
        }
    }

    /// A heap-backed region of `frames` frames of `capacity` bytes (for the in-memory backend).
    pub(crate) fn heap(frames: u32, capacity: usize) -> Self {
        let mut buf: Box<[u8]> = vec![0u8; frames as usize * capacity].into_boxed_slice();
        let base = buf.as_mut_ptr();
        let ptrs = (0..frames as usize)
            .map(|i| {
                // SAFETY: i * capacity < frames * capacity = buf.len(), so the offset stays inside
                // the allocation; the pointer is derived from the whole buffer.
                let p = unsafe { base.add(i * capacity) };
                NonNull::new(p).unwrap_or(NonNull::dangling())
            })
            .collect();
        // SAFETY: frame i covers [i*cap, (i+1)*cap) of `buf`, disjoint and in bounds; the boxed
        // slice's heap memory does not move when the Box moves into `keep`.
        unsafe { Self::new(ptrs, capacity, Box::new(buf)) }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The first `len` bytes of frame `idx`.
    ///
    /// The caller must hold the frame's token (shared borrow).
    pub(crate) fn bytes(&self, idx: u32, len: u32) -> &[u8] {
        let len = (len as usize).min(self.capacity);
        match self.ptrs.get(idx as usize) {
            // SAFETY: the pointer is valid for `capacity` >= len bytes (constructor contract);
            // the caller holds the frame's unique token, so the kernel is not writing it and no
            // `&mut` to it exists while this borrow of `self` (and of the token) lives.
            Some(p) => unsafe { std::slice::from_raw_parts(p.as_ptr(), len) },
            None => &[],
        }
    }

    /// The first `len` bytes of frame `idx`, writable.
    ///
    /// The caller must hold the frame's token mutably.
    pub(crate) fn bytes_mut(&mut self, idx: u32, len: u32) -> &mut [u8] {
        let len = (len as usize).min(self.capacity);
        match self.ptrs.get(idx as usize) {
            // SAFETY: as in `bytes`; `&mut self` and the caller's `&mut Frame` make this the only
            // live slice of the frame.
            Some(p) => unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) },
            None => &mut [],
        }
    }

    /// The whole buffers (`capacity` bytes each) of the frames of `frames`, in order, mutable
    /// at the same time.
    ///
    /// The caller has checked that every frame belongs to this UMEM. An index out of range, or
    /// one that appears twice (impossible while the pool hands out one token per frame), panics
    /// before any slice exists.
    pub(crate) fn lend<'a>(&'a mut self, frames: &'a mut [Received]) -> FrameBufs<'a> {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.lent.fill(0);
            self.epoch = 1;
        }
        for r in frames.iter() {
            let idx = r.frame.idx;
            match self.lent.get_mut(idx as usize) {
                Some(mark) if *mark != self.epoch => *mark = self.epoch,
                Some(_) => panic!("frame {idx} lent twice in one batch"),
                None => panic!("frame {idx} is not in this UMEM"),
            }
        }
        FrameBufs {
            ptrs: &self.ptrs,
            capacity: self.capacity,
            frames: frames.iter(),
            _mem: PhantomData,
        }
    }
}

/// One frame's whole buffer, lent for a batch (see [`crate::PacketIo::buffers_mut`]).
#[derive(Debug)]
pub struct FrameBuf<'a> {
    /// The port the frame arrived on.
    pub port: PortId,
    /// Length of the received packet: `buf[..len]`.
    pub len: usize,
    /// The frame's whole buffer: the packet, then free room (e.g. for a reply built in place).
    pub buf: &'a mut [u8],
}

/// The buffers of a batch of frames, in order: an iterator of [`FrameBuf`]s that may all be
/// alive at once.
///
/// While any buffer lives, the I/O and the frames stay borrowed. The valid sequence compiles:
///
/// ```
/// use palisade_xsk::{MemIo, PacketIo, PortId};
/// let mut io = MemIo::new(1, 1, 64, 16).unwrap();
/// assert!(io.inject(PortId(0), 0, b"x"));
/// let mut rx = Vec::new();
/// io.recv(&mut rx, 8).unwrap();
/// let mut bufs: Vec<_> = io.buffers_mut(&mut rx).collect();
/// bufs[0].buf[0] = b'y';
/// drop(bufs);
/// let frame = rx.pop().unwrap().frame;
/// assert_eq!(io.data(&frame), b"y");
/// io.release(frame);
/// ```
///
/// and each of these differs from it in one line:
///
/// ```compile_fail,E0499
/// use palisade_xsk::{MemIo, PacketIo, PortId};
/// let mut io = MemIo::new(1, 1, 64, 16).unwrap();
/// assert!(io.inject(PortId(0), 0, b"x"));
/// let mut rx = Vec::new();
/// io.recv(&mut rx, 8).unwrap();
/// let mut bufs: Vec<_> = io.buffers_mut(&mut rx).collect();
/// let other = io.alloc(); // error[E0499]: `io` is still lent out
/// bufs[0].buf[0] = b'y';
/// ```
///
/// ```compile_fail,E0499
/// use palisade_xsk::{MemIo, PacketIo, PortId};
/// let mut io = MemIo::new(1, 1, 64, 16).unwrap();
/// assert!(io.inject(PortId(0), 0, b"x"));
/// let mut rx = Vec::new();
/// io.recv(&mut rx, 8).unwrap();
/// let mut bufs: Vec<_> = io.buffers_mut(&mut rx).collect();
/// let frame = rx.pop(); // error[E0499]: the frames are lent out too (no release while written)
/// bufs[0].buf[0] = b'y';
/// ```
#[derive(Debug)]
#[must_use = "an iterator does nothing unless consumed"]
pub struct FrameBufs<'a> {
    ptrs: &'a [NonNull<u8>],
    capacity: usize,
    frames: std::slice::Iter<'a, Received>,
    /// The `FrameMem` stays mutably borrowed while any buffer lives.
    _mem: PhantomData<&'a mut FrameMem>,
}

impl<'a> Iterator for FrameBufs<'a> {
    type Item = FrameBuf<'a>;

    fn next(&mut self) -> Option<FrameBuf<'a>> {
        let r = self.frames.next()?;
        let len = (r.frame.len as usize).min(self.capacity);
        let buf: &'a mut [u8] = match self.ptrs.get(r.frame.idx as usize) {
            // SAFETY: the pointer is valid for `capacity` bytes for as long as the FrameMem lives
            // (constructor contract), which `'a` borrows mutably, so no other slice of any frame
            // can be made through it meanwhile. `lend` checked that every index of this batch is
            // distinct, and frames do not overlap, so the slices handed out are disjoint. The
            // frames are in user space (the caller holds their tokens, borrowed for `'a`): the
            // kernel neither reads nor writes them until they are sent or refilled, which needs
            // the tokens back.
            Some(p) => unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), self.capacity) },
            None => &mut [],
        };
        Some(FrameBuf {
            port: r.port,
            len,
            buf,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.frames.size_hint()
    }
}

impl ExactSizeIterator for FrameBufs<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Frame;

    fn received(idx: u32, len: u32) -> Received {
        Received {
            port: PortId(0),
            frame: Frame { idx, len, umem: 0 },
        }
    }

    #[test]
    fn lent_buffers_are_whole_disjoint_frames() {
        let mut m = FrameMem::heap(4, 16);
        let mut batch = vec![received(2, 5), received(0, 16), received(3, 0)];
        {
            let mut bufs: Vec<FrameBuf<'_>> = m.lend(&mut batch).collect();
            assert_eq!(
                bufs.iter()
                    .map(|b| (b.len, b.buf.len()))
                    .collect::<Vec<_>>(),
                vec![(5, 16), (16, 16), (0, 16)]
            );
            // All alive at once, each writable.
            for (i, b) in bufs.iter_mut().enumerate() {
                b.buf.fill(i as u8 + 1);
            }
        }
        assert_eq!(m.bytes(2, 16), &[1; 16]);
        assert_eq!(m.bytes(0, 16), &[2; 16]);
        assert_eq!(m.bytes(3, 16), &[3; 16]);
        assert_eq!(
            m.bytes(1, 16),
            &[0; 16],
            "a frame not in the batch is untouched"
        );
        // The next batch may lend the same frames again.
        assert_eq!(m.lend(&mut batch).count(), 3);
    }

    #[test]
    #[should_panic(expected = "lent twice")]
    fn a_frame_twice_in_one_batch_panics_before_any_slice_exists() {
        let mut m = FrameMem::heap(4, 16);
        let mut batch = vec![received(1, 4), received(1, 4)];
        let _ = m.lend(&mut batch).count();
    }

    #[test]
    #[should_panic(expected = "not in this UMEM")]
    fn an_index_out_of_range_panics() {
        let mut m = FrameMem::heap(4, 16);
        let mut batch = vec![received(9, 4)];
        let _ = m.lend(&mut batch).count();
    }

    #[test]
    fn epochs_wrap_without_false_duplicates() {
        let mut m = FrameMem::heap(2, 8);
        m.epoch = u32::MAX - 1;
        let mut batch = vec![received(0, 1), received(1, 1)];
        for _ in 0..4 {
            assert_eq!(m.lend(&mut batch).count(), 2);
        }
    }

    #[test]
    fn heap_frames_are_disjoint_and_bounded() {
        let mut m = FrameMem::heap(3, 16);
        m.bytes_mut(0, 16).fill(1);
        m.bytes_mut(1, 16).fill(2);
        m.bytes_mut(2, 100).fill(3);
        assert_eq!(m.bytes(0, 16), &[1; 16]);
        assert_eq!(m.bytes(1, 16), &[2; 16]);
        assert_eq!(m.bytes(2, 64).len(), 16, "clamped to capacity");
        assert!(m.bytes(3, 4).is_empty(), "out of range index");
    }
}
