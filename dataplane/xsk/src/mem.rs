//! Raw access to UMEM frame bytes, for the one token holder of each frame.
//!
//! Contract: [`FrameMem`] knows where every frame's packet data starts and how much room it has;
//! callers (`crate::io`) pass a [`crate::Frame`] they own (checked to belong to this UMEM), which
//! makes the returned slices exclusive: the kernel does not touch a frame in user space, and no
//! second token for it exists.
#![allow(unsafe_code)]

use std::{any::Any, ptr::NonNull};

/// Per-frame data pointers into a memory region kept alive by `_keep`.
pub(crate) struct FrameMem {
    ptrs: Vec<NonNull<u8>>,
    capacity: usize,
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
        Self {
            ptrs,
            capacity,
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
