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

/// A socket's kernel-side drop and error counters (`XDP_STATISTICS`), added up over sockets.
///
/// In copy mode a frame the XDP program redirects is lost as `rx_dropped` (with
/// `rx_fill_ring_empty`) when the fill ring has no frame to copy it into, and as `rx_ring_full`
/// when the RX ring has no free slot. [`crate::Ports`] never gives a socket more fill entries
/// than its RX ring holds, so with it a worker that falls behind empties the fill ring first:
/// its losses show as `rx_dropped`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KernelStats {
    /// Frames dropped for other reasons than a full RX ring (in copy mode: no fill entry, or
    /// longer than a frame).
    pub rx_dropped: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the kernel found the fill ring empty.
    pub rx_fill_ring_empty: u64,
    /// RX descriptors the kernel rejected as invalid.
    pub rx_invalid_descs: u64,
    /// TX descriptors the kernel rejected as invalid.
    pub tx_invalid_descs: u64,
    /// Times the kernel found the TX ring empty when woken to transmit.
    pub tx_ring_empty: u64,
}

impl KernelStats {
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &Self) {
        self.rx_dropped += other.rx_dropped;
        self.rx_ring_full += other.rx_ring_full;
        self.rx_fill_ring_empty += other.rx_fill_ring_empty;
        self.rx_invalid_descs += other.rx_invalid_descs;
        self.tx_invalid_descs += other.tx_invalid_descs;
        self.tx_ring_empty += other.tx_ring_empty;
    }

    /// Frames the socket lost on the way in (`rx_dropped` + `rx_ring_full`).
    pub fn rx_lost(&self) -> u64 {
        self.rx_dropped + self.rx_ring_full
    }
}

/// Ring operations of one socket. Implementations never block.
pub trait Rings {
    /// Free fill-ring slots, at most `want` (may be fewer than actually free).
    fn fill_free(&mut self, want: u32) -> u32;
    /// Fill-ring entries produced that the kernel has not consumed yet.
    fn fill_pending(&mut self) -> u32;
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
    /// The socket's kernel counters since it was opened.
    fn kernel_stats(&self) -> io::Result<KernelStats>;
}
