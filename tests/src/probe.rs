//! Short, parallel probes of what the kernel offers, so privileged tests skip — loudly, with the
//! reason — only when a feature is really missing.
//!
//! Contract: [`probe`] runs each probe on its own thread with a timeout and caches the result for
//! the process; [`require`] prints `SKIP <test>: <reason>` to stderr and returns false when a
//! needed feature is missing. A probe that times out counts as missing (the reason says so).

use std::{
    sync::{OnceLock, mpsc},
    thread,
    time::Duration,
};

use crate::netns::{NetNs, VethOptions};

/// A kernel feature a test needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Creating network namespaces and veth pairs (root, `ip`).
    Netns,
    /// Loading Palisade's XDP program (bpf() + verifier).
    Xdp,
    /// Opening AF_XDP sockets.
    AfXdp,
}

/// The outcome of every probe: `Err(reason)` when missing.
#[derive(Debug, Clone)]
pub struct Probes {
    /// [`Feature::Netns`].
    pub netns: Result<(), String>,
    /// [`Feature::Xdp`].
    pub xdp: Result<(), String>,
    /// [`Feature::AfXdp`].
    pub af_xdp: Result<(), String>,
}

impl Probes {
    /// The result for `feature`.
    pub fn get(&self, feature: Feature) -> &Result<(), String> {
        match feature {
            Feature::Netns => &self.netns,
            Feature::Xdp => &self.xdp,
            Feature::AfXdp => &self.af_xdp,
        }
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

fn with_timeout(
    name: &'static str,
    f: impl FnOnce() -> Result<(), String> + Send + 'static,
) -> mpsc::Receiver<Result<(), String>> {
    let (tx, rx) = mpsc::channel();
    let spawned = thread::Builder::new()
        .name(format!("probe-{name}"))
        .spawn(move || {
            let _ = tx.send(f());
        });
    if let Err(e) = spawned {
        let (tx, rx2) = mpsc::channel();
        let _ = tx.send(Err(format!("cannot spawn probe thread: {e}")));
        return rx2;
    }
    rx
}

fn wait(name: &str, rx: &mpsc::Receiver<Result<(), String>>) -> Result<(), String> {
    match rx.recv_timeout(TIMEOUT) {
        Ok(r) => r,
        Err(_) => Err(format!("{name} probe did not answer within {TIMEOUT:?}")),
    }
}

fn probe_netns() -> Result<(), String> {
    let a = NetNs::new("probe-a").map_err(|e| format!("network namespaces: {e}"))?;
    let b = NetNs::new("probe-b").map_err(|e| format!("network namespaces: {e}"))?;
    a.veth(
        "p0",
        &b,
        "p1",
        VethOptions {
            queues: Some(1),
            channels: None,
        },
    )
    .map_err(|e| format!("veth: {e}"))
}

fn probe_xdp() -> Result<(), String> {
    palisade_bpf::probe_load().map_err(|e| format!("XDP program load: {e}"))
}

fn probe_af_xdp() -> Result<(), String> {
    palisade_xsk::probe_af_xdp().map_err(|e| format!("socket(AF_XDP): {e}"))
}

/// Runs (once per process) all probes in parallel.
pub fn probe() -> &'static Probes {
    static PROBES: OnceLock<Probes> = OnceLock::new();
    PROBES.get_or_init(|| {
        let netns = with_timeout("netns", probe_netns);
        let xdp = with_timeout("xdp", probe_xdp);
        let af_xdp = with_timeout("af_xdp", probe_af_xdp);
        Probes {
            netns: wait("netns", &netns),
            xdp: wait("xdp", &xdp),
            af_xdp: wait("af_xdp", &af_xdp),
        }
    })
}

/// Whether every feature in `needs` is available; otherwise prints why `test` is skipped.
pub fn require(test: &str, needs: &[Feature]) -> bool {
    let probes = probe();
    let missing: Vec<String> = needs
        .iter()
        .filter_map(|f| probes.get(*f).as_ref().err().map(|r| format!("{f:?}: {r}")))
        .collect();
    if missing.is_empty() {
        return true;
    }
    eprintln!(
        "SKIP {test}: kernel/environment lacks {}",
        missing.join("; ")
    );
    false
}
