//! Network-namespace guards for privileged end-to-end tests.
//!
//! Contract: a [`NetNs`] is a namespace named `pal-<pid>-<n>-<tag>` that this process created and
//! that is deleted when the guard drops (including during a panic's unwinding); namespaces of
//! earlier test processes that died without cleaning up are swept on first use. Veth pairs are
//! created directly inside the namespaces (`ip -n`), so nothing is ever added to the root
//! namespace. Commands run with `ip -n` / `ip netns exec`; threads enter a namespace with
//! [`NetNs::enter`], which restores the thread's namespace when its guard drops.

use std::{
    fs::File,
    process::{Command, Output, Stdio},
    sync::{
        Once,
        atomic::{AtomicUsize, Ordering},
    },
};

use nix::sched::{CloneFlags, setns};

/// Errors of the harness: the failing command and what it printed.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// A command could not be started.
    #[error("cannot run {command}: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// A command exited unsuccessfully.
    #[error("{command} failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    /// Loading or attaching the XDP program failed.
    #[error(transparent)]
    Bpf(#[from] palisade_bpf::BpfError),
    /// AF_XDP port I/O failed.
    #[error(transparent)]
    Xsk(#[from] palisade_xsk::XskError),
    /// A helper thread panicked or went away.
    #[error("{what}")]
    Thread { what: String },
    /// An I/O operation of a test helper failed.
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Entering or leaving a namespace failed.
    #[error("setns into {namespace} failed: {source}")]
    Setns {
        namespace: String,
        #[source]
        source: std::io::Error,
    },
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static SWEEP: Once = Once::new();

const PREFIX: &str = "pal-";

/// Runs `cmd`, returning its output, or an error with its stderr when it fails.
pub fn run(cmd: &mut Command) -> Result<Output, HarnessError> {
    let command = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| HarnessError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(HarnessError::Command {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out)
}

/// Runs `ip <args>`.
pub fn ip(args: &[&str]) -> Result<Output, HarnessError> {
    run(Command::new("ip").args(args))
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Deletes `pal-<pid>-*` namespaces whose process no longer exists (a test killed by SIGKILL
/// cannot run its guards).
pub fn sweep_stale() {
    let Ok(out) = ip(&["netns", "list"]) else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !pid_alive(pid) {
            eprintln!("netns: removing stale namespace {name} of dead process {pid}");
            let _ = ip(&["netns", "del", name]);
        }
    }
}

/// A network namespace owned by this process; deleted on drop.
#[derive(Debug)]
pub struct NetNs {
    name: String,
}

impl NetNs {
    /// Creates `pal-<pid>-<n>-<tag>` (`tag` keeps failures readable).
    pub fn new(tag: &str) -> Result<Self, HarnessError> {
        SWEEP.call_once(sweep_stale);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{}-{n}-{tag}", std::process::id());
        ip(&["netns", "add", &name])?;
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <ns> <args>`.
    pub fn ip(&self, args: &[&str]) -> Result<Output, HarnessError> {
        let mut cmd = Command::new("ip");
        cmd.arg("-n").arg(&self.name).args(args);
        run(&mut cmd)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `program args...` inside the namespace and waits for it.
    pub fn exec(&self, program: &str, args: &[&str]) -> Result<Output, HarnessError> {
        run(self.command(program).args(args))
    }

    /// Moves the calling thread into this namespace until the guard drops.
    pub fn enter(&self) -> Result<Entered, HarnessError> {
        let err = |namespace: &str| {
            let namespace = namespace.to_owned();
            move |e: std::io::Error| HarnessError::Setns {
                namespace,
                source: e,
            }
        };
        let previous = File::open("/proc/thread-self/ns/net").map_err(err("<current>"))?;
        let target = File::open(format!("/run/netns/{}", self.name)).map_err(err(&self.name))?;
        setns(&target, CloneFlags::CLONE_NEWNET)
            .map_err(|e| err(&self.name)(std::io::Error::from_raw_os_error(e as i32)))?;
        Ok(Entered { previous })
    }

    /// Runs `f` on a new thread inside this namespace and returns its result (a panic in `f`
    /// propagates). The calling thread never changes namespace.
    pub fn run_in<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, HarnessError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let _inside = self.enter()?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Whether `dev` in this namespace has an XDP program attached (per `ip -d link`).
    pub fn has_xdp(&self, dev: &str) -> Result<bool, HarnessError> {
        let out = self.ip(&["-d", "link", "show", "dev", dev])?;
        Ok(String::from_utf8_lossy(&out.stdout).contains("prog/xdp"))
    }

    /// Creates a veth pair `a_name` (in `self`) <-> `b_name` (in `peer`), both up.
    pub fn veth(
        &self,
        a_name: &str,
        peer: &NetNs,
        b_name: &str,
        opts: VethOptions,
    ) -> Result<(), HarnessError> {
        let queues = opts.queues.map(|q| q.to_string());
        let mut args: Vec<&str> = vec!["link", "add", a_name];
        if let Some(q) = &queues {
            args.extend(["numtxqueues", q, "numrxqueues", q]);
        }
        args.extend(["type", "veth", "peer", "name", b_name, "netns", peer.name()]);
        if let Some(q) = &queues {
            args.extend(["numtxqueues", q, "numrxqueues", q]);
        }
        self.ip(&args)?;
        if let Some(n) = opts.channels {
            let n = n.to_string();
            self.exec("ethtool", &["-L", a_name, "rx", &n, "tx", &n])?;
            peer.exec("ethtool", &["-L", b_name, "rx", &n, "tx", &n])?;
        }
        self.ip(&["link", "set", a_name, "up"])?;
        peer.ip(&["link", "set", b_name, "up"])?;
        Ok(())
    }

    /// The MAC address of `dev` in this namespace.
    pub fn mac(&self, dev: &str) -> Result<[u8; 6], HarnessError> {
        let out = self.ip(&["-br", "link", "show", "dev", dev])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let bad = || HarnessError::Command {
            command: format!("ip -n {} -br link show dev {dev}", self.name),
            status: "unparsable".into(),
            stderr: text.to_string(),
        };
        let field = text.split_whitespace().nth(2).ok_or_else(bad)?;
        let mut mac = [0u8; 6];
        let mut parts = field.split(':');
        for byte in &mut mac {
            *byte = parts
                .next()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(bad)?;
        }
        Ok(mac)
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Kill what still runs inside (e.g. a receiver), then delete the namespace; deleting it
        // destroys its veths.
        if let Ok(out) = ip(&["netns", "pids", &self.name]) {
            let me = std::process::id().to_string();
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                // Never ourselves (a thread of this process may still be inside).
                if pid != me {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
        }
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("netns: deleting {} failed: {e}", self.name);
        }
    }
}

/// Options of [`NetNs::veth`].
#[derive(Debug, Clone, Copy, Default)]
pub struct VethOptions {
    /// `numrxqueues`/`numtxqueues`: queues allocated (default: the kernel's, one per CPU).
    pub queues: Option<u32>,
    /// `ethtool -L rx N tx N` on both ends: queues in use (a veth uses 1 by default).
    pub channels: Option<u32>,
}

/// The calling thread is inside a namespace until this drops.
#[derive(Debug)]
#[must_use = "dropping the guard returns the thread to its previous namespace"]
pub struct Entered {
    previous: File,
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Err(e) = setns(&self.previous, CloneFlags::CLONE_NEWNET) {
            eprintln!("netns: returning to the previous namespace failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failing_commands_report_their_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo boom >&2; exit 3"])).expect_err("fails");
        match err {
            HarnessError::Command { status, stderr, .. } => {
                assert!(status.contains('3'), "{status}");
                assert_eq!(stderr, "boom");
            }
            other => panic!("unexpected {other}"),
        }
        let err = run(&mut Command::new("/nonexistent/pal-cmd")).expect_err("no such program");
        assert!(matches!(err, HarnessError::Spawn { .. }), "{err}");
    }
}
