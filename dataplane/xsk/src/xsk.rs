//! The AF_XDP backend: one xsk-rs UMEM shared by the sockets of a worker's ports, a socket on
//! every RX queue of each interface, in copy mode with `need_wakeup`.
//!
//! Contract: [`XskIo::open`] binds every socket (the first with `XDP_COPY | XDP_USE_NEED_WAKEUP`,
//! the others with flags 0, as sharing a UMEM requires) and never loads libxdp's own XDP program
//! (`XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD`): the caller registers [`XskIo::sockets`] in the XSKMAP
//! of Palisade's program. Must be called from a thread inside the interfaces' network namespace.
#![allow(unsafe_code)]

use std::{
    io,
    num::NonZeroU32,
    os::fd::{AsRawFd, RawFd},
    ptr::NonNull,
    str::FromStr,
    sync::Arc,
};

use xsk_rs::{
    CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem,
    config::{BindFlags, FrameSize, Interface, LibxdpFlags, QueueSize, SocketConfig, UmemConfig},
};

use crate::{
    XskError,
    frame::{Pool, new_umem_id},
    io::{PortId, Ports},
    mem::FrameMem,
    ring::{Desc, KernelStats, Rings},
};

/// The AF_XDP implementation of [`crate::PacketIo`].
pub type XskIo = Ports<XskRings>;

/// One interface of a worker and the RX queues it serves (a socket is bound on each; the first
/// also transmits for the port).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    /// Interface name in the calling thread's network namespace.
    pub interface: String,
    /// The RX queues this worker binds (several workers split an interface's queues: each
    /// queue can have one socket, or several sharing one UMEM).
    pub queues: Vec<u32>,
}

impl PortSpec {
    /// Every one of `count` RX queues (see `palisade_bpf::rx_queue_count`).
    pub fn all(interface: &str, count: u32) -> Self {
        Self {
            interface: interface.to_owned(),
            queues: (0..count).collect(),
        }
    }

    /// Worker `worker`'s share of `count` RX queues split among `workers`: queue `q` goes to
    /// worker `q % workers`. Empty when `worker >= min(count, workers)`.
    pub fn share(interface: &str, count: u32, worker: u32, workers: u32) -> Self {
        Self {
            interface: interface.to_owned(),
            queues: (0..count)
                .filter(|q| workers > 0 && q % workers == worker)
                .collect(),
        }
    }

    /// The queues as text: `a..b` when contiguous (`0..2`), else a list (`0,2`).
    pub fn queues_text(&self) -> String {
        match (self.queues.first(), self.queues.last()) {
            (Some(&first), Some(&last)) if self.queues.windows(2).all(|w| w[1] == w[0] + 1) => {
                format!("{first}..{}", last + 1)
            }
            _ => self
                .queues
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

/// UMEM and ring sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XskConfig {
    /// Frames in the UMEM; 0 = [`auto_frame_count`].
    pub frame_count: u32,
    /// Bytes per frame (2048 or 4096).
    pub frame_size: u32,
    /// Size of each fill, completion, RX and TX ring (a power of two).
    pub ring_size: u32,
}

impl Default for XskConfig {
    fn default() -> Self {
        Self {
            frame_count: 0,
            frame_size: 4096,
            ring_size: 1024,
        }
    }
}

/// Where a socket is bound, and its fd for the XSKMAP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketInfo {
    /// The port.
    pub port: PortId,
    /// The RX queue index (the XSKMAP key).
    pub queue: u32,
    /// The socket fd (the XSKMAP value), valid while the [`XskIo`] lives.
    pub fd: RawFd,
}

/// The four rings of one xsk-rs socket.
pub struct XskRings {
    tx: TxQueue,
    rx: RxQueue,
    fq: FillQueue,
    cq: CompQueue,
    umem: Umem,
    templates: Arc<[FrameDesc]>,
    frame_size: usize,
    ring_size: u32,
    queue: u32,
    scratch: Vec<FrameDesc>,
    /// Where `rx` and `complete` let xsk-rs write consumed descriptors: only ever grown, so
    /// a call does not clear and refill it (that memset, 256 descriptors per completion read
    /// on every loop iteration, was 7 % of a flood's worker profile).
    consumed: Vec<FrameDesc>,
}

impl std::fmt::Debug for XskRings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XskRings")
            .field("queue", &self.queue)
            .field("fd", &self.rx.fd().as_raw_fd())
            .finish()
    }
}

impl XskRings {
    fn idx_of(&self, d: &FrameDesc) -> u32 {
        let idx = d.addr() / self.frame_size;
        match self.templates.get(idx) {
            Some(t) if t.addr() == d.addr() => idx as u32,
            // Not a frame start we handed out (our XDP program never moves the packet start):
            // an index no frame has, which the pool rejects and counts.
            _ => u32::MAX,
        }
    }

    fn load_scratch(&mut self, descs: &[Desc]) -> bool {
        self.scratch.clear();
        for d in descs {
            let Some(t) = self.templates.get(d.idx as usize) else {
                return false;
            };
            self.scratch.push(*t);
        }
        true
    }
}

impl Rings for XskRings {
    fn fill_free(&mut self, want: u32) -> u32 {
        self.fq.nb_free(want).min(want)
    }

    fn fill_pending(&mut self) -> u32 {
        // Asking for every slot makes xsk-rs re-read the kernel's consumer index.
        self.ring_size
            .saturating_sub(self.fq.nb_free(self.ring_size).min(self.ring_size))
    }

    fn fill(&mut self, descs: &[Desc]) -> usize {
        if !self.load_scratch(descs) {
            return 0;
        }
        // SAFETY: the pool moved each of these frames to this socket's fill state: no token
        // exists for them and they are in no other ring; they belong to this UMEM (templates).
        unsafe { self.fq.produce(&self.scratch) }
    }

    fn fill_needs_wakeup(&self) -> bool {
        self.fq.needs_wakeup()
    }

    fn wake_rx(&mut self) -> io::Result<()> {
        self.fq.wakeup(self.rx.fd_mut(), 0)
    }

    fn rx(&mut self, out: &mut [Desc]) -> usize {
        let buf = consume_buffer(&mut self.consumed, out.len());
        // SAFETY: the descriptors are written into our own buffer; the frames they name
        // were in this socket's fill ring and the pool turns each into at most one token.
        let n = unsafe { self.rx.consume(buf) };
        for (o, d) in out.iter_mut().zip(&self.consumed[..n]) {
            *o = Desc {
                idx: self.idx_of(d),
                len: d.lengths().data() as u32,
            };
        }
        n
    }

    fn tx_free(&mut self, want: u32) -> u32 {
        self.tx.nb_free(want).min(want)
    }

    fn tx(&mut self, descs: &[Desc]) -> usize {
        if !self.load_scratch(descs) {
            return 0;
        }
        for (t, d) in self.scratch.iter_mut().zip(descs) {
            // SAFETY: the frame was taken from its token by the pool (state Tx) and is in no
            // ring yet: nothing else reads or writes it while we set its length.
            let mut data = unsafe { self.umem.data_mut(t) };
            data.cursor().set_pos(d.len as usize);
        }
        // SAFETY: as above; after this the kernel owns the frames until their completion.
        unsafe { self.tx.produce(&self.scratch) }
    }

    fn tx_pending(&mut self) -> u32 {
        self.ring_size.saturating_sub(self.tx.nb_free_exact())
    }

    fn kick(&mut self) -> io::Result<()> {
        self.tx.wakeup()
    }

    fn complete(&mut self, out: &mut [u32]) -> usize {
        let buf = consume_buffer(&mut self.consumed, out.len());
        // SAFETY: completed frames were in this socket's TX ring; the pool checks each index.
        let n = unsafe { self.cq.consume(buf) };
        for (o, d) in out.iter_mut().zip(&self.consumed[..n]) {
            *o = self.idx_of(d);
        }
        n
    }

    fn poll_fd(&self) -> Option<RawFd> {
        Some(self.rx.fd().as_raw_fd())
    }

    fn kernel_stats(&self) -> io::Result<KernelStats> {
        let st = self.rx.fd().xdp_statistics()?;
        Ok(KernelStats {
            rx_dropped: st.rx_dropped(),
            rx_ring_full: st.rx_ring_full(),
            rx_fill_ring_empty: st.rx_fill_ring_empty_descs(),
            rx_invalid_descs: st.rx_invalid_descs(),
            tx_invalid_descs: st.tx_invalid_descs(),
            tx_ring_empty: st.tx_ring_empty_descs(),
        })
    }
}

/// Sockets whose fill rings the automatic UMEM size holds in full.
pub const AUTO_FULL_SOCKETS: u32 = 4;

/// The UMEM size for `frame_count: 0`: twice the ring size per socket, for at most
/// [`AUTO_FULL_SOCKETS`] sockets. With more sockets (a node with many pods) the frames are
/// shared by load (`crate::fill`): every socket keeps a floor, busy ones grow to a full ring,
/// and memory stays bounded (8,192 frames, 32 MB at 4 KB, with the default rings).
pub fn auto_frame_count(sockets: u32, ring_size: u32) -> u32 {
    sockets
        .clamp(1, AUTO_FULL_SOCKETS)
        .saturating_mul(ring_size)
        .saturating_mul(2)
}

/// The first `len` descriptors of `buf`, grown (never shrunk or cleared) to hold them; xsk-rs
/// overwrites the address and lengths of every descriptor it consumes into.
fn consume_buffer(buf: &mut Vec<FrameDesc>, len: usize) -> &mut [FrameDesc] {
    if buf.len() < len {
        buf.resize(len, FrameDesc::default());
    }
    &mut buf[..len]
}

fn qsize(field: &'static str, v: u32) -> Result<QueueSize, XskError> {
    QueueSize::new(v).map_err(|_| XskError::Config {
        field,
        value: v.to_string(),
        expected: "a power of two",
    })
}

impl Ports<XskRings> {
    /// Creates the UMEM and binds a socket on every RX queue of every port.
    pub fn open(ports: &[PortSpec], cfg: &XskConfig) -> Result<Self, XskError> {
        let sockets_total: u32 = ports.iter().map(|p| p.queues.len() as u32).sum();
        if sockets_total == 0 {
            return Err(XskError::Config {
                field: "ports",
                value: format!("{} ports with 0 queues in total", ports.len()),
                expected: "at least one port with at least one queue",
            });
        }
        if let Some(p) = ports.iter().find(|p| p.queues.is_empty()) {
            // A port needs a socket to transmit on.
            return Err(XskError::Config {
                field: "ports",
                value: format!("{} with no queue", p.interface),
                expected: "at least one RX queue on every port",
            });
        }
        let ring = qsize("ring_size", cfg.ring_size)?;
        let frame_size = FrameSize::new(cfg.frame_size).map_err(|_| XskError::Config {
            field: "frame_size",
            value: cfg.frame_size.to_string(),
            expected: "a power of two, at least 2048",
        })?;
        let frames = if cfg.frame_count == 0 {
            auto_frame_count(sockets_total, cfg.ring_size)
        } else {
            cfg.frame_count
        };
        let frame_count = NonZeroU32::new(frames).ok_or(XskError::Config {
            field: "frame_count",
            value: "0".into(),
            expected: "at least one frame",
        })?;
        let umem_err = |reason: String, source: Option<io::Error>| XskError::Umem {
            frames,
            frame_size: cfg.frame_size,
            reason,
            source,
        };
        let ucfg = UmemConfig::builder()
            .frame_size(frame_size)
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(|e| umem_err(e.to_string(), None))?;
        let (umem, descs) = Umem::new(ucfg, frame_count, false).map_err(|e| {
            let source = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<io::Error>())
                .and_then(io::Error::raw_os_error)
                .map(io::Error::from_raw_os_error);
            umem_err(e.to_string(), source)
        })?;

        // Data pointers of every frame, taken once.
        let mut ptrs = Vec::with_capacity(descs.len());
        let mut capacity = usize::MAX;
        for d in &descs {
            let mut d = *d;
            // SAFETY: no socket exists yet, so the kernel owns no frame; the slice is used only
            // to take its address and capacity.
            let mut data = unsafe { umem.data_mut(&mut d) };
            let mut cur = data.cursor();
            let cap = cur.buf_len();
            cur.set_pos(cap);
            capacity = capacity.min(cap);
            ptrs.push(
                NonNull::new(data.contents_mut().as_mut_ptr()).unwrap_or(NonNull::dangling()),
            );
        }
        // SAFETY: each pointer starts a frame's data segment inside the UMEM mmap, valid for
        // `capacity` bytes (the smallest data capacity), frames do not overlap, and the mmap
        // lives as long as the `Umem` clone kept in the FrameMem.
        let mem = unsafe { FrameMem::new(ptrs, capacity, Box::new(umem.clone())) };
        let templates: Arc<[FrameDesc]> = descs.into();
        let pool = Pool::new(new_umem_id(), frames);

        let mut sockets = Vec::with_capacity(sockets_total as usize);
        for (p, spec) in ports.iter().enumerate() {
            let port = PortId(u16::try_from(p).map_err(|_| XskError::Config {
                field: "ports",
                value: ports.len().to_string(),
                expected: "at most 65536 ports",
            })?);
            let iface = Interface::from_str(&spec.interface).map_err(|_| XskError::Config {
                field: "interface",
                value: spec.interface.clone(),
                expected: "an interface name without NUL",
            })?;
            for &queue in &spec.queues {
                let first = sockets.is_empty();
                let bind = if first {
                    BindFlags::XDP_COPY | BindFlags::XDP_USE_NEED_WAKEUP
                } else {
                    // Sharing the UMEM: flags must be 0, they are inherited.
                    BindFlags::empty()
                };
                let scfg = SocketConfig::builder()
                    .rx_queue_size(ring)
                    .tx_queue_size(ring)
                    .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
                    .bind_flags(bind)
                    .build();
                let sock_err = |reason: String, source: Option<io::Error>| XskError::Socket {
                    interface: spec.interface.clone(),
                    queue,
                    reason,
                    source,
                };
                // SAFETY: the UMEM's frames reach rings only through the pool, which keeps each
                // frame in one place; the UMEM outlives the sockets (they hold clones of it).
                let (tx, rx, fq_cq) =
                    unsafe { Socket::new(scfg, &umem, &iface, queue) }.map_err(|e| {
                        let source = std::error::Error::source(&e)
                            .and_then(|s| s.downcast_ref::<io::Error>())
                            .and_then(io::Error::raw_os_error)
                            .map(io::Error::from_raw_os_error);
                        sock_err(e.to_string(), source)
                    })?;
                let (fq, cq) = fq_cq.ok_or_else(|| {
                    sock_err(
                        "no fill/completion ring returned for a new device/queue".into(),
                        None,
                    )
                })?;
                sockets.push((
                    port,
                    XskRings {
                        tx,
                        rx,
                        fq,
                        cq,
                        umem: umem.clone(),
                        templates: templates.clone(),
                        frame_size: cfg.frame_size as usize,
                        ring_size: cfg.ring_size,
                        queue,
                        scratch: Vec::new(),
                        consumed: Vec::new(),
                    },
                ));
            }
        }
        let names = ports.iter().map(|p| p.interface.clone()).collect();
        Ok(Ports::from_parts(mem, pool, names, sockets, cfg.ring_size))
    }

    /// Every socket with its port, queue and fd, for registration in the XSKMAP.
    pub fn sockets(&self) -> Vec<SocketInfo> {
        self.sockets
            .iter()
            .map(|s| SocketInfo {
                port: s.port,
                queue: s.rings.queue,
                fd: s.rings.rx.fd().as_raw_fd(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(queues: u32) -> Vec<PortSpec> {
        vec![PortSpec::all("lo", queues)]
    }

    #[test]
    fn the_automatic_umem_stops_growing_after_four_sockets() {
        assert_eq!(auto_frame_count(0, 1024), 2048);
        assert_eq!(auto_frame_count(2, 1024), 4096);
        assert_eq!(auto_frame_count(4, 1024), 8192);
        assert_eq!(auto_frame_count(200, 1024), 8192);
    }

    #[test]
    fn workers_share_queues_round_robin() {
        let spec = PortSpec::all("v", 4);
        assert_eq!(spec.queues, vec![0, 1, 2, 3]);
        assert_eq!(spec.queues_text(), "0..4");
        let w1 = PortSpec::share("v", 4, 1, 2);
        assert_eq!(w1.queues, vec![1, 3]);
        assert_eq!(w1.queues_text(), "1,3");
        assert_eq!(PortSpec::share("v", 3, 0, 2).queues, vec![0, 2]);
        assert_eq!(PortSpec::share("v", 2, 1, 2).queues_text(), "1..2");
        assert!(PortSpec::share("v", 1, 1, 2).queues.is_empty());
        assert!(PortSpec::share("v", 4, 0, 0).queues.is_empty());
        // Every queue goes to exactly one worker.
        let mut all: Vec<u32> = (0..3)
            .flat_map(|w| PortSpec::share("v", 7, w, 3).queues)
            .collect();
        all.sort_unstable();
        assert_eq!(all, (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn ports_can_move_to_a_worker_thread() {
        fn send<T: Send>() {}
        send::<XskIo>();
        send::<crate::MemIo>();
    }

    #[test]
    fn configuration_errors_are_reported_before_any_syscall() {
        let err = XskIo::open(&port(0), &XskConfig::default()).expect_err("no queues");
        assert!(
            matches!(err, XskError::Config { field: "ports", .. }),
            "{err}"
        );
        let err = XskIo::open(
            &port(1),
            &XskConfig {
                ring_size: 1000,
                ..XskConfig::default()
            },
        )
        .expect_err("ring size");
        assert!(
            matches!(
                err,
                XskError::Config {
                    field: "ring_size",
                    ..
                }
            ),
            "{err}"
        );
        let err = XskIo::open(
            &port(1),
            &XskConfig {
                frame_size: 1000,
                ..XskConfig::default()
            },
        )
        .expect_err("frame size");
        assert!(
            matches!(
                err,
                XskError::Config {
                    field: "frame_size",
                    ..
                }
            ),
            "{err}"
        );
        let mut two = port(1);
        two.push(PortSpec::share("lo", 1, 1, 2));
        let err = XskIo::open(&two, &XskConfig::default()).expect_err("a port without queues");
        assert!(
            matches!(&err, XskError::Config { field: "ports", value, .. } if value.contains("no queue")),
            "{err}"
        );
        let err = XskIo::open(&[], &XskConfig::default()).expect_err("no ports");
        assert!(matches!(err, XskError::Config { .. }), "{err}");
    }
}
