//! A `palisade run` process inside a node namespace, with its stderr collected.
//!
//! Contract: [`Daemon::start`] runs `<binary> run --store DIR --node NAME [--config FILE]` via
//! `ip netns exec`, echoes its stderr (prefixed) to the test's stderr, and returns once a line
//! containing `ready` appears (or fails with the log so far). [`Daemon::reload`] sends SIGHUP and
//! waits for the `reloaded: generation N` line. Dropping the guard sends SIGTERM, waits a few
//! seconds, then SIGKILLs.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, ExitStatus, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use crate::netns::{HarnessError, NetNs};

/// A running `palisade run`.
#[derive(Debug)]
pub struct Daemon {
    child: Option<Child>,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Daemon {
    /// Starts the daemon in `node` and waits (up to `timeout`) for `ready`.
    pub fn start(
        node: &NetNs,
        binary: &Path,
        store: &Path,
        node_name: &str,
        config: Option<&Path>,
        timeout: Duration,
    ) -> Result<Self, HarnessError> {
        let binary = binary.to_string_lossy().into_owned();
        let mut cmd = node.command(&binary);
        cmd.arg("run")
            .arg("--store")
            .arg(store)
            .arg("--node")
            .arg(node_name);
        if let Some(c) = config {
            cmd.arg("--config").arg(c);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                command: format!("{cmd:?}"),
                source,
            })?;
        let (tx, lines) = mpsc::channel();
        if let Some(stderr) = child.stderr.take() {
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    eprintln!("[palisade] {line}");
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let mut d = Self {
            child: Some(child),
            lines,
            log: Vec::new(),
        };
        d.wait_for(|l| l.contains("ready: forwarding"), timeout)
            .map_err(|what| HarnessError::Thread {
                what: format!("palisade run did not become ready: {what}"),
            })?;
        Ok(d)
    }

    /// Waits for a line matching `pred`; the error carries the log so far.
    pub fn wait_for(
        &mut self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> Result<String, String> {
        let start = Instant::now();
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left.max(Duration::from_millis(1))) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if pred(&line) {
                        return Ok(line);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if start.elapsed() < timeout => {}
                Err(e) => {
                    let status = self.try_status();
                    return Err(format!(
                        "{e:?} after {:?} (exit: {status:?}); log:\n{}",
                        start.elapsed(),
                        self.log.join("\n")
                    ));
                }
            }
        }
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends `sig` to the daemon.
    pub fn signal(&self, sig: Signal) -> Result<(), HarnessError> {
        let Some(child) = &self.child else {
            return Err(HarnessError::Thread {
                what: "daemon already stopped".into(),
            });
        };
        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
        kill(Pid::from_raw(pid), sig).map_err(|e| HarnessError::Io {
            what: "signalling palisade",
            source: std::io::Error::from_raw_os_error(e as i32),
        })
    }

    /// SIGHUP, then waits for `reloaded: generation <generation>`.
    pub fn reload(&mut self, generation: u64, timeout: Duration) -> Result<(), HarnessError> {
        self.signal(Signal::SIGHUP)?;
        let want = format!("reloaded: generation {generation},");
        self.wait_for(|l| l.contains(&want), timeout)
            .map(|_| ())
            .map_err(|what| HarnessError::Thread {
                what: format!("no reload to generation {generation}: {what}"),
            })
    }

    /// SIGTERM and wait; returns the exit status and every log line.
    pub fn stop(mut self, timeout: Duration) -> Result<(ExitStatus, Vec<String>), HarnessError> {
        self.signal(Signal::SIGTERM)?;
        let status = self.wait_exit(timeout)?;
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.log.push(line);
        }
        Ok((status, std::mem::take(&mut self.log)))
    }

    fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, HarnessError> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if let Some(status) = self.try_status() {
                self.child = None;
                return Ok(status);
            }
            thread::sleep(Duration::from_millis(50));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        Err(HarnessError::Thread {
            what: format!("palisade did not exit within {timeout:?}"),
        })
    }

    /// Log lines seen so far.
    pub fn log(&self) -> &[String] {
        &self.log
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.signal(Signal::SIGTERM);
            let _ = self.wait_exit(Duration::from_secs(5));
        }
    }
}

/// The value of `name=N` on the last line of `log` that contains `line` (e.g.
/// `"final counters"`).
pub fn counter(log: &[String], line: &str, name: &str) -> Option<u64> {
    let key = format!(" {name}=");
    log.iter()
        .rev()
        .filter(|l| l.contains(line) && !l.contains("drops by reason"))
        .find_map(|l| {
            let rest = &l[l.find(&key)? + key.len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
}

/// The `reason=N` pairs of the last `<what>: drops by reason:` line of `log` (`what`:
/// `"final counters"` or `"counters"`); reasons not listed dropped nothing.
pub fn drops_by_reason(log: &[String], what: &str) -> std::collections::BTreeMap<String, u64> {
    let marker = format!("{what}: drops by reason:");
    let Some(line) = log.iter().rev().find(|l| l.contains(&marker)) else {
        return Default::default();
    };
    let rest = line.split_once(&marker).map_or("", |(_, r)| r);
    rest.split_whitespace()
        .filter_map(|pair| {
            let (name, n) = pair.split_once('=')?;
            Some((name.to_owned(), n.parse().ok()?))
        })
        .filter(|(name, _)| name != "workers")
        .collect()
}
