//! The worker loop: receive a batch, run the pipeline against the snapshot published for this
//! batch, execute its actions, flush TX; sleep in poll() when idle.
//!
//! Contract (STYLE.md §5): the current [`Published`] (snapshot + routes) is loaded once per
//! batch and the clock read once per batch; housekeeping (conntrack expiry, neighbour probes,
//! counters publication) is bounded and periodic. After the last frame the worker keeps
//! polling for the busy-poll window ([`Pacer`]), then sleeps in poll(). While a TX ring is full no RX is taken
//! (backpressure). The pipeline works on the frames in place: `PacketIo::buffers_mut` lends
//! the UMEM buffers of the whole RX batch at once, so a forwarded frame is never copied (a
//! reply is built in its request's buffer).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use palisade_dataplane::conntrack::Timestamp;
use palisade_dataplane::forward::RouteTable;
use palisade_dataplane::neigh::build_neighbour_solicitation;
use palisade_dataplane::pipeline::{Action, FrameRef, Pipeline, PipelineCounters};
use palisade_dataplane::policy::Snapshot;
use palisade_xsk::ring::Rings;
use palisade_xsk::{
    Frame, IoStats, KernelStats, Pace, Pacer, Pacing, PacketIo, Ports, Received, XskError,
};

use super::endpoints::NeighbourProbe;

/// What the control thread publishes for the workers (swapped as a whole, RCU style).
#[derive(Debug)]
pub struct Published {
    pub snapshot: Snapshot,
    pub routes: RouteTable,
    /// Pod IPv4 addresses whose MAC the worker resolves itself if it has not learned it.
    pub probes: Vec<NeighbourProbe>,
}

/// What a worker needs from its port I/O besides [`PacketIo`].
pub trait PortIoInfo {
    fn io_stats(&self) -> IoStats;
    /// The sockets' kernel counters added up, and how many sockets could not be read.
    fn kernel_stats(&self) -> (KernelStats, usize);
}

impl<R: Rings> PortIoInfo for Ports<R> {
    fn io_stats(&self) -> IoStats {
        self.stats().clone()
    }

    fn kernel_stats(&self) -> (KernelStats, usize) {
        Ports::kernel_stats(self)
    }
}

/// A worker's counters, published to the control thread.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WorkerStats {
    pub pipeline: PipelineCounters,
    pub io: IoStats,
    /// The sockets' kernel counters (frames lost before the worker saw them).
    pub kernel: KernelStats,
    /// Sockets whose kernel counters could not be read at the last report.
    pub kernel_unreadable: u64,
    /// Batches processed (RX calls that returned frames).
    pub batches: u64,
    /// Sleeps in poll().
    pub idle_waits: u64,
    /// Iterations that found nothing to do but kept polling (within the busy-poll window).
    pub busy_polls: u64,
    /// Iterations that found a TX ring full and took no RX.
    pub backpressure: u64,
    /// ARP requests sent to resolve pods that had not spoken yet.
    pub neighbour_probes: u64,
    /// Snapshot generation of the last batch.
    pub generation: u64,
}

/// How often unresolved pods are probed.
const PROBE_EVERY: Duration = Duration::from_secs(1);
/// How often counters are published.
const REPORT_EVERY: Duration = Duration::from_millis(500);
/// Conntrack slots visited per housekeeping round.
const SWEEP_BUDGET: usize = 1024;
const ARP_LEN: usize = 42;
/// Room a probe is built in (an ARP request or a neighbour solicitation fits; every UMEM frame
/// is larger).
const PROBE_ROOM: usize = 128;

/// One worker: its port I/O, its pipeline and reusable buffers.
#[derive(Debug)]
pub struct Worker<I> {
    io: I,
    pipeline: Pipeline,
    gateway_v4: Ipv4Addr,
    batch: usize,
    rx: Vec<Received>,
    /// Always empty between batches: its allocation is reused for each batch's frame views.
    refs: Vec<FrameRef<'static>>,
    actions: Vec<Action>,
    pending: Vec<Vec<Frame>>,
    /// Whether this worker sends the neighbour probes (one worker does).
    probing: bool,
    stats: WorkerStats,
}

impl<I: PacketIo + PortIoInfo> Worker<I> {
    pub fn new(io: I, pipeline: Pipeline, gateway_v4: Ipv4Addr, batch: usize) -> Self {
        let ports = io.port_count();
        Self {
            io,
            pipeline,
            gateway_v4,
            batch,
            rx: Vec::with_capacity(batch),
            refs: Vec::with_capacity(batch),
            actions: Vec::with_capacity(batch),
            pending: (0..ports).map(|_| Vec::new()).collect(),
            probing: true,
            stats: WorkerStats::default(),
        }
    }

    /// Whether this worker sends ARP probes for unresolved pods (default: yes).
    pub fn set_probing(&mut self, probing: bool) {
        self.probing = probing;
    }

    pub fn io(&self) -> &I {
        &self.io
    }

    pub fn io_mut(&mut self) -> &mut I {
        &mut self.io
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Counters so far.
    pub fn stats(&self) -> WorkerStats {
        let mut s = self.stats.clone();
        s.pipeline = *self.pipeline.counters();
        s.io = self.io.io_stats();
        let (kernel, unreadable) = self.io.kernel_stats();
        s.kernel = kernel;
        s.kernel_unreadable = unreadable as u64;
        s
    }

    /// Sends what TX refused earlier; true when everything went out.
    fn drain_pending(&mut self) -> Result<bool, XskError> {
        let mut clear = true;
        for (p, frames) in self.pending.iter_mut().enumerate() {
            if !frames.is_empty() {
                self.io.send(xsk_port(p), frames)?;
                clear &= frames.is_empty();
            }
        }
        Ok(clear)
    }

    /// One iteration: returns the number of frames received (0 when idle or backlogged).
    pub fn step(&mut self, published: &Published, now: Timestamp) -> Result<usize, XskError> {
        self.stats.generation = published.snapshot.generation;
        if !self.drain_pending()? {
            self.stats.backpressure += 1;
            self.io.flush()?;
            return Ok(0);
        }
        let n = self.io.recv(&mut self.rx, self.batch)?;
        if n == 0 {
            self.io.flush()?;
            return Ok(0);
        }
        self.stats.batches += 1;
        {
            let mut refs = recycle(std::mem::take(&mut self.refs));
            refs.extend(self.io.buffers_mut(&mut self.rx).map(|b| FrameRef {
                buf: b.buf,
                len: b.len,
                port: b.port.0,
            }));
            self.pipeline.process_batch(
                &mut refs,
                now,
                &published.routes,
                &published.snapshot,
                &mut self.actions,
            );
            self.refs = recycle(refs);
        }
        for (i, Received { mut frame, .. }) in self.rx.drain(..).enumerate() {
            let port = match self.actions.get(i) {
                Some(Action::Forward { port }) => *port,
                Some(Action::Reply { port, len }) => {
                    if self.io.set_len(&mut frame, *len).is_err() {
                        self.io.release(frame);
                        continue;
                    }
                    *port
                }
                Some(Action::Drop(_)) | None => {
                    self.io.release(frame);
                    continue;
                }
            };
            match self.pending.get_mut(usize::from(port)) {
                Some(q) => q.push(frame),
                None => self.io.release(frame),
            }
        }
        self.drain_pending()?;
        self.io.flush()?;
        Ok(n)
    }

    /// Sends an ARP request (IPv4) or a neighbour solicitation (IPv6) from the gateway for
    /// every pod address not resolved yet; any frame the pod answers with teaches its MAC.
    pub fn probe_neighbours(&mut self, published: &Published) -> Result<usize, XskError> {
        let mut sent = 0;
        let gateway_v6 = self.pipeline.config().neigh.gateway_v6;
        for probe in &published.probes {
            if self
                .pipeline
                .learned()
                .lookup(probe.port, probe.addr)
                .is_some()
            {
                continue;
            }
            let out = usize::from(probe.port);
            if out >= self.pending.len() {
                continue;
            }
            let Some(mut frame) = self.io.alloc() else {
                break;
            };
            let written = self.io.set_len(&mut frame, PROBE_ROOM).ok().and_then(|()| {
                let buf = self.io.data_mut(&mut frame);
                match probe.addr {
                    IpAddr::V4(target) => {
                        write_arp_request(buf, probe.gateway_mac.0, self.gateway_v4, target)
                    }
                    IpAddr::V6(target) => build_neighbour_solicitation(
                        buf,
                        None,
                        probe.gateway_mac,
                        gateway_v6,
                        target,
                    )
                    .ok(),
                }
            });
            match written.map(|len| self.io.set_len(&mut frame, len)) {
                Some(Ok(())) => {}
                _ => {
                    self.io.release(frame);
                    continue;
                }
            }
            if let Some(q) = self.pending.get_mut(out) {
                q.push(frame);
                sent += 1;
            }
        }
        self.stats.neighbour_probes += sent as u64;
        Ok(sent)
    }

    /// Runs until `stop`: see the module contract. `report` gets the counters periodically
    /// and at the end.
    pub fn run(
        &mut self,
        shared: &ArcSwap<Published>,
        stop: &AtomicBool,
        epoch: Instant,
        pacing: Pacing,
        report: &Mutex<WorkerStats>,
    ) -> Result<(), XskError> {
        let mut last_probe: Option<Instant> = None;
        let mut last_report = Instant::now();
        let mut pacer = Pacer::new(pacing, Instant::now());
        let mut iterations: u64 = 0;
        let result = loop {
            if stop.load(Ordering::Relaxed) {
                break Ok(());
            }
            let wall = Instant::now();
            let now = Timestamp::from_nanos(
                u64::try_from(wall.duration_since(epoch).as_nanos()).unwrap_or(u64::MAX),
            );
            let received = {
                let published = shared.load();
                if self.probing && last_probe.is_none_or(|t| wall.duration_since(t) >= PROBE_EVERY)
                {
                    last_probe = Some(wall);
                    if let Err(e) = self.probe_neighbours(&published) {
                        break Err(e);
                    }
                }
                match self.step(&published, now) {
                    Ok(n) => n,
                    Err(e) => break Err(e),
                }
            };
            iterations += 1;
            let worked = received > 0 || self.pending.iter().any(|p| !p.is_empty());
            let pace = pacer.next(worked, wall);
            if pace == Pace::Sleep || iterations.is_multiple_of(64) {
                self.pipeline.housekeeping(now, SWEEP_BUDGET);
            }
            if wall.duration_since(last_report) >= REPORT_EVERY {
                last_report = wall;
                publish(report, self.stats());
            }
            match pace {
                Pace::Work => {}
                Pace::Spin => {
                    self.stats.busy_polls += 1;
                    std::hint::spin_loop();
                }
                Pace::Sleep => {
                    self.stats.idle_waits += 1;
                    if let Err(e) = self.io.wait(pacing.idle_poll) {
                        break Err(e);
                    }
                }
            }
        };
        publish(report, self.stats());
        result
    }
}

/// An empty vector with `v`'s allocation, for views of another batch (std collects a
/// `vec::IntoIter` in place when the element layouts match, so no allocation once warm).
fn recycle<'b>(mut v: Vec<FrameRef<'_>>) -> Vec<FrameRef<'b>> {
    v.clear();
    v.into_iter()
        .map(|_| -> FrameRef<'b> { unreachable!("the vector is empty") })
        .collect()
}

fn publish(report: &Mutex<WorkerStats>, stats: WorkerStats) {
    match report.lock() {
        Ok(mut guard) => *guard = stats,
        Err(poisoned) => *poisoned.into_inner() = stats,
    }
}

fn xsk_port(p: usize) -> palisade_xsk::PortId {
    palisade_xsk::PortId(u16::try_from(p).unwrap_or(u16::MAX))
}

/// Writes an ARP request "who has `target`? tell `sender_ip`" from `sender_mac`, broadcast;
/// returns its length, or `None` when `buf` is too short.
fn write_arp_request(
    buf: &mut [u8],
    sender_mac: [u8; 6],
    sender_ip: Ipv4Addr,
    target: Ipv4Addr,
) -> Option<usize> {
    let mut frame = [0u8; ARP_LEN];
    frame[0..6].copy_from_slice(&[0xff; 6]);
    frame[6..12].copy_from_slice(&sender_mac);
    frame[12..14].copy_from_slice(&[0x08, 0x06]);
    frame[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    frame[22..28].copy_from_slice(&sender_mac);
    frame[28..32].copy_from_slice(&sender_ip.octets());
    frame[32..38].copy_from_slice(&[0; 6]);
    frame[38..42].copy_from_slice(&target.octets());
    buf.get_mut(..ARP_LEN)?.copy_from_slice(&frame);
    Some(ARP_LEN)
}
