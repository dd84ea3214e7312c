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
    in_fill: u32,
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
    fill_target: u32,
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
        let n = sockets.len().max(1) as u32;
        // Half the frames wait in fill rings, the rest are for RX in flight and TX.
        let fill_target = (pool.frames() as u32 / (2 * n)).clamp(1, fill_ring.max(1));
        let mut this = Self {
            mem,
            pool,
            sockets: sockets
                .into_iter()
                .map(|(port, rings)| Socket {
                    rings,
                    port,
                    in_fill: 0,
                })
                .collect(),
            ports,
            fill_target,
            rx_cursor: 0,
            descs: Vec::new(),
            idxs: Vec::new(),
            stats: IoStats::default(),
        };
        for s in 0..this.sockets.len() {
            this.refill(s);
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

    /// Tops up socket `s`'s fill ring to the fill target.
    fn refill(&mut self, s: usize) {
        let Some(sock) = self.sockets.get_mut(s) else {
            return;
        };
        let want = self.fill_target.saturating_sub(sock.in_fill);
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
                self.refill(s);
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
            self.refill(s);
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
mod tests {
    use super::*;
    use crate::MemIo;

    /// Every frame is counted exactly once across the free list, rings and user space.
    fn assert_conserved(io: &MemIo, user: usize) {
        let in_fill: usize = io.sockets.iter().map(|s| s.in_fill as usize).sum();
        let in_tx = io.pool.frames() - io.pool.free_count() - in_fill - user;
        let tx_state: usize = (0..io.sockets.len())
            .map(|s| io.pool.count(crate::frame::State::Tx(s as u16)))
            .sum();
        assert_eq!(in_tx, tx_state, "frames unaccounted for");
    }

    #[test]
    fn frame_round_trip_returns_every_frame() {
        let mut io = MemIo::new(2, 2, 64, 8).expect("io");
        assert_conserved(&io, 0);
        assert!(io.inject(PortId(0), 1, b"hello"));
        let mut rx = Vec::new();
        assert_eq!(io.recv(&mut rx, 16).expect("recv"), 1);
        let Received { port, mut frame } = rx.pop().expect("one frame");
        assert_eq!(port, PortId(0));
        assert_eq!(io.data(&frame), b"hello");
        io.data_mut(&mut frame)[0] = b'j';
        io.set_len(&mut frame, 4).expect("shrink");
        assert_conserved(&io, 1);
        let mut out = vec![frame];
        assert_eq!(io.send(PortId(1), &mut out).expect("send"), 1);
        assert_conserved(&io, 0);
        io.flush().expect("flush");
        assert_eq!(io.take_sent(PortId(1)), vec![b"jell".to_vec()]);
        io.flush().expect("flush reaps the completion");
        assert_eq!(io.stats().completed, 1);
        assert_conserved(&io, 0);
        assert_eq!(io.stats().anomalies, 0);
    }

    #[test]
    fn a_batch_is_rewritten_in_place_through_buffers_lent_together() {
        let mut io = MemIo::new(2, 2, 64, 8).expect("io");
        assert!(io.inject(PortId(0), 0, b"one"));
        assert!(io.inject(PortId(1), 1, b"second"));
        assert!(io.inject(PortId(0), 1, b"3"));
        let mut rx = Vec::new();
        assert_eq!(io.recv(&mut rx, 16).expect("recv"), 3);
        let capacity = io.frame_capacity();
        {
            let mut bufs: Vec<_> = io.buffers_mut(&mut rx).collect();
            let mut seen: Vec<(PortId, Vec<u8>)> = bufs
                .iter()
                .map(|b| (b.port, b.buf[..b.len].to_vec()))
                .collect();
            seen.sort();
            assert_eq!(
                seen,
                vec![
                    (PortId(0), b"3".to_vec()),
                    (PortId(0), b"one".to_vec()),
                    (PortId(1), b"second".to_vec())
                ]
            );
            for b in &mut bufs {
                assert_eq!(b.buf.len(), capacity, "the whole frame, room included");
                b.buf[0] = b.buf[0].to_ascii_uppercase();
                // Room past the packet is usable (a reply built in place).
                b.buf[b.len] = b'!';
            }
        }
        let mut out = Vec::new();
        for Received { mut frame, .. } in rx.drain(..) {
            let len = frame.len() + 1;
            io.set_len(&mut frame, len).expect("grow into the room");
            out.push(frame);
        }
        io.send(PortId(1), &mut out).expect("send");
        io.flush().expect("flush");
        let mut sent = io.take_sent(PortId(1));
        sent.sort();
        assert_eq!(
            sent,
            vec![b"3!".to_vec(), b"One!".to_vec(), b"Second!".to_vec()]
        );
        io.flush().expect("reap");
        assert_conserved(&io, 0);
    }

    #[test]
    #[should_panic(expected = "used with UMEM")]
    fn lending_a_foreign_frame_panics() {
        let mut a = MemIo::new(1, 1, 8, 4).expect("a");
        let mut b = MemIo::new(1, 1, 8, 4).expect("b");
        let mut batch = vec![Received {
            port: PortId(0),
            frame: a.alloc().expect("frame"),
        }];
        let _ = b.buffers_mut(&mut batch).count();
    }

    #[test]
    fn duplicate_completion_is_rejected_not_duplicated() {
        let mut io = MemIo::new(1, 1, 16, 8).expect("io");
        io.duplicate_completions(PortId(0));
        let frame = io.alloc().expect("frame");
        let free = io.free_frames();
        io.send(PortId(0), &mut vec![frame]).expect("send");
        io.flush().expect("kick");
        assert_eq!(io.take_sent(PortId(0)).len(), 1);
        io.flush().expect("reap");
        assert_eq!(io.stats().anomalies, 1);
        assert_eq!(io.free_frames(), free + 1, "the frame came back once");
        assert_conserved(&io, 0);
    }

    #[test]
    fn forged_rx_descriptor_is_rejected() {
        let mut io = MemIo::new(1, 1, 16, 4).expect("io");
        let held = io.alloc().expect("frame");
        // Descriptor naming a frame that user space holds, and one out of range.
        assert!(io.inject_forged(PortId(0), 0, held.index(), 10));
        assert!(io.inject_forged(PortId(0), 0, 999, 10));
        let mut rx = Vec::new();
        assert_eq!(io.recv(&mut rx, 8).expect("recv"), 0);
        assert_eq!(io.stats().anomalies, 2);
        io.release(held);
    }

    #[test]
    fn foreign_frames_are_rejected_at_run_time() {
        let mut a = MemIo::new(1, 1, 8, 4).expect("a");
        let mut b = MemIo::new(1, 1, 8, 4).expect("b");
        let fa = a.alloc().expect("frame");
        let mut v = vec![fa];
        let err = b.send(PortId(0), &mut v).expect_err("foreign");
        assert!(matches!(err, XskError::ForeignFrame { .. }), "{err}");
        assert_eq!(v.len(), 1, "nothing taken");
        let mut batch = b.tx_batch(PortId(0)).expect("batch");
        let back = batch
            .push(v.pop().expect("frame"))
            .expect_err("foreign push");
        assert_eq!(batch.commit(), 0);
        a.release(back);
        assert_eq!(b.stats().tx, 0);
    }

    #[test]
    #[should_panic(expected = "used with UMEM")]
    fn foreign_frame_bytes_panic() {
        let mut a = MemIo::new(1, 1, 8, 4).expect("a");
        let b = MemIo::new(1, 1, 8, 4).expect("b");
        let fa = a.alloc().expect("frame");
        let _ = b.data(&fa);
    }

    #[test]
    fn dropped_tx_batch_rolls_back() {
        let mut io = MemIo::new(1, 1, 16, 8).expect("io");
        let free = io.free_frames();
        {
            let f1 = io.alloc().expect("1");
            let f2 = io.alloc().expect("2");
            let mut batch = io.tx_batch(PortId(0)).expect("batch");
            assert!(batch.push(f1).is_ok());
            assert!(batch.push(f2).is_ok());
            assert_eq!(batch.len(), 2);
            // dropped without commit
        }
        assert_eq!(io.free_frames(), free);
        assert_eq!(io.sockets[0].rings.tx_pending(), 0);
        assert_conserved(&io, 0);
    }

    #[test]
    fn send_takes_what_fits_and_leaves_the_rest() {
        let mut io = MemIo::new(1, 1, 64, 4).expect("io");
        let mut v: Vec<Frame> = (0..6).map(|_| io.alloc().expect("frame")).collect();
        assert_eq!(io.tx_room(PortId(0)).expect("room"), 4);
        assert_eq!(io.send(PortId(0), &mut v).expect("send"), 4);
        assert_eq!(v.len(), 2);
        assert_eq!(io.stats().tx_full, 1);
        assert_eq!(io.tx_room(PortId(0)).expect("room"), 0);
        io.flush().expect("drain");
        assert_eq!(io.tx_room(PortId(0)).expect("room"), 4);
        assert_eq!(io.send(PortId(0), &mut v).expect("send"), 2);
        assert!(v.is_empty());
        assert!(matches!(
            io.send(PortId(3), &mut v),
            Err(XskError::NoSuchPort { port: 3, ports: 1 })
        ));
    }

    #[test]
    fn flush_kicks_until_the_ring_drains() {
        let mut io = MemIo::new(1, 1, 64, 16).expect("io");
        io.set_tx_per_kick(3);
        let mut v: Vec<Frame> = (0..10).map(|_| io.alloc().expect("frame")).collect();
        io.send(PortId(0), &mut v).expect("send");
        io.flush().expect("flush");
        assert_eq!(io.stats().kicks, 4);
        assert_eq!(io.take_sent(PortId(0)).len(), 10);
    }

    #[test]
    fn set_len_beyond_capacity_is_rejected() {
        let mut io = MemIo::new(1, 1, 4, 4).expect("io");
        let mut f = io.alloc().expect("frame");
        assert!(matches!(
            io.set_len(&mut f, 4096),
            Err(XskError::TooLong {
                len: 4096,
                capacity: 2048
            })
        ));
        io.set_len(&mut f, 2048).expect("full frame");
        assert_eq!(io.data(&f).len(), 2048);
        io.release(f);
    }

    #[test]
    fn rx_without_fill_entries_is_dropped_like_the_kernel() {
        // 4 frames, 1 socket: fill target is 2 frames.
        let mut io = MemIo::new(1, 1, 4, 4).expect("io");
        assert!(io.inject(PortId(0), 0, b"a"));
        assert!(io.inject(PortId(0), 0, b"b"));
        assert!(!io.inject(PortId(0), 0, b"c"), "fill ring empty");
        let (k, unreadable) = io.kernel_stats();
        assert_eq!(
            (k.rx_dropped, k.rx_fill_ring_empty, k.rx_ring_full),
            (1, 1, 0)
        );
        assert_eq!((k.rx_lost(), unreadable), (1, 0));
        let mut rx = Vec::new();
        assert_eq!(io.recv(&mut rx, 1).expect("recv"), 1, "max respected");
        assert_eq!(io.recv(&mut rx, 8).expect("recv"), 1);
        for r in rx {
            io.release(r.frame);
        }
        assert_conserved(&io, 0);
    }

    #[test]
    fn a_frame_longer_than_a_frame_buffer_is_dropped_and_counted() {
        let mut io = MemIo::new(2, 1, 16, 2).expect("io");
        assert!(!io.inject(PortId(1), 0, &[0; 4096]), "longer than a frame");
        let (k, _) = io.kernel_stats();
        assert_eq!(
            (k.rx_dropped, k.rx_fill_ring_empty, k.rx_ring_full),
            (1, 0, 0)
        );
        assert_conserved(&io, 0);
    }

    #[test]
    fn kick_errors_surface_with_the_socket_and_lose_no_frame() {
        let mut io = MemIo::new(1, 1, 16, 8).expect("io");
        let f = io.alloc().expect("frame");
        io.send(PortId(0), &mut vec![f]).expect("send");
        io.fail_next_kick(libc::EPERM);
        match io.flush() {
            Err(XskError::Io {
                op,
                socket: 0,
                source,
            }) => {
                assert!(op.starts_with("kick"));
                assert_eq!(source.raw_os_error(), Some(libc::EPERM));
            }
            other => panic!("expected a kick error, got {other:?}"),
        }
        // The frame is still queued: the next flush sends it.
        io.flush().expect("flush");
        assert_eq!(io.take_sent(PortId(0)).len(), 1);
        io.flush().expect("reap");
        assert_conserved(&io, 0);
    }

    #[test]
    fn refused_fill_returns_frames_to_the_free_list() {
        let mut io = MemIo::new(1, 1, 8, 8).expect("io");
        assert!(io.inject(PortId(0), 0, b"x"));
        io.refuse_fill(true);
        let mut rx = Vec::new();
        assert_eq!(io.recv(&mut rx, 8).expect("recv"), 1);
        let free = io.free_frames();
        io.flush().expect("flush tries to refill");
        assert_eq!(io.free_frames(), free, "refused fill entries went back");
        for r in rx {
            io.release(r.frame);
        }
        assert_conserved(&io, 0);
        io.refuse_fill(false);
        io.flush().expect("refill");
        assert_conserved(&io, 0);
    }

    #[test]
    fn invalid_configs_are_rejected() {
        assert!(MemIo::new(0, 1, 8, 4).is_err());
        assert!(MemIo::new(1, 0, 8, 4).is_err());
        assert!(MemIo::new(1, 1, 0, 4).is_err());
    }
}
