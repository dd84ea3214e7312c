//! The bare AF_XDP dataplane (XDP redirect + one UMEM + [`BareForwarder`]) between two
//! interfaces of a node namespace, for end-to-end tests and the `xsk-bare` configuration.
//!
//! Contract: [`serve`] attaches the program to both interfaces, binds a socket on every RX queue
//! with one shared UMEM, registers the sockets in the XSKMAPs, reports readiness, and forwards
//! until `stop` is set; it must run on a thread inside the node namespace. Pod MACs (`peers`)
//! are given or learned from the pods' frames (a quiet pod is never learned: give them). [`BareDataplane`]
//! runs it on its own thread entered into a [`NetNs`], and stops it on drop. When `serve`
//! returns, sockets and program handles are closed as in a crash: in fail-closed mode the pinned
//! programs stay attached and drop every frame.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::Duration,
};

use palisade_bpf::{AttachMode, AttachOptions, Origin, Redirect};
use palisade_xsk::{
    IoStats, PortSpec, XskConfig, XskIo,
    bare::{BareForwarder, BarePort, BareStats},
};

use crate::{
    netns::{HarnessError, NetNs},
    pods::GATEWAY,
};

/// What [`serve`] reports once it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ready {
    /// Per interface: attached by this run or taken over.
    pub origins: [Origin; 2],
    /// Per interface: the attach mode.
    pub modes: [AttachMode; 2],
    /// Sockets bound (RX queues of both interfaces).
    pub sockets: usize,
}

/// Counters at the end of [`serve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    /// Forwarder counters.
    pub forwarder: BareStats,
    /// Port I/O counters.
    pub io: IoStats,
    /// Invalid RX + TX descriptors the kernel counted over all sockets (`XDP_STATISTICS`).
    pub kernel_invalid_descs: u64,
    /// Frames the kernel dropped for want of fill entries or RX ring room, over all sockets.
    pub kernel_rx_dropped: u64,
}

/// Runs the dataplane on the calling thread (inside the node namespace) until `stop`.
pub fn serve(
    interfaces: [&str; 2],
    macs: [[u8; 6]; 2],
    peers: [Option<[u8; 6]>; 2],
    opts: &AttachOptions,
    ready: impl FnOnce(Ready),
    stop: &AtomicBool,
) -> Result<Served, HarnessError> {
    let mut progs = [
        Redirect::attach(interfaces[0], opts)?,
        Redirect::attach(interfaces[1], opts)?,
    ];
    let mut specs = Vec::with_capacity(2);
    for interface in interfaces {
        specs.push(PortSpec::all(
            interface,
            palisade_bpf::rx_queue_count(interface)?,
        ));
    }
    let cfg = XskConfig {
        ring_size: 512,
        ..XskConfig::default()
    };
    let mut io = XskIo::open(&specs, &cfg)?;
    for s in io.sockets() {
        progs[usize::from(s.port.0)].register_socket(s.queue, s.fd)?;
    }
    ready(Ready {
        origins: [progs[0].origin(), progs[1].origin()],
        modes: [progs[0].mode(), progs[1].mode()],
        sockets: io.sockets().len(),
    });
    let mut fwd = BareForwarder::new(
        GATEWAY,
        [
            BarePort {
                mac: macs[0],
                peer: peers[0],
            },
            BarePort {
                mac: macs[1],
                peer: peers[1],
            },
        ],
    );
    let pacing = palisade_xsk::Pacing {
        busy_poll: Duration::from_micros(100),
        idle_poll: Duration::from_millis(50),
    };
    let forwarder = fwd.run(&mut io, stop, pacing)?;
    let (k, _) = io.kernel_stats();
    let invalid = k.rx_invalid_descs + k.tx_invalid_descs;
    let dropped = k.rx_lost();
    Ok(Served {
        forwarder,
        io: io.stats().clone(),
        kernel_invalid_descs: invalid,
        kernel_rx_dropped: dropped,
    })
}

/// [`serve`] on its own thread inside a namespace; stopped (and joined) on drop.
#[derive(Debug)]
pub struct BareDataplane {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<Result<Served, HarnessError>>>,
    ready: Ready,
}

impl BareDataplane {
    /// Starts the dataplane between `interfaces` of `node` and waits until it forwards.
    pub fn start(
        node: &NetNs,
        interfaces: [&str; 2],
        macs: [[u8; 6]; 2],
        peers: [Option<[u8; 6]>; 2],
        opts: AttachOptions,
    ) -> Result<Self, HarnessError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let ns_path = format!("/run/netns/{}", node.name());
        let names = interfaces.map(str::to_owned);
        let thread_stop = stop.clone();
        let handle = thread::Builder::new()
            .name("bare-dataplane".into())
            .spawn(move || -> Result<Served, HarnessError> {
                let ns = std::fs::File::open(&ns_path).map_err(|source| HarnessError::Io {
                    what: "opening the node namespace",
                    source,
                })?;
                nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                    HarnessError::Setns {
                        namespace: ns_path.clone(),
                        source: std::io::Error::from_raw_os_error(e as i32),
                    }
                })?;
                serve(
                    [&names[0], &names[1]],
                    macs,
                    peers,
                    &opts,
                    |r| {
                        let _ = tx.send(r);
                    },
                    &thread_stop,
                )
            })
            .map_err(|source| HarnessError::Io {
                what: "spawning the dataplane thread",
                source,
            })?;
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(ready) => Ok(Self {
                stop,
                handle: Some(handle),
                ready,
            }),
            Err(_) => {
                stop.store(true, Ordering::Relaxed);
                match handle.join() {
                    Ok(Err(e)) => Err(e),
                    Ok(Ok(_)) => Err(HarnessError::Thread {
                        what: "dataplane exited before it was ready".into(),
                    }),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        }
    }

    /// What the dataplane reported when it became ready.
    pub fn ready(&self) -> Ready {
        self.ready
    }

    /// Stops forwarding, closes sockets and program handles (a crash, as far as the kernel can
    /// tell), and returns the counters.
    pub fn stop(mut self) -> Result<Served, HarnessError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<Served, HarnessError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => Err(HarnessError::Thread {
                what: "dataplane already stopped".into(),
            }),
        }
    }
}

impl Drop for BareDataplane {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // No resume_unwind here: we may already be unwinding.
        match self.handle.take().map(thread::JoinHandle::join) {
            Some(Ok(Err(e))) => eprintln!("dataplane: {e}"),
            Some(Err(_)) => eprintln!("dataplane: thread panicked"),
            _ => {}
        }
    }
}
