//! Starting, watching and stopping the worker threads, and their counters added up.
//!
//! Contract: [`Workers::start`] runs `min(workers, fewest RX queues of any interface)` workers
//! (a warning says so when that is fewer than configured). Worker `w` owns a UMEM of its own
//! and binds a socket on every RX queue `q` with `q % n == w` of every interface — each worker
//! has at least one queue everywhere, so it can transmit on every port (an AF_XDP socket needs
//! a queue of its own, and sockets of different UMEMs cannot share one). Each runs its own
//! pipeline on a thread pinned to its core. `start` returns once every worker runs, or stops
//! the ones it started and fails.
//!
//! Shared by all workers:
//! - one conntrack table. The veth's RX queue of a frame is chosen by the sender (the CPU or
//!   flow hash on the pod's side), so the two directions of a connection, and even two
//!   packets of one direction, may reach different workers; per-worker tables would see
//!   replies without their requests and drop them. The table (`palisade_dataplane::
//!   conntrack`) is built for this: lookups are lock-free, writers lock two buckets;
//! - the per-port learned MACs (`PortMacs`), for the same reason: the worker that forwards to
//!   a pod may not be one that heard from it;
//! - the flow log (a bounded lock-free queue) and the published snapshot.
//!
//! Only worker 0 sends the ARP/ND probes for unresolved pods (any worker may learn the answer).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use palisade_dataplane::conntrack::{ConntrackConfig, ConntrackTable, Revalidation};
use palisade_dataplane::flowlog::FlowLog;
use palisade_dataplane::forward::PortMacs;
use palisade_dataplane::neigh::NeighConfig;
use palisade_dataplane::pipeline::{Pipeline, PipelineConfig};
use palisade_xsk::{PortSpec, XskConfig, XskError, XskIo};

use super::config::{RevalidationConfig, RunConfig};
use super::worker::{Published, Worker, WorkerStats};
use super::{Node, RunError, runtime};

/// The running workers.
pub(super) struct Workers {
    handles: Vec<JoinHandle<Result<(), XskError>>>,
    stop: Arc<AtomicBool>,
    reports: Vec<Arc<Mutex<WorkerStats>>>,
    pub(super) flowlog: Arc<FlowLog>,
}

/// How many workers run for `wanted` and these per-interface RX queue counts.
pub(super) fn worker_count(wanted: usize, queues: &[u32]) -> usize {
    let fewest = queues.iter().copied().min().unwrap_or(1).max(1);
    wanted.clamp(1, usize::try_from(fewest).unwrap_or(usize::MAX))
}

impl Workers {
    /// Opens every worker's sockets, registers them with the interfaces' programs and starts
    /// the (pinned) workers; returns once all of them run.
    pub(super) fn start(
        config: &RunConfig,
        node: &mut Node,
        shared: Arc<ArcSwap<Published>>,
    ) -> Result<Self, RunError> {
        let mut queues = Vec::with_capacity(node.interfaces.len());
        for interface in &node.interfaces {
            queues.push(
                palisade_bpf::rx_queue_count(interface)
                    .map_err(|e| runtime("counting RX queues")(e.to_string()))?,
            );
        }
        let n = worker_count(config.workers, &queues);
        if n < config.workers {
            let (fewest, interface) = queues
                .iter()
                .zip(&node.interfaces)
                .min_by_key(|(q, _)| **q)
                .map(|(q, i)| (*q, i.as_str()))
                .unwrap_or((0, ""));
            tracing::warn!(
                "workers: {} configured, running {n}: interface {interface} has {fewest} RX \
                 queue(s), and every worker needs a queue of its own on every interface",
                config.workers
            );
        }
        let conntrack = Arc::new(
            ConntrackTable::new(ConntrackConfig {
                revalidation: match config.revalidation {
                    RevalidationConfig::Revalidate => Revalidation::Revalidate,
                    RevalidationConfig::KeepEstablished => Revalidation::KeepEstablished,
                },
                ..ConntrackConfig::with_capacity(config.conntrack_capacity)
            })
            .map_err(|e| RunError::Input(e.to_string()))?,
        );
        let flowlog = Arc::new(FlowLog::new(config.flowlog_capacity));
        let port_macs = Arc::new(PortMacs::new(node.interfaces.len()));
        let xsk = XskConfig {
            frame_count: config.frame_count,
            frame_size: config.frame_size,
            ring_size: config.ring_size,
        };
        let mut workers = Self {
            handles: Vec::with_capacity(n),
            stop: Arc::new(AtomicBool::new(false)),
            reports: Vec::with_capacity(n),
            flowlog: flowlog.clone(),
        };
        for w in 0..n {
            let specs: Vec<PortSpec> = node
                .interfaces
                .iter()
                .zip(&queues)
                .map(|(interface, &count)| PortSpec::share(interface, count, w as u32, n as u32))
                .collect();
            let opened = XskIo::open(&specs, &xsk)
                .map_err(|e| runtime("opening AF_XDP sockets")(e.to_string()))
                .and_then(|io| register(node, &io).map(|()| io));
            let io = match opened {
                Ok(io) => io,
                Err(e) => {
                    workers.stop();
                    return Err(e);
                }
            };
            for spec in &specs {
                tracing::info!(
                    worker = w,
                    interface = %spec.interface,
                    queues = %spec.queues_text(),
                    "AF_XDP sockets bound"
                );
            }
            let pipeline = Pipeline::with_port_macs(
                PipelineConfig {
                    neigh: NeighConfig {
                        gateway_v4: config.gateway_v4,
                        gateway_v6: config.gateway_v6,
                    },
                    ..PipelineConfig::default()
                },
                conntrack.clone(),
                flowlog.clone(),
                port_macs.clone(),
            );
            let mut worker = Worker::new(io, pipeline, config.gateway_v4, config.batch_size);
            worker.set_probing(w == 0);
            if let Err(e) = workers.spawn(config, w, worker, shared.clone()) {
                workers.stop();
                return Err(e);
            }
        }
        Ok(workers)
    }

    fn spawn(
        &mut self,
        config: &RunConfig,
        w: usize,
        mut worker: Worker<XskIo>,
        shared: Arc<ArcSwap<Published>>,
    ) -> Result<(), RunError> {
        let report = Arc::new(Mutex::new(WorkerStats::default()));
        let core = pick_core(config, w);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (t_stop, t_report, pacing) = (self.stop.clone(), report.clone(), config.pacing());
        let handle = std::thread::Builder::new()
            .name(format!("palisade-worker-{w}"))
            .spawn(move || {
                let pinned = core.is_some_and(core_affinity::set_for_current);
                let _ = ready_tx.send(pinned.then_some(core).flatten());
                worker.run(&shared, &t_stop, Instant::now(), pacing, &t_report)
            })
            .map_err(|e| runtime("spawning a worker")(e.to_string()))?;
        self.handles.push(handle);
        self.reports.push(report);
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(Some(core)) => tracing::info!(worker = w, core = core.id, "worker started, pinned"),
            Ok(None) => tracing::info!(worker = w, "worker started, not pinned"),
            Err(_) => return Err(RunError::Runtime(format!("worker {w} did not start"))),
        }
        Ok(())
    }

    /// Number of workers.
    pub(super) fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether a worker has ended (they only end on `stop` or an error).
    pub(super) fn any_finished(&self) -> bool {
        self.handles.iter().any(JoinHandle::is_finished)
    }

    fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }

    /// Stops every worker and waits for it (their counters stay readable); the first failure
    /// wins.
    pub(super) fn join(&mut self) -> Result<(), RunError> {
        self.stop.store(true, Ordering::Relaxed);
        let mut result = Ok(());
        for (w, h) in self.handles.drain(..).enumerate() {
            let joined = match h.join() {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(RunError::Runtime(format!("worker {w} failed: {e}"))),
                Err(_) => Err(RunError::Runtime(format!("worker {w} panicked"))),
            };
            result = result.and(joined);
        }
        result
    }

    /// The counters of all workers, added up.
    pub(super) fn total(&self) -> WorkerStats {
        let mut total = WorkerStats::default();
        for report in &self.reports {
            let s = match report.lock() {
                Ok(g) => g.clone(),
                Err(p) => p.into_inner().clone(),
            };
            add(&mut total, &s);
        }
        total
    }

    /// Logs the added-up counters (`what`: "counters" or "final counters").
    pub(super) fn log_stats(&self, what: &str) {
        if self.reports.len() > 1 {
            // Per worker first: the last `what` line is the total.
            for (w, report) in self.reports.iter().enumerate() {
                let s = match report.lock() {
                    Ok(g) => g.clone(),
                    Err(p) => p.into_inner().clone(),
                };
                tracing::info!(
                    rx = s.pipeline.rx,
                    forwarded = s.pipeline.forwarded,
                    dropped = s.pipeline.drops.total(),
                    batches = s.batches,
                    "worker {w} {what}"
                );
            }
        }
        let s = self.total();
        let p = &s.pipeline;
        tracing::info!(
            workers = self.reports.len(),
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
            busy_polls = s.busy_polls,
            backpressure = s.backpressure,
            neighbour_probes = s.neighbour_probes,
            io_tx = s.io.tx,
            io_anomalies = s.io.anomalies,
            xsk_rx_dropped = s.kernel.rx_dropped,
            xsk_rx_ring_full = s.kernel.rx_ring_full,
            xsk_fill_ring_empty = s.kernel.rx_fill_ring_empty,
            xsk_invalid_descs = s.kernel.rx_invalid_descs + s.kernel.tx_invalid_descs,
            "{what}"
        );
        if s.kernel_unreadable > 0 {
            tracing::warn!(
                sockets = s.kernel_unreadable,
                "{what}: some sockets' kernel counters (XDP_STATISTICS) could not be read"
            );
        }
        let drops: Vec<String> = p
            .drops
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{}={n}", r.as_str()))
            .collect();
        tracing::info!(
            workers = self.reports.len(),
            "{what}: drops by reason: {}",
            drops.join(" ")
        );
    }
}

/// Registers every socket of `io` in the XSKMAP of its interface's program.
fn register(node: &mut Node, io: &XskIo) -> Result<(), RunError> {
    for s in io.sockets() {
        let redirect = node
            .redirects
            .get_mut(usize::from(s.port.0))
            .ok_or_else(|| RunError::Runtime(format!("socket on unknown port {:?}", s.port)))?;
        redirect
            .register_socket(s.queue, s.fd)
            .map_err(|e| runtime("registering a socket in the XSKMAP")(e.to_string()))?;
    }
    Ok(())
}

/// Adds `s` into `total` (the generation is the oldest any worker still runs).
fn add(total: &mut WorkerStats, s: &WorkerStats) {
    total.pipeline.merge(&s.pipeline);
    total.io.add(&s.io);
    total.kernel.add(&s.kernel);
    total.kernel_unreadable += s.kernel_unreadable;
    total.batches += s.batches;
    total.idle_waits += s.idle_waits;
    total.busy_polls += s.busy_polls;
    total.backpressure += s.backpressure;
    total.neighbour_probes += s.neighbour_probes;
    total.generation = if total.generation == 0 {
        s.generation
    } else {
        total.generation.min(s.generation)
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_capped_by_the_fewest_queues() {
        assert_eq!(worker_count(1, &[4, 4]), 1);
        assert_eq!(worker_count(2, &[2, 2]), 2);
        assert_eq!(worker_count(4, &[2, 8]), 2);
        assert_eq!(worker_count(2, &[1, 2]), 1);
        assert_eq!(worker_count(3, &[]), 1);
        assert_eq!(worker_count(0, &[2]), 1);
    }

    #[test]
    fn counters_add_up_across_workers() {
        let mut a = WorkerStats::default();
        a.pipeline.rx = 3;
        a.pipeline.forwarded = 2;
        a.io.tx = 2;
        a.kernel.rx_dropped = 7;
        a.batches = 1;
        a.generation = 4;
        let mut b = a.clone();
        b.pipeline.rx = 5;
        b.generation = 3;
        let mut total = WorkerStats::default();
        add(&mut total, &a);
        add(&mut total, &b);
        assert_eq!(total.pipeline.rx, 8);
        assert_eq!(total.pipeline.forwarded, 4);
        assert_eq!(total.io.tx, 4);
        assert_eq!(total.kernel.rx_dropped, 14);
        assert_eq!(total.batches, 2);
        assert_eq!(total.generation, 3, "the oldest generation still running");
    }
}
