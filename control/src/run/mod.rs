//! `palisade run`: the privileged node process.
//!
//! ```text
//!  store --load/compile--> Published{snapshot, routes} --ArcSwap--> worker (pinned thread)
//!    ^ SIGHUP: reload, generation+1         XDP redirect on every local pod interface
//!  signalfd (main thread): SIGHUP reload | SIGINT/SIGTERM stop, join, detach | counters
//! ```
//!
//! Contract (DESIGN.md "Contract: palisade run"): run inside the node's network namespace; no
//! config file needed; attaches the XDP program (fail-closed by default) to the host-side
//! interface of every local endpoint, binds AF_XDP sockets on every RX queue, logs what it
//! attached and then a line containing `ready` on stderr. SIGHUP re-reads the store and swaps
//! the compiled snapshot without stopping traffic (an invalid store is logged, the running
//! snapshot stays); SIGINT/SIGTERM stop the workers and detach. Exit codes: 0 clean stop, 1
//! runtime failure, 2 invalid input (config, store, no local endpoint).

pub mod config;
pub mod endpoints;
pub mod worker;

#[cfg(test)]
mod worker_tests;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use palisade_bpf::{AttachOptions, FailureMode, Fallback, Redirect};
use palisade_dataplane::conntrack::{ConntrackConfig, ConntrackTable, Revalidation};
use palisade_dataplane::flowlog::{FlowEvent, FlowLog};
use palisade_dataplane::neigh::NeighConfig;
use palisade_dataplane::packet::MacAddr;
use palisade_dataplane::pipeline::{Pipeline, PipelineConfig};
use palisade_dataplane::policy::unpack_rule_id;
use palisade_xsk::{PortSpec, XskConfig, XskIo};

use crate::compile::compile;
use crate::eval::reference::Failsafes;
use crate::store::Store;
use config::{FailureModeConfig, RevalidationConfig, RunConfig};
use endpoints::{LocalPort, local_ports, routes_for};
use worker::{Published, Worker, WorkerStats};

/// `palisade run` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Directory of manifests (*.yaml, *.yml, *.json, recursively); re-read on SIGHUP.
    #[arg(long)]
    pub store: PathBuf,
    /// This node's name (`spec.nodeName` of its pods, `spec.node` of its WorkloadEndpoints).
    #[arg(long)]
    pub node: String,
    /// Configuration file (YAML, see config/palisade.yaml); defaults apply without it.
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// A failure of `palisade run`, with its exit code.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    Runtime(String),
}

impl RunError {
    fn code(&self) -> u8 {
        match self {
            RunError::Input(_) => 2,
            RunError::Runtime(_) => 1,
        }
    }
}

fn runtime(what: &str) -> impl FnOnce(String) -> RunError + '_ {
    move |e| RunError::Runtime(format!("{what}: {e}"))
}

/// Runs `palisade run` until SIGINT/SIGTERM; the exit code follows the module contract.
pub fn main(args: &RunArgs) -> ExitCode {
    init_logging();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("palisade run: {e}");
            ExitCode::from(e.code())
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

/// Loads the store and finds the local endpoints of `node`.
fn load(store_dir: &Path, node: &str) -> Result<(Store, Vec<LocalPort>), String> {
    let store = Store::load_dir(store_dir).map_err(|e| format!("invalid store: {e}"))?;
    for w in &store.warnings {
        tracing::warn!("store: {w}");
    }
    let (ports, warnings) = local_ports(&store, node);
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok((store, ports))
}

/// Everything attached at start, released in `shutdown`.
struct Node {
    interfaces: Vec<String>,
    macs: Vec<MacAddr>,
    redirects: Vec<Redirect>,
}

fn run(args: &RunArgs) -> Result<(), RunError> {
    let config =
        RunConfig::load(args.config.as_deref()).map_err(|e| RunError::Input(e.to_string()))?;
    let (store, ports) = load(&args.store, &args.node).map_err(RunError::Input)?;
    if ports.is_empty() {
        return Err(RunError::Input(format!(
            "no local endpoint on node {:?} in {}: nothing to enforce (pods need spec.nodeName \
             and the palisade.io/interface annotation; WorkloadEndpoints spec.node and \
             spec.interfaceName)",
            args.node,
            args.store.display()
        )));
    }
    let mut generation = 1;
    let compiled = compile(&store, generation, &Failsafes::default());

    // Signals go to the signalfd only: block them before any thread starts (threads inherit).
    let mut mask = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        mask.add(s);
    }
    mask.thread_block()
        .map_err(|e| runtime("blocking signals")(e.to_string()))?;
    let signals = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| runtime("signalfd")(e.to_string()))?;

    let mut node = attach(&config, &ports)?;
    let (routes, probes, warnings) = match routes_for(&node.interfaces, &node.macs, &ports) {
        Ok(v) => v,
        Err(e) => {
            shutdown(node);
            return Err(RunError::Input(format!("routes: {e}")));
        }
    };
    for w in warnings {
        tracing::warn!("{w}");
    }
    let shared = Arc::new(ArcSwap::from_pointee(Published {
        snapshot: compiled.snapshot,
        routes,
        probes,
    }));

    let started = start_worker(&config, &mut node, shared.clone());
    let (handle, stop, report, flowlog) = match started {
        Ok(v) => v,
        Err(e) => {
            shutdown(node);
            return Err(e);
        }
    };
    tracing::info!(
        "ready: forwarding on {} interfaces ({}), generation {generation}",
        node.interfaces.len(),
        node.interfaces.join(", ")
    );

    let mut last_stats = Instant::now();
    let stats_every = Duration::from_secs(config.stats_interval_s);
    let mut events = Vec::new();
    let outcome = loop {
        match next_signal(&signals) {
            Ok(Some(Signal::SIGHUP)) => {
                let started = Instant::now();
                match reload(args, &node, generation + 1) {
                    Ok((published, timing)) => {
                        generation += 1;
                        let n = published.routes.local_count();
                        let swap_started = Instant::now();
                        shared.store(Arc::new(published));
                        let swap = swap_started.elapsed();
                        tracing::info!(
                            "reloaded: generation {generation}, {} policies, {n} local \
                             addresses in {:.3} ms (load {:.3} ms, compile {:.3} ms, swap {:.3} ms)",
                            timing.policies,
                            ms(started.elapsed()),
                            ms(timing.load),
                            ms(timing.compile),
                            ms(swap),
                        );
                    }
                    Err(e) => {
                        tracing::error!("reload failed, keeping generation {generation}: {e}")
                    }
                }
            }
            Ok(Some(s)) => {
                tracing::info!("{s}: stopping");
                break Ok(());
            }
            Ok(None) => {}
            Err(e) => break Err(runtime("reading signals")(e)),
        }
        if handle.is_finished() {
            break Err(RunError::Runtime("the worker stopped unexpectedly".into()));
        }
        drain_flowlog(&flowlog, &mut events);
        if config.stats_interval_s > 0 && last_stats.elapsed() >= stats_every {
            last_stats = Instant::now();
            log_stats("counters", &report);
        }
    };

    stop.store(true, Ordering::Relaxed);
    let joined = match handle.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(RunError::Runtime(format!("worker failed: {e}"))),
        Err(_) => Err(RunError::Runtime("worker panicked".into())),
    };
    drain_flowlog(&flowlog, &mut events);
    log_stats("final counters", &report);
    shutdown(node);
    outcome.and(joined)
}

/// Waits up to one second for a signal.
fn next_signal(signals: &SignalFd) -> Result<Option<Signal>, String> {
    let mut fds = [PollFd::new(signals.as_fd(), PollFlags::POLLIN)];
    match poll(&mut fds, PollTimeout::from(1000u16)) {
        Ok(0) | Err(nix::errno::Errno::EINTR) => return Ok(None),
        Ok(_) => {}
        Err(e) => return Err(e.to_string()),
    }
    match signals.read_signal() {
        Ok(Some(info)) => Ok(Signal::try_from(info.ssi_signo as i32).ok()),
        Ok(None) | Err(nix::errno::Errno::EAGAIN) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

fn attach_options(config: &RunConfig) -> AttachOptions {
    AttachOptions {
        failure_mode: match config.failure_mode {
            FailureModeConfig::Closed => FailureMode::Closed,
            FailureModeConfig::Open => FailureMode::Open,
        },
        fallback: Fallback::Drop,
        pin_root: config.bpffs.clone(),
        skb_only: config.skb_mode,
    }
}

/// Attaches the XDP program to every local interface (all or nothing).
fn attach(config: &RunConfig, ports: &[LocalPort]) -> Result<Node, RunError> {
    let opts = attach_options(config);
    let mut node = Node {
        interfaces: Vec::new(),
        macs: Vec::new(),
        redirects: Vec::new(),
    };
    for port in ports {
        let attached = interface_mac(&port.interface).and_then(|mac| {
            Redirect::attach(&port.interface, &opts)
                .map(|r| (mac, r))
                .map_err(|e| e.to_string())
        });
        match attached {
            Ok((mac, redirect)) => {
                tracing::info!(
                    interface = %port.interface,
                    mode = ?redirect.mode(),
                    origin = ?redirect.origin(),
                    pinned = redirect.is_pinned(),
                    endpoints = %port.endpoints.join(","),
                    addrs = ?port.addrs,
                    "attached XDP redirect"
                );
                node.interfaces.push(port.interface.clone());
                node.macs.push(mac);
                node.redirects.push(redirect);
            }
            Err(e) => {
                shutdown(node);
                return Err(RunError::Runtime(format!(
                    "attaching to {} ({}): {e}",
                    port.interface,
                    port.endpoints.join(", ")
                )));
            }
        }
    }
    Ok(node)
}

/// The MAC of `interface` in this network namespace.
fn interface_mac(interface: &str) -> Result<MacAddr, String> {
    let addrs = nix::ifaddrs::getifaddrs().map_err(|e| format!("getifaddrs: {e}"))?;
    for a in addrs {
        if a.interface_name != interface {
            continue;
        }
        if let Some(mac) = a
            .address
            .as_ref()
            .and_then(|s| s.as_link_addr())
            .and_then(|l| l.addr())
        {
            return Ok(MacAddr(mac));
        }
    }
    Err(format!(
        "no interface {interface} (or it has no MAC) in this network namespace"
    ))
}

type Started = (
    JoinHandle<Result<(), palisade_xsk::XskError>>,
    Arc<AtomicBool>,
    Arc<Mutex<WorkerStats>>,
    Arc<FlowLog>,
);

/// Opens the sockets, registers them with the programs and starts the (pinned) worker; returns
/// once it runs.
fn start_worker(
    config: &RunConfig,
    node: &mut Node,
    shared: Arc<ArcSwap<Published>>,
) -> Result<Started, RunError> {
    let mut specs = Vec::with_capacity(node.interfaces.len());
    for interface in &node.interfaces {
        let queues = palisade_bpf::rx_queue_count(interface)
            .map_err(|e| runtime("counting RX queues")(e.to_string()))?;
        specs.push(PortSpec::all(interface, queues));
    }
    let xsk = XskConfig {
        frame_count: config.frame_count,
        frame_size: config.frame_size,
        ring_size: config.ring_size,
    };
    let io =
        XskIo::open(&specs, &xsk).map_err(|e| runtime("opening AF_XDP sockets")(e.to_string()))?;
    for s in io.sockets() {
        let redirect = node
            .redirects
            .get_mut(usize::from(s.port.0))
            .ok_or_else(|| RunError::Runtime(format!("socket on unknown port {:?}", s.port)))?;
        redirect
            .register_socket(s.queue, s.fd)
            .map_err(|e| runtime("registering a socket in the XSKMAP")(e.to_string()))?;
    }
    for spec in &specs {
        tracing::info!(interface = %spec.interface, queues = ?spec.queues, "AF_XDP sockets bound");
    }
    let conntrack = ConntrackTable::new(ConntrackConfig {
        revalidation: match config.revalidation {
            RevalidationConfig::Revalidate => Revalidation::Revalidate,
            RevalidationConfig::KeepEstablished => Revalidation::KeepEstablished,
        },
        ..ConntrackConfig::with_capacity(config.conntrack_capacity)
    })
    .map_err(|e| RunError::Input(e.to_string()))?;
    let flowlog = Arc::new(FlowLog::new(config.flowlog_capacity));
    let pipeline = Pipeline::new(
        PipelineConfig {
            neigh: NeighConfig {
                gateway_v4: config.gateway_v4,
                gateway_v6: config.gateway_v6,
            },
            ..PipelineConfig::default()
        },
        Arc::new(conntrack),
        flowlog.clone(),
    );
    let mut worker = Worker::new(io, pipeline, config.gateway_v4, config.batch_size);
    let stop = Arc::new(AtomicBool::new(false));
    let report = Arc::new(Mutex::new(WorkerStats::default()));
    let core = pick_core(config, 0);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (t_stop, t_report, idle) = (stop.clone(), report.clone(), config.idle_poll());
    let handle = std::thread::Builder::new()
        .name("palisade-worker-0".into())
        .spawn(move || {
            let pinned = core.is_some_and(core_affinity::set_for_current);
            let _ = ready_tx.send(pinned.then_some(core).flatten());
            worker.run(&shared, &t_stop, Instant::now(), idle, &t_report)
        })
        .map_err(|e| runtime("spawning the worker")(e.to_string()))?;
    match ready_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Some(core)) => tracing::info!(worker = 0, core = core.id, "worker started, pinned"),
        Ok(None) => tracing::info!(worker = 0, "worker started, not pinned"),
        Err(_) => {
            stop.store(true, Ordering::Relaxed);
            return Err(RunError::Runtime("the worker did not start".into()));
        }
    }
    Ok((handle, stop, report, flowlog))
}

/// The core worker `i` is pinned to, if pinning is on and the core exists.
fn pick_core(config: &RunConfig, i: usize) -> Option<core_affinity::CoreId> {
    if !config.pin_workers {
        return None;
    }
    let cores = core_affinity::get_core_ids()?;
    let wanted = if config.cpus.is_empty() {
        cores.get(i % cores.len().max(1))?.id
    } else {
        *config.cpus.get(i % config.cpus.len())?
    };
    cores.into_iter().find(|c| c.id == wanted)
}

/// Re-reads the store and compiles it as `generation` for the interfaces attached at start.
/// Where a reload's time went (the swap itself is timed by the caller).
struct ReloadTiming {
    load: Duration,
    compile: Duration,
    /// Policies in the store (enforced and staged).
    policies: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn reload(
    args: &RunArgs,
    node: &Node,
    generation: u64,
) -> Result<(Published, ReloadTiming), String> {
    let started = Instant::now();
    let (store, ports) = load(&args.store, &args.node)?;
    let loaded = Instant::now();
    let compiled = compile(&store, generation, &Failsafes::default());
    let timing = ReloadTiming {
        load: loaded - started,
        compile: loaded.elapsed(),
        policies: store.policies.len(),
    };
    let (routes, probes, warnings) =
        routes_for(&node.interfaces, &node.macs, &ports).map_err(|e| format!("routes: {e}"))?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok((
        Published {
            snapshot: compiled.snapshot,
            routes,
            probes,
        },
        timing,
    ))
}

fn drain_flowlog(flowlog: &FlowLog, events: &mut Vec<FlowEvent>) {
    events.clear();
    flowlog.drain_into(events, 4096);
    for e in events.iter() {
        tracing::debug!(
            flow = ?e.key,
            verdict = ?e.verdict,
            rule = ?unpack_rule_id(e.rule_id),
            generation = e.generation,
            reason = ?e.reason,
            "flow"
        );
    }
}

fn log_stats(what: &str, report: &Mutex<WorkerStats>) {
    let s = match report.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    };
    let p = &s.pipeline;
    tracing::info!(
        worker = 0,
        generation = s.generation,
        rx = p.rx,
        forwarded = p.forwarded,
        replied = p.replied,
        dropped = p.drops.total(),
        policy_decisions = p.policy_decisions,
        policy_denies = p.policy_denies,
        conntrack_hits = p.conntrack_hits,
        revalidations = p.revalidations,
        revalidation_denies = p.revalidation_denies,
        batches = s.batches,
        idle_waits = s.idle_waits,
        backpressure = s.backpressure,
        neighbour_probes = s.neighbour_probes,
        io_tx = s.io.tx,
        io_anomalies = s.io.anomalies,
        "{what}"
    );
    let drops: Vec<String> = p
        .drops
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(r, n)| format!("{}={n}", r.as_str()))
        .collect();
    tracing::info!(worker = 0, "{what}: drops by reason: {}", drops.join(" "));
}

/// Detaches every program (and removes fail-closed pins): a clean stop.
fn shutdown(node: Node) {
    for redirect in node.redirects {
        let interface = redirect.interface().to_owned();
        match redirect.detach() {
            Ok(()) => tracing::info!(interface = %interface, "detached"),
            Err(e) => tracing::error!(interface = %interface, "detaching failed: {e}"),
        }
    }
}
