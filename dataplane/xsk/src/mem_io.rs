//! [`MemIo`]: the in-memory implementation of [`crate::PacketIo`] for unit tests and benches.
//!
//! Contract: the same frame-ownership layer as AF_XDP ([`crate::Ports`]) over fake rings that
//! behave like the kernel's: fill entries are consumed by [`MemIo::inject`] (a frame arriving on a
//! port's queue; dropped, and counted in the socket's [`KernelStats`] as the kernel counts it,
//! when the fill ring is empty or the RX ring full), TX descriptors move to
//! the "wire" only when kicked (a bounded number per kick, like copy mode), and complete when the
//! test takes them with [`MemIo::take_sent`]. Faults can be injected to test the rejections.

use std::collections::VecDeque;

use crate::{
    XskError,
    frame::{Pool, new_umem_id},
    io::{PortId, Ports},
    mem::FrameMem,
    ring::{Desc, KernelStats, Rings},
};

/// The in-memory implementation of [`crate::PacketIo`].
pub type MemIo = Ports<MemRings>;

/// Fake rings of one socket.
#[derive(Debug)]
pub struct MemRings {
    size: u32,
    fill: VecDeque<u32>,
    rx: VecDeque<Desc>,
    tx: VecDeque<Desc>,
    wire: VecDeque<Desc>,
    comp: VecDeque<u32>,
    tx_per_kick: usize,
    duplicate_completions: bool,
    kick_error: Option<i32>,
    refuse_fill: bool,
    kernel: KernelStats,
}

impl MemRings {
    fn new(size: u32) -> Self {
        Self {
            size,
            fill: VecDeque::new(),
            rx: VecDeque::new(),
            tx: VecDeque::new(),
            wire: VecDeque::new(),
            comp: VecDeque::new(),
            tx_per_kick: 32,
            duplicate_completions: false,
            kick_error: None,
            refuse_fill: false,
            kernel: KernelStats::default(),
        }
    }
}

impl Rings for MemRings {
    fn fill_free(&mut self, want: u32) -> u32 {
        (self.size - self.fill.len() as u32).min(want)
    }
    fn fill_pending(&mut self) -> u32 {
        self.fill.len() as u32
    }
    fn fill(&mut self, descs: &[Desc]) -> usize {
        if self.refuse_fill || self.fill.len() + descs.len() > self.size as usize {
            return 0;
        }
        self.fill.extend(descs.iter().map(|d| d.idx));
        descs.len()
    }
    fn fill_needs_wakeup(&self) -> bool {
        false
    }
    fn wake_rx(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    fn rx(&mut self, out: &mut [Desc]) -> usize {
        let n = out.len().min(self.rx.len());
        for (o, d) in out.iter_mut().zip(self.rx.drain(..n)) {
            *o = d;
        }
        n
    }
    fn tx_free(&mut self, want: u32) -> u32 {
        (self.size - self.tx.len() as u32).min(want)
    }
    fn tx(&mut self, descs: &[Desc]) -> usize {
        if self.tx.len() + descs.len() > self.size as usize {
            return 0;
        }
        self.tx.extend(descs.iter().copied());
        descs.len()
    }
    fn tx_pending(&mut self) -> u32 {
        self.tx.len() as u32
    }
    fn kick(&mut self) -> std::io::Result<()> {
        if let Some(errno) = self.kick_error.take() {
            return Err(std::io::Error::from_raw_os_error(errno));
        }
        let n = self.tx.len().min(self.tx_per_kick);
        self.wire.extend(self.tx.drain(..n));
        Ok(())
    }
    fn complete(&mut self, out: &mut [u32]) -> usize {
        let n = out.len().min(self.comp.len());
        for (o, i) in out.iter_mut().zip(self.comp.drain(..n)) {
            *o = i;
        }
        n
    }
    fn poll_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
    fn kernel_stats(&self) -> std::io::Result<KernelStats> {
        Ok(self.kernel)
    }
}

impl Ports<MemRings> {
    /// `ports` ports with `queues` RX queues each, sharing `frames` frames of 2048 bytes, every
    /// ring of `ring_size` entries.
    pub fn new(ports: usize, queues: usize, frames: u32, ring_size: u32) -> Result<Self, XskError> {
        if ports == 0 || queues == 0 || ports > usize::from(u16::MAX) {
            return Err(XskError::Config {
                field: "ports/queues",
                value: format!("{ports}/{queues}"),
                expected: "at least one port and one queue, at most 65535 ports",
            });
        }
        if frames == 0 || ring_size == 0 {
            return Err(XskError::Config {
                field: "frames/ring_size",
                value: format!("{frames}/{ring_size}"),
                expected: "non-zero",
            });
        }
        let mem = FrameMem::heap(frames, 2048);
        let pool = Pool::new(new_umem_id(), frames);
        let mut sockets = Vec::new();
        for p in 0..ports {
            for _ in 0..queues {
                sockets.push((PortId(p as u16), MemRings::new(ring_size)));
            }
        }
        let names = (0..ports).map(|p| format!("mem{p}")).collect();
        Ok(Self::from_parts(mem, pool, names, sockets, ring_size))
    }

    fn socket_index(&self, port: PortId, queue: usize) -> Option<usize> {
        let range = &self.ports.get(usize::from(port.0))?.sockets;
        let s = range.start + queue;
        range.contains(&s).then_some(s)
    }

    /// A frame arrives on `port`'s RX queue `queue`. Returns false when it is dropped (no fill
    /// entry, RX ring full, too long, no such port/queue), as the kernel would.
    pub fn inject(&mut self, port: PortId, queue: usize, bytes: &[u8]) -> bool {
        let Some(s) = self.socket_index(port, queue) else {
            return false;
        };
        let too_long = bytes.len() > self.mem.capacity();
        let rings = &mut self.sockets[s].rings;
        if too_long {
            rings.kernel.rx_dropped += 1;
            return false;
        }
        // Counted as copy mode counts them: no fill entry is `rx_dropped` (and an empty fill
        // ring), no RX slot `rx_ring_full`.
        let Some(idx) = rings.fill.pop_front() else {
            rings.kernel.rx_dropped += 1;
            rings.kernel.rx_fill_ring_empty += 1;
            return false;
        };
        if rings.rx.len() >= rings.size as usize {
            rings.fill.push_front(idx);
            rings.kernel.rx_ring_full += 1;
            return false;
        }
        rings.rx.push_back(Desc {
            idx,
            len: bytes.len() as u32,
        });
        self.mem
            .bytes_mut(idx, bytes.len() as u32)
            .copy_from_slice(bytes);
        true
    }

    /// Frames that left `port` (kicked onto the wire) since the last call; completes them.
    pub fn take_sent(&mut self, port: PortId) -> Vec<Vec<u8>> {
        let Some(range) = self
            .ports
            .get(usize::from(port.0))
            .map(|p| p.sockets.clone())
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for s in range {
            let wire: Vec<Desc> = self.sockets[s].rings.wire.drain(..).collect();
            for d in wire {
                out.push(self.mem.bytes(d.idx, d.len).to_vec());
                let rings = &mut self.sockets[s].rings;
                rings.comp.push_back(d.idx);
                if rings.duplicate_completions {
                    rings.comp.push_back(d.idx);
                }
            }
        }
        out
    }

    /// Like [`MemIo::take_sent`] without copying: completes what left `port`, returns how many.
    pub fn drain_sent(&mut self, port: PortId) -> usize {
        let Some(range) = self
            .ports
            .get(usize::from(port.0))
            .map(|p| p.sockets.clone())
        else {
            return 0;
        };
        let mut n = 0;
        for s in range {
            let MemRings { wire, comp, .. } = &mut self.sockets[s].rings;
            n += wire.len();
            comp.extend(wire.drain(..).map(|d| d.idx));
        }
        n
    }

    /// Fault injection: `port`'s sockets report every completion twice.
    pub fn duplicate_completions(&mut self, port: PortId) {
        if let Some(range) = self
            .ports
            .get(usize::from(port.0))
            .map(|p| p.sockets.clone())
        {
            for s in range {
                self.sockets[s].rings.duplicate_completions = true;
            }
        }
    }

    /// Fault injection: the next RX descriptor on `port`/`queue` names frame `idx` whatever the
    /// fill ring holds (a kernel bug or a forged descriptor).
    pub fn inject_forged(&mut self, port: PortId, queue: usize, idx: u32, len: u32) -> bool {
        let Some(s) = self.socket_index(port, queue) else {
            return false;
        };
        self.sockets[s].rings.rx.push_back(Desc { idx, len });
        true
    }

    /// Fault injection: the next kick on any socket fails with `errno` (as `sendto` can).
    pub fn fail_next_kick(&mut self, errno: i32) {
        for s in &mut self.sockets {
            s.rings.kick_error = Some(errno);
        }
    }

    /// Fault injection: fill rings refuse every produce (as if full), or accept again.
    pub fn refuse_fill(&mut self, refuse: bool) {
        for s in &mut self.sockets {
            s.rings.refuse_fill = refuse;
        }
    }

    /// How many descriptors `sendto` moves per kick (copy mode moves a bounded batch).
    pub fn set_tx_per_kick(&mut self, n: usize) {
        for s in &mut self.sockets {
            s.rings.tx_per_kick = n.max(1);
        }
    }
}
