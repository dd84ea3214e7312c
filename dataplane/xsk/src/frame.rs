//! Frame ownership: the [`Frame`] token and the [`Pool`] that tracks where every frame is.
//!
//! Contract: a UMEM frame is in exactly one place at a time — the free list, user space (one
//! [`Frame`] token exists), a socket's fill ring, or a socket's TX ring (until its completion).
//! `Frame` is neither `Copy` nor `Clone` and only the pool makes one, so safe code cannot submit a
//! frame twice; descriptors coming back from the kernel are checked against the state table and
//! impossible ones (unknown index, wrong socket, already completed) are rejected and counted
//! instead of becoming a second token.

use std::sync::atomic::{AtomicU32, Ordering};

/// Identifies the UMEM a frame belongs to, so a frame cannot be used with another one.
static NEXT_UMEM: AtomicU32 = AtomicU32::new(1);

pub(crate) fn new_umem_id() -> u32 {
    NEXT_UMEM.fetch_add(1, Ordering::Relaxed)
}

/// An owned UMEM frame holding a packet: the only handle to its bytes.
///
/// It moves fill -> rx -> (user) -> tx -> completion -> free and cannot be duplicated. The
/// valid sequence compiles:
///
/// ```
/// use palisade_xsk::{MemIo, PacketIo, PortId};
/// let mut io = MemIo::new(2, 1, 64, 16).unwrap();
/// let frame = io.alloc().unwrap();
/// let mut batch = vec![frame];
/// io.send(PortId(0), &mut batch).unwrap();
/// ```
///
/// and each of the following differs from it in one line only (the error codes are not checked
/// on stable Rust, which is why the valid twin above exists):
///
/// ```compile_fail,E0382
/// use palisade_xsk::{MemIo, PacketIo, PortId};
/// let mut io = MemIo::new(2, 1, 64, 16).unwrap();
/// let frame = io.alloc().unwrap();
/// let mut batch = vec![frame];
/// io.send(PortId(0), &mut batch).unwrap();
/// io.release(frame); // error[E0382]: use of moved value: `frame`
/// ```
///
/// ```compile_fail,E0599
/// use palisade_xsk::{MemIo, PacketIo};
/// let mut io = MemIo::new(2, 1, 64, 16).unwrap();
/// let frame = io.alloc().unwrap();
/// let twin = frame.clone(); // error[E0599]: no method named `clone`
/// ```
#[derive(Debug, PartialEq, Eq)]
#[must_use = "a dropped Frame leaks its UMEM buffer; return it with PacketIo::release or send it"]
pub struct Frame {
    pub(crate) idx: u32,
    pub(crate) len: u32,
    pub(crate) umem: u32,
}

impl Frame {
    /// Length of the packet in bytes.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the packet is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Index of the frame in its UMEM (for statistics and debugging).
    pub fn index(&self) -> u32 {
        self.idx
    }
}

/// Where a frame is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Free,
    User,
    Fill(u16),
    Tx(u16),
}

/// A descriptor the kernel (or the fake) returned that does not match the state table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Anomaly;

/// The frames of one UMEM and their states.
#[derive(Debug)]
pub(crate) struct Pool {
    umem: u32,
    free: Vec<u32>,
    state: Vec<State>,
}

impl Pool {
    pub(crate) fn new(umem: u32, frames: u32) -> Self {
        Self {
            umem,
            // Pop from the end: hand out low indexes first.
            free: (0..frames).rev().collect(),
            state: vec![State::Free; frames as usize],
        }
    }

    pub(crate) fn umem(&self) -> u32 {
        self.umem
    }

    pub(crate) fn free_count(&self) -> usize {
        self.free.len()
    }

    pub(crate) fn frames(&self) -> usize {
        self.state.len()
    }

    #[cfg(test)]
    pub(crate) fn count(&self, want: State) -> usize {
        self.state.iter().filter(|s| **s == want).count()
    }

    /// Takes a free frame into user space.
    pub(crate) fn alloc(&mut self) -> Option<Frame> {
        let idx = self.free.pop()?;
        self.state[idx as usize] = State::User;
        Some(Frame {
            idx,
            len: 0,
            umem: self.umem,
        })
    }

    /// Whether `frame` belongs to this pool.
    pub(crate) fn owns(&self, frame: &Frame) -> bool {
        frame.umem == self.umem
    }

    /// Returns a user frame to the free list; a foreign frame is handed back.
    pub(crate) fn release(&mut self, frame: Frame) -> Result<(), Frame> {
        if !self.owns(&frame) {
            return Err(frame);
        }
        self.state[frame.idx as usize] = State::Free;
        self.free.push(frame.idx);
        Ok(())
    }

    /// Moves up to `n` free frames to socket `sock`'s fill ring, appending their indexes to `out`.
    pub(crate) fn take_for_fill(&mut self, sock: u16, n: usize, out: &mut Vec<u32>) {
        for _ in 0..n {
            let Some(idx) = self.free.pop() else { break };
            self.state[idx as usize] = State::Fill(sock);
            out.push(idx);
        }
    }

    /// Undoes [`Pool::take_for_fill`] for frames the ring did not accept.
    pub(crate) fn untake_fill(&mut self, idx: u32) {
        self.state[idx as usize] = State::Free;
        self.free.push(idx);
    }

    /// A frame received on socket `sock`: it must have been in that socket's fill ring.
    pub(crate) fn received(&mut self, sock: u16, idx: u32, len: u32) -> Result<Frame, Anomaly> {
        match self.state.get_mut(idx as usize) {
            Some(s) if *s == State::Fill(sock) => {
                *s = State::User;
                Ok(Frame {
                    idx,
                    len,
                    umem: self.umem,
                })
            }
            _ => Err(Anomaly),
        }
    }

    /// A user frame goes to socket `sock`'s TX ring; the token is consumed.
    pub(crate) fn submit_tx(&mut self, sock: u16, frame: Frame) -> (u32, u32) {
        self.state[frame.idx as usize] = State::Tx(sock);
        (frame.idx, frame.len)
    }

    /// Undoes [`Pool::submit_tx`] for a frame the ring did not accept: the token is recreated.
    pub(crate) fn unsubmit_tx(&mut self, idx: u32, len: u32) -> Frame {
        self.state[idx as usize] = State::User;
        Frame {
            idx,
            len,
            umem: self.umem,
        }
    }

    /// A completion on socket `sock`: the frame must have been in that socket's TX ring.
    pub(crate) fn completed(&mut self, sock: u16, idx: u32) -> Result<(), Anomaly> {
        match self.state.get_mut(idx as usize) {
            Some(s) if *s == State::Tx(sock) => {
                *s = State::Free;
                self.free.push(idx);
                Ok(())
            }
            _ => Err(Anomaly),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_move_through_states_once() {
        let mut p = Pool::new(9, 4);
        let mut fill = Vec::new();
        p.take_for_fill(0, 3, &mut fill);
        assert_eq!(fill, vec![0, 1, 2]);
        assert_eq!(p.free_count(), 1);
        let f = p.received(0, 1, 60).expect("was in fill ring 0");
        assert_eq!((f.idx, f.len()), (1, 60));
        // The same descriptor twice is an anomaly, not a second token.
        assert_eq!(p.received(0, 1, 60), Err(Anomaly));
        // Wrong socket, unknown index.
        assert_eq!(p.received(1, 2, 60), Err(Anomaly));
        assert_eq!(p.received(0, 99, 60), Err(Anomaly));
        let (idx, len) = p.submit_tx(0, f);
        assert_eq!((idx, len), (1, 60));
        assert_eq!(
            p.completed(1, 1),
            Err(Anomaly),
            "completion on another socket"
        );
        assert_eq!(p.completed(0, 1), Ok(()));
        assert_eq!(p.completed(0, 1), Err(Anomaly), "double completion");
        assert_eq!(p.count(State::Free), 2);
        assert_eq!(p.count(State::Fill(0)), 2);
    }

    #[test]
    fn foreign_frames_are_rejected() {
        let mut a = Pool::new(1, 2);
        let mut b = Pool::new(2, 2);
        let f = a.alloc().expect("free frame");
        let f = b.release(f).expect_err("foreign");
        assert!(a.release(f).is_ok());
        assert_eq!(a.free_count(), 2);
        assert_eq!(b.free_count(), 2);
    }

    #[test]
    fn alloc_exhausts_and_untake_restores() {
        let mut p = Pool::new(1, 2);
        let a = p.alloc().expect("1");
        let b = p.alloc().expect("2");
        assert!(p.alloc().is_none());
        let (idx, len) = p.submit_tx(0, a);
        let a = p.unsubmit_tx(idx, len);
        assert_eq!(p.count(State::User), 2);
        assert!(p.release(a).is_ok());
        assert!(p.release(b).is_ok());
        let mut fill = Vec::new();
        p.take_for_fill(3, 5, &mut fill);
        assert_eq!(fill.len(), 2);
        p.untake_fill(fill[0]);
        assert_eq!(p.free_count(), 1);
    }
}
