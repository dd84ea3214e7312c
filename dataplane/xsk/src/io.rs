//! [`PacketIo`]: what a worker loop needs from port I/O, and [`Ports`], its implementation over
//! any [`Rings`] backend (AF_XDP through xsk-rs, or the in-memory fake).
//!
//! Contract: `recv` never blocks and returns owned [`Frame`]s tagged with their port; `send`
//! queues frames on a port's TX ring as far as it has room and leaves the rest with the caller
//! (backpressure: stop taking RX while TX is full); `flush` kicks TX until the ring drains
//! (bounded), reaps completions and refills fill rings; `wait` sleeps in `poll()` — never spins.

use std::{ops::Range, time::Duration};

use crate::{
    XskError,
    fill::{FillShare, FillTarget},
    frame::{Frame, Pool},
    mem::{FrameBufs, FrameMem},
    ring::{Desc, KernelStats, Rings},
};

/// A port (an interface) of a worker, by position in the list it was opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortId(pub u16);

/// A received frame and the port it arrived on.
#[derive(Debug)]
#[must_use = "a dropped Frame leaks its UMEM buffer"]
pub struct Received {
    /// Arrival port.
    pub port: PortId,
    /// The frame (owned).
    pub frame: Frame,
}

/// Counters of a [`Ports`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IoStats {
    /// Frames received.
    pub rx: u64,
    /// Frames placed on TX rings.
    pub tx: u64,
    /// Frames whose transmission completed.
    pub completed: u64,
    /// `send` calls that left frames with the caller because TX was full.
    pub tx_full: u64,
    /// Kernel descriptors that contradicted the frame state table (rejected).
    pub anomalies: u64,
    /// `sendto` kicks.
    pub kicks: u64,
}

impl IoStats {
    /// Adds `other` into `self` (counters of several workers' ports).
    pub fn add(&mut self, other: &Self) {
        self.rx += other.rx;
        self.tx += other.tx;
        self.completed += other.completed;
        self.tx_full += other.tx_full;
        self.anomalies += other.anomalies;
        self.kicks += other.kicks;
    }
}

/// Port I/O as the worker loop sees it. Implemented by [`crate::XskIo`] (AF_XDP) and
/// [`crate::MemIo`] (in memory, for tests).
pub trait PacketIo {
    /// Number of ports.
    fn port_count(&self) -> usize;
    /// Appends up to `max` received frames to `out`; returns how many. Never blocks.
    fn recv(&mut self, out: &mut Vec<Received>, max: usize) -> Result<usize, XskError>;
    /// The packet bytes of `frame`.
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM (a programming error).
    fn data(&self, frame: &Frame) -> &[u8];
    /// The packet bytes of `frame`, writable.
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    fn data_mut(&mut self, frame: &mut Frame) -> &mut [u8];
    /// The whole buffers of all of `frames` (an RX batch) at once, in order, each with its port
    /// and received length, for a pipeline that works on the batch in place (no copy). UMEM
    /// frames are disjoint, and `frames` and `self` stay borrowed while any buffer lives.
    ///
    /// # Panics
    /// If a frame belongs to another UMEM (a programming error).
    fn buffers_mut<'a>(&'a mut self, frames: &'a mut [Received]) -> FrameBufs<'a>;
    /// Sets the packet length (grow or shrink within the frame's capacity).
    fn set_len(&mut self, frame: &mut Frame, len: usize) -> Result<(), XskError>;
    /// A free frame to build a packet in (e.g. an ARP reply), if any.
    fn alloc(&mut self) -> Option<Frame>;
    /// Returns a frame to the free list (the packet is dropped).
    fn release(&mut self, frame: Frame);
    /// Room on `port`'s TX ring.
    fn tx_room(&mut self, port: PortId) -> Result<usize, XskError>;
    /// Moves frames from the front of `frames` to `port`'s TX ring, as many as fit; the rest
    /// stay in `frames`. Rejects (sends nothing) if any frame belongs to another UMEM.
    fn send(&mut self, port: PortId, frames: &mut Vec<Frame>) -> Result<usize, XskError>;
    /// Kicks TX until the rings drain (bounded), reaps completions, refills fill rings.
    fn flush(&mut self) -> Result<(), XskError>;
    /// Sleeps until a socket has frames to receive or `timeout` passes; returns whether ready.
    fn wait(&mut self, timeout: Duration) -> Result<bool, XskError>;
}

/// How many `sendto` kicks `flush` makes per socket before leaving the rest to backpressure.
const MAX_KICKS: usize = 64;

#[derive(Debug)]
pub(crate) struct Socket<R> {
    pub(crate) rings: R,
    pub(crate) port: PortId,
    /// Frames given to the kernel (fill ring) and not received yet (fill or RX ring).
    in_fill: u32,
    fill: FillTarget,
}

#[derive(Debug)]
pub(crate) struct PortInfo {
    pub(crate) name: String,
    pub(crate) sockets: Range<usize>,
}

/// Ports sharing one UMEM, each with a socket per RX queue, over the ring backend `R`.
#[derive(Debug)]
pub struct Ports<R> {
    pub(crate) mem: FrameMem,
    pub(crate) pool: Pool,
    pub(crate) sockets: Vec<Socket<R>>,
    pub(crate) ports: Vec<PortInfo>,
    fill_share: FillShare,
    rx_cursor: usize,
    descs: Vec<Desc>,
    idxs: Vec<u32>,
    stats: IoStats,
}

impl<R: Rings> Ports<R> {
    /// Assembles ports. `sockets[i].0` is the port of socket i; sockets of a port are contiguous.
    pub(crate) fn from_parts(
        mem: FrameMem,
        pool: Pool,
        names: Vec<String>,
        sockets: Vec<(PortId, R)>,
        fill_ring: u32,
    ) -> Self {
        let ports = names
            .into_iter()
            .enumerate()
            .map(|(p, name)| {
                let start = sockets
                    .iter()
                    .position(|(id, _)| usize::from(id.0) == p)
                    .unwrap_or(0);
                let end = start
                    + sockets
                        .iter()
                        .filter(|(id, _)| usize::from(id.0) == p)
                        .count();
                PortInfo {
                    name,
                    sockets: start..end,
                }
            })
            .collect();
        let fill_share = FillShare::new(pool.frames() as u32, sockets.len() as u32, fill_ring);
        let mut this = Self {
            mem,
            pool,
            sockets: sockets
                .into_iter()
                .map(|(port, rings)| Socket {
                    rings,
                    port,
                    in_fill: 0,
                    fill: fill_share.start(),
                })
                .collect(),
            ports,
            fill_share,
            rx_cursor: 0,
            descs: Vec::new(),
            idxs: Vec::new(),
            stats: IoStats::default(),
        };
        for s in 0..this.sockets.len() {
            this.refill(s, false);
        }
        this
    }

    /// Counters.
    pub fn stats(&self) -> &IoStats {
        &self.stats
    }

    /// The kernel counters of every socket added up (`XDP_STATISTICS`: frames lost because
    /// the RX ring was full or the fill ring empty, invalid descriptors); a socket whose
    /// counters cannot be read is skipped and counted in the second value.
    pub fn kernel_stats(&self) -> (KernelStats, usize) {
        let mut total = KernelStats::default();
        let mut unreadable = 0;
        for s in &self.sockets {
            match s.rings.kernel_stats() {
                Ok(k) => total.add(&k),
                Err(_) => unreadable += 1,
            }
        }
        (total, unreadable)
    }

    /// Socket `s`'s fill target (frames it keeps in its fill and RX rings), as it adapts.
    pub fn fill_target(&self, s: usize) -> Option<u32> {
        self.sockets.get(s).map(|sock| sock.fill.target)
    }

    /// Frames on the free list.
    pub fn free_frames(&self) -> usize {
        self.pool.free_count()
    }

    /// Total frames in the UMEM.
    pub fn frame_count(&self) -> usize {
        self.pool.frames()
    }

    /// Bytes a frame can hold.
    pub fn frame_capacity(&self) -> usize {
        self.mem.capacity()
    }

    /// The name given to `port`.
    pub fn port_name(&self, port: PortId) -> Option<&str> {
        self.ports.get(usize::from(port.0)).map(|p| p.name.as_str())
    }

    /// Number of sockets (RX queues) of `port`.
    pub fn queue_count(&self, port: PortId) -> usize {
        self.ports
            .get(usize::from(port.0))
            .map_or(0, |p| p.sockets.len())
    }

    fn port(&self, port: PortId) -> Result<&PortInfo, XskError> {
        self.ports
            .get(usize::from(port.0))
            .ok_or(XskError::NoSuchPort {
                port: usize::from(port.0),
                ports: self.ports.len(),
            })
    }

    /// The socket that transmits for `port`: its first (queue 0).
    fn tx_socket(&self, port: PortId) -> Result<usize, XskError> {
        Ok(self.port(port)?.sockets.start)
    }

    fn check_owned(&self, frame: &Frame) {
        assert!(
            self.pool.owns(frame),
            "frame {} of UMEM {} used with UMEM {}",
            frame.idx,
            frame.umem,
            self.pool.umem()
        );
    }

    /// Tops up socket `s`'s fill ring to its fill target; after a receive (`received`) the
    /// target first adapts to how far the kernel has emptied the ring (`fill`).
    fn refill(&mut self, s: usize, received: bool) {
        let Some(sock) = self.sockets.get_mut(s) else {
            return;
        };
        if received {
            let unconsumed = sock.rings.fill_pending();
            self.fill_share.observe(&mut sock.fill, unconsumed);
        }
        let want = sock.fill.target.saturating_sub(sock.in_fill);
        if want == 0 {
            return;
        }
        let n = sock.rings.fill_free(want) as usize;
        self.idxs.clear();
        self.pool.take_for_fill(s as u16, n, &mut self.idxs);
        if self.idxs.is_empty() {
            return;
        }
        self.descs.clear();
        self.descs
            .extend(self.idxs.iter().map(|&idx| Desc { idx, len: 0 }));
        if sock.rings.fill(&self.descs) == self.descs.len() {
            sock.in_fill += self.descs.len() as u32;
        } else {
            for &idx in &self.idxs {
                self.pool.untake_fill(idx);
            }
        }
    }

    /// Reaps socket `s`'s completion ring.
    fn reap(&mut self, s: usize) {
        let Some(sock) = self.sockets.get_mut(s) else {
            return;
        };
        self.idxs.resize(256, 0);
        loop {
            let n = sock.rings.complete(&mut self.idxs);
            for &idx in &self.idxs[..n] {
                match self.pool.completed(s as u16, idx) {
                    Ok(()) => self.stats.completed += 1,
                    Err(_) => {
                        self.stats.anomalies += 1;
                        tracing::warn!(socket = s, idx, "completion for a frame not in flight");
                    }
                }
            }
            if n < self.idxs.len() {
                break;
            }
        }
    }

    /// A batch of frames for `port`'s TX ring; dropped without [`TxBatch::commit`], it rolls back
    /// and the frames return to the free list.
    pub fn tx_batch(&mut self, port: PortId) -> Result<TxBatch<'_, R>, XskError> {
        let sock = self.tx_socket(port)?;
        let room = self.sockets[sock].rings.tx_free(u32::MAX) as usize;
        Ok(TxBatch {
            ports: self,
            sock,
            room,
            descs: Vec::with_capacity(room.min(256)),
        })
    }
}

/// Frames on their way to one TX ring; `commit` produces them all at once.
#[derive(Debug)]
#[must_use = "a TxBatch dropped without commit() rolls back: its frames are dropped"]
pub struct TxBatch<'a, R: Rings> {
    ports: &'a mut Ports<R>,
    sock: usize,
    room: usize,
    descs: Vec<Desc>,
}

impl<R: Rings> TxBatch<'_, R> {
    /// Adds `frame`; gives it back if the ring is full or the frame belongs to another UMEM.
    pub fn push(&mut self, frame: Frame) -> Result<(), Frame> {
        if self.descs.len() >= self.room || !self.ports.pool.owns(&frame) {
            return Err(frame);
        }
        let (idx, len) = self.ports.pool.submit_tx(self.sock as u16, frame);
        self.descs.push(Desc { idx, len });
        Ok(())
    }

    /// Frames pushed so far.
    pub fn len(&self) -> usize {
        self.descs.len()
    }

    /// Whether nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.descs.is_empty()
    }

    /// Room left.
    pub fn room(&self) -> usize {
        self.room - self.descs.len()
    }

    /// Produces the frames on the TX ring; returns how many.
    pub fn commit(mut self) -> usize {
        let descs = std::mem::take(&mut self.descs);
        let sock = &mut self.ports.sockets[self.sock];
        if descs.is_empty() || sock.rings.tx(&descs) == descs.len() {
            self.ports.stats.tx += descs.len() as u64;
            descs.len()
        } else {
            // The ring refused (cannot happen after tx_free, but never lose frames).
            self.descs = descs;
            0
        }
    }
}

impl<R: Rings> Drop for TxBatch<'_, R> {
    fn drop(&mut self) {
        for d in self.descs.drain(..) {
            let frame = self.ports.pool.unsubmit_tx(d.idx, d.len);
            // Our own pool: cannot be foreign.
            let _ = self.ports.pool.release(frame);
        }
    }
}

impl<R: Rings> PacketIo for Ports<R> {
    fn port_count(&self) -> usize {
        self.ports.len()
    }

    fn recv(&mut self, out: &mut Vec<Received>, max: usize) -> Result<usize, XskError> {
        let n_sock = self.sockets.len();
        let mut got = 0usize;
        for k in 0..n_sock {
            if got >= max {
                break;
            }
            let s = (self.rx_cursor + k) % n_sock;
            self.descs.resize(max - got, Desc { idx: 0, len: 0 });
            let sock = &mut self.sockets[s];
            let n = sock.rings.rx(&mut self.descs);
            for d in &self.descs[..n] {
                sock.in_fill = sock.in_fill.saturating_sub(1);
                match self.pool.received(s as u16, d.idx, d.len) {
                    Ok(frame) => {
                        out.push(Received {
                            port: sock.port,
                            frame,
                        });
                        got += 1;
                    }
                    Err(_) => {
                        self.stats.anomalies += 1;
                        tracing::warn!(
                            socket = s,
                            idx = d.idx,
                            "RX descriptor for a frame not in the fill ring"
                        );
                    }
                }
            }
            if n > 0 {
                self.refill(s, true);
            }
        }
        self.rx_cursor = (self.rx_cursor + 1) % n_sock.max(1);
        self.stats.rx += got as u64;
        Ok(got)
    }

    fn data(&self, frame: &Frame) -> &[u8] {
        self.check_owned(frame);
        self.mem.bytes(frame.idx, frame.len)
    }

    fn data_mut(&mut self, frame: &mut Frame) -> &mut [u8] {
        self.check_owned(frame);
        self.mem.bytes_mut(frame.idx, frame.len)
    }

    fn buffers_mut<'a>(&'a mut self, frames: &'a mut [Received]) -> FrameBufs<'a> {
        for r in frames.iter() {
            self.check_owned(&r.frame);
        }
        self.mem.lend(frames)
    }

    fn set_len(&mut self, frame: &mut Frame, len: usize) -> Result<(), XskError> {
        self.check_owned(frame);
        let capacity = self.mem.capacity();
        if len > capacity {
            return Err(XskError::TooLong { len, capacity });
        }
        frame.len = len as u32;
        Ok(())
    }

    fn alloc(&mut self) -> Option<Frame> {
        self.pool.alloc()
    }

    fn release(&mut self, frame: Frame) {
        if let Err(frame) = self.pool.release(frame) {
            tracing::error!(
                idx = frame.idx,
                umem = frame.umem,
                "released a frame of another UMEM; leaking it"
            );
        }
    }

    fn tx_room(&mut self, port: PortId) -> Result<usize, XskError> {
        let sock = self.tx_socket(port)?;
        Ok(self.sockets[sock].rings.tx_free(u32::MAX) as usize)
    }

    fn send(&mut self, port: PortId, frames: &mut Vec<Frame>) -> Result<usize, XskError> {
        if let Some(foreign) = frames.iter().find(|f| !self.pool.owns(f)) {
            return Err(XskError::ForeignFrame {
                index: foreign.idx,
                umem: foreign.umem,
            });
        }
        let mut batch = self.tx_batch(port)?;
        let take = batch.room().min(frames.len());
        for frame in frames.drain(..take) {
            if let Err(frame) = batch.push(frame) {
                // Unreachable (room and ownership checked); never lose the frame.
                batch.ports.release(frame);
            }
        }
        let sent = batch.commit();
        if !frames.is_empty() {
            self.stats.tx_full += 1;
        }
        Ok(sent)
    }

    fn flush(&mut self) -> Result<(), XskError> {
        for s in 0..self.sockets.len() {
            for _ in 0..MAX_KICKS {
                if self.sockets[s].rings.tx_pending() == 0 {
                    break;
                }
                self.stats.kicks += 1;
                self.sockets[s]
                    .rings
                    .kick()
                    .map_err(|source| XskError::Io {
                        op: "kick (sendto)",
                        socket: s,
                        source,
                    })?;
                self.reap(s);
            }
            self.reap(s);
            self.refill(s, false);
            let sock = &mut self.sockets[s];
            if sock.rings.fill_needs_wakeup() {
                sock.rings.wake_rx().map_err(|source| XskError::Io {
                    op: "wakeup (poll)",
                    socket: s,
                    source,
                })?;
            }
        }
        Ok(())
    }

    fn wait(&mut self, timeout: Duration) -> Result<bool, XskError> {
        let fds: Vec<_> = self
            .sockets
            .iter()
            .filter_map(|s| s.rings.poll_fd())
            .collect();
        if fds.is_empty() {
            // The in-memory backend: nothing to sleep on.
            return Ok(true);
        }
        crate::sys::poll_in(&fds, timeout).map_err(|source| XskError::Io {
            op: "poll",
            socket: 0,
            source,
        })
    }
}

#[cfg(test)]
mod tests;
