//! The four rings of one AF_XDP socket, as a trait: the chokepoint for every ring operation and
//! socket syscall, implemented by xsk-rs (`crate::xsk`) and by an in-memory fake (`crate::mem_io`).
//!
//! Contract: descriptors carry a frame index (not an address) and a length; `fill` and `tx` are
//! all-or-nothing, so callers ask `*_free` first and pass at most that many.

use std::{io, os::fd::RawFd};

/// A ring descriptor: frame index and packet length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desc {
    /// Frame index in the UMEM.
    pub idx: u32,
    /// Packet length (unused on fill/completion rings).
    pub len: u32,
}

/// Ring operations of one socket. Implementations never block.
pub trait Rings {
    /// Free fill-ring slots, at most `want` (may be fewer than actually free).
    fn fill_free(&mut self, want: u32) -> u32;
    /// Produces `descs` on the fill ring; all or nothing, returns the number produced.
    fn fill(&mut self, descs: &[Desc]) -> usize;
    /// Whether the kernel asked to be woken up to process the fill ring.
    fn fill_needs_wakeup(&self) -> bool;
    /// Wakes the kernel for RX (poll with a zero timeout).
    fn wake_rx(&mut self) -> io::Result<()>;
    /// Consumes received descriptors into `out`; returns how many.
    fn rx(&mut self, out: &mut [Desc]) -> usize;
    /// Free TX slots, at most `want`.
    fn tx_free(&mut self, want: u32) -> u32;
    /// Produces `descs` on the TX ring; all or nothing.
    fn tx(&mut self, descs: &[Desc]) -> usize;
    /// Descriptors produced on the TX ring that the kernel has not consumed yet.
    fn tx_pending(&mut self) -> u32;
    /// Asks the kernel to transmit (`sendto`); copy mode transmits only inside this call.
    fn kick(&mut self) -> io::Result<()>;
    /// Consumes completed TX frame indexes into `out`; returns how many.
    fn complete(&mut self, out: &mut [u32]) -> usize;
    /// The socket fd to `poll()` for RX, if there is one.
    fn poll_fd(&self) -> Option<RawFd>;
}
