//! `palisade run`: the privileged node process.
//!
//! ```text
//!  store --load/compile--> Published{snapshot, routes} --ArcSwap--> workers 0..n (pinned)
//!    ^ SIGHUP: reload, generation+1     XDP redirect on every local pod interface + uplink
//!  signalfd (main thread): SIGHUP reload | SIGINT/SIGTERM stop, join, detach | counters
//! ```
//!
//! Contract (DESIGN.md "Contract: palisade run"): run inside the node's network namespace; no
//! config file needed; attaches the XDP program (fail-closed by default) to the host-side
//! interface of every local endpoint and to the configured uplink, binds AF_XDP sockets on
//! every RX queue (split among the workers, see `workers`), logs what it attached and then a
//! line containing `ready` on stderr. Pods reach non-local destinations through the uplink
//! (destination MAC: the configured next hop, source: the uplink's MAC); frames arriving on
//! the uplink reach local pods (their ingress policy applies; the sender is no endpoint) and
//! anything else from it is dropped (`no-route`), as is traffic to non-local destinations
//! without an uplink. SIGHUP re-reads the store and swaps
//! the compiled snapshot without stopping traffic (an invalid store is logged, the running
//! snapshot stays); SIGINT/SIGTERM stop the workers and detach. Exit codes: 0 clean stop, 1
//! runtime failure, 2 invalid input (config, store, no local endpoint).

pub mod config;
pub mod endpoints;
mod flowlog;
pub mod worker;
mod workers;

#[cfg(test)]
mod worker_tests;

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use palisade_bpf::{AttachOptions, FailureMode, Fallback, Redirect};
use palisade_dataplane::flowlog::{FlowEvent, FlowLog};
use palisade_dataplane::forward::{PortId, RouteError};
use palisade_dataplane::packet::MacAddr;

use crate::compile::compile;
use crate::eval::reference::Failsafes;
use crate::store::{Store, StoreLoader};
use config::{FailureModeConfig, RunConfig};
use endpoints::{LocalPort, RoutesFor, UplinkPort, local_ports, routes_for};
use flowlog::FlowReporter;
use worker::Published;
use workers::Workers;

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

/// Loads the store (parsing only the files that changed since `loader`'s last load) and finds
/// the local endpoints of `node`.
fn load(
    loader: &mut StoreLoader,
    store_dir: &Path,
    node: &str,
) -> Result<(Store, Vec<LocalPort>), String> {
    let store = loader
        .load_dir(store_dir)
        .map_err(|e| format!("invalid store: {e}"))?;
    for w in &store.warnings {
        tracing::warn!("store: {w}");
    }
    let (ports, warnings) = local_ports(&store, node);
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok((store, ports))
}

/// Everything attached at start, released in `shutdown`. Ports are numbered as listed: the
/// pod interfaces (`pods` of them), then the uplink if there is one.
struct Node {
    interfaces: Vec<String>,
    macs: Vec<MacAddr>,
    redirects: Vec<Redirect>,
    pods: usize,
    uplink: Option<UplinkPort>,
}

impl Node {
    /// The route table (and neighbour probes) for the local endpoints `ports`.
    fn routes(&self, ports: &[LocalPort]) -> Result<RoutesFor, RouteError> {
        routes_for(
            self.interfaces.get(..self.pods).unwrap_or_default(),
            self.macs.get(..self.pods).unwrap_or_default(),
            self.uplink.as_ref(),
            ports,
        )
    }
}

fn run(args: &RunArgs) -> Result<(), RunError> {
    let config =
        RunConfig::load(args.config.as_deref()).map_err(|e| RunError::Input(e.to_string()))?;
    let mut loader = StoreLoader::new();
    let (store, ports) = load(&mut loader, &args.store, &args.node).map_err(RunError::Input)?;
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
    let (routes, probes, warnings) = match node.routes(&ports) {
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

    let mut workers = match Workers::start(&config, &mut node, shared.clone()) {
        Ok(v) => v,
        Err(e) => {
            shutdown(node);
            return Err(e);
        }
    };
    let uplink = node
        .uplink
        .as_ref()
        .and_then(|u| node.interfaces.get(usize::from(u.port)))
        .map_or(String::new(), |i| format!(", uplink {i}"));
    tracing::info!(
        "ready: forwarding on {} interfaces ({}{uplink}) with {} workers, generation {generation}",
        node.pods,
        node.interfaces
            .get(..node.pods)
            .unwrap_or_default()
            .join(", "),
        workers.len(),
    );

    let mut last_stats = Instant::now();
    let stats_every = Duration::from_secs(config.stats_interval_s);
    let mut events = Vec::new();
    let mut flow_reporter = FlowReporter::new(config.flowlog_denies_per_second);
    let outcome = loop {
        match next_signal(&signals) {
            Ok(Some(Signal::SIGHUP)) => {
                let started = Instant::now();
                match reload(&mut loader, args, &node, generation + 1) {
                    Ok((published, timing)) => {
                        generation += 1;
                        let n = published.routes.local_count();
                        let swap_started = Instant::now();
                        shared.store(Arc::new(published));
                        let swap = swap_started.elapsed();
                        tracing::info!(
                            "reloaded: generation {generation}, {} policies, {n} local \
                             addresses in {:.3} ms (load {:.3} ms, compile {:.3} ms, swap \
                             {:.3} ms), {} changed files parsed",
                            timing.policies,
                            ms(started.elapsed()),
                            ms(timing.load),
                            ms(timing.compile),
                            ms(swap),
                            timing.parsed,
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
        if workers.any_finished() {
            break Err(RunError::Runtime("a worker stopped unexpectedly".into()));
        }
        drain_flowlog(&workers.flowlog, &mut events, &mut flow_reporter, &shared);
        if config.stats_interval_s > 0 && last_stats.elapsed() >= stats_every {
            last_stats = Instant::now();
            workers.log_stats("counters");
        }
    };

    let joined = workers.join();
    drain_flowlog(&workers.flowlog, &mut events, &mut flow_reporter, &shared);
    workers.log_stats("final counters");
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

/// Attaches the XDP program to every local pod interface, then to the uplink if one is
/// configured (all or nothing).
fn attach(config: &RunConfig, ports: &[LocalPort]) -> Result<Node, RunError> {
    let opts = attach_options(config);
    let mut node = Node {
        interfaces: Vec::new(),
        macs: Vec::new(),
        redirects: Vec::new(),
        pods: 0,
        uplink: None,
    };
    let uplink = config.uplink.as_ref().map(|u| u.interface.as_str());
    if let Some(pod) = ports.iter().find(|p| Some(p.interface.as_str()) == uplink) {
        return Err(RunError::Input(format!(
            "the uplink interface {} is also the interface of {}",
            pod.interface,
            pod.endpoints.join(", ")
        )));
    }
    let wanted = ports
        .iter()
        .map(|p| (p.interface.as_str(), Some(p)))
        .chain(uplink.map(|u| (u, None)));
    for (interface, port) in wanted {
        let attached = interface_mac(interface).and_then(|mac| {
            Redirect::attach(interface, &opts)
                .map(|r| (mac, r))
                .map_err(|e| e.to_string())
        });
        let endpoints = port.map_or("uplink".to_owned(), |p| p.endpoints.join(","));
        match attached {
            Ok((mac, redirect)) => {
                tracing::info!(
                    interface = %interface,
                    mode = ?redirect.mode(),
                    origin = ?redirect.origin(),
                    pinned = redirect.is_pinned(),
                    endpoints = %endpoints,
                    addrs = ?port.map(|p| &p.addrs),
                    "attached XDP redirect"
                );
                node.interfaces.push(interface.to_owned());
                node.macs.push(mac);
                node.redirects.push(redirect);
                match (port, config.uplink_next_hop()) {
                    (Some(_), _) => node.pods += 1,
                    (None, Some(next_hop)) => {
                        node.uplink = Some(UplinkPort {
                            port: PortId::try_from(node.pods).unwrap_or(PortId::MAX),
                            mac,
                            next_hop,
                        });
                    }
                    (None, None) => {}
                }
            }
            Err(e) => {
                shutdown(node);
                return Err(RunError::Runtime(format!(
                    "attaching to {interface} ({endpoints}): {e}"
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

/// Where a reload's time went (the swap itself is timed by the caller).
struct ReloadTiming {
    load: Duration,
    /// Files parsed (the others had not changed since the last load).
    parsed: usize,
    compile: Duration,
    /// Policies in the store (enforced and staged).
    policies: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Re-reads the store and compiles it as `generation` for the interfaces attached at start.
fn reload(
    loader: &mut StoreLoader,
    args: &RunArgs,
    node: &Node,
    generation: u64,
) -> Result<(Published, ReloadTiming), String> {
    let started = Instant::now();
    let (store, ports) = load(loader, &args.store, &args.node)?;
    let loaded = Instant::now();
    let compiled = compile(&store, generation, &Failsafes::default());
    let timing = ReloadTiming {
        load: loaded - started,
        parsed: loader.last_parsed(),
        compile: loaded.elapsed(),
        policies: store.policies.len(),
    };
    let (routes, probes, warnings) = node.routes(&ports).map_err(|e| format!("routes: {e}"))?;
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

/// Drains the workers' flow events and reports them (see `flowlog`).
fn drain_flowlog(
    flowlog: &FlowLog,
    events: &mut Vec<FlowEvent>,
    reporter: &mut FlowReporter,
    shared: &ArcSwap<Published>,
) {
    events.clear();
    flowlog.drain_into(events, 4096);
    if !events.is_empty() {
        reporter.report(events, &shared.load().snapshot, Instant::now());
    }
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
