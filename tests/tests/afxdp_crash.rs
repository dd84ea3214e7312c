//! Privileged: what a crash (SIGKILL) of the dataplane process does to traffic.
//!
//! The dataplane runs in a child process (this test binary re-executed to run the ignored
//! `afxdp_crash_victim` test, which enters the node namespace with setns and forwards until it is
//! killed). Fail-closed: the pinned programs outlive the process and drop every frame; a new
//! loader takes them over. Fail-open: the kernel detaches the programs when the process dies.
//!
//! The child stays in the test's mount namespace, so the bpffs it mounts (a private instance
//! under /tmp, removed by the test) outlives it. A dataplane started with `ip netns exec` gets a
//! private mount namespace instead, where a bpffs it mounts itself dies with it: mount bpffs at
//! the pin root beforehand (the loader warns).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{atomic::AtomicBool, mpsc},
    time::Duration,
};

use palisade_bpf::{AttachOptions, FailureMode, Origin};
use palisade_tests::{
    bpffs::TempBpffs,
    dataplane::{BareDataplane, serve},
    netns::VethOptions,
    pods::{HOST_IFS, TwoPods},
    probe::{Feature, require},
};

const ENV: &str = "PALISADE_CRASH_VICTIM";
const PAYLOAD: &[u8] = b"before and after the crash";

fn hex(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> [u8; 6] {
    let mut mac = [0u8; 6];
    for (i, b) in mac.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex mac");
    }
    mac
}

/// The child process: forwards until killed. Does nothing unless the parent set `ENV`.
#[test]
#[ignore = "run by the afxdp_crash tests as a child process"]
fn afxdp_crash_victim() {
    let Ok(spec) = std::env::var(ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let [ns, pin_root, mode, mac_a, mac_b, peer_a, peer_b] = parts[..] else {
        panic!("bad {ENV}: {spec}");
    };
    let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("node namespace");
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
    let opts = AttachOptions {
        pin_root: pin_root.into(),
        failure_mode: if mode == "open" {
            FailureMode::Open
        } else {
            FailureMode::Closed
        },
        ..AttachOptions::default()
    };
    let never = AtomicBool::new(false);
    serve(
        HOST_IFS,
        [unhex(mac_a), unhex(mac_b)],
        [Some(unhex(peer_a)), Some(unhex(peer_b))],
        &opts,
        |_| println!("\nPALISADE-VICTIM-READY"),
        &never,
    )
    .expect("victim dataplane");
}

/// The child; SIGKILLed on drop if still running.
struct Victim(Child);

/// How the victim process gets into the node namespace.
#[derive(Clone, Copy, PartialEq)]
enum Launch {
    /// `setns` from inside (stays in the test's mount namespace).
    Setns,
    /// `ip netns exec` (a private mount namespace with /sys remounted).
    IpNetnsExec,
}

impl Victim {
    fn spawn(t: &TwoPods, pin_root: &std::path::Path, mode: &str) -> Self {
        Self::launch(t, pin_root, mode, Launch::Setns)
    }

    fn launch(t: &TwoPods, pin_root: &std::path::Path, mode: &str, how: Launch) -> Self {
        let macs = t.host_macs().expect("macs");
        let peers = t.pod_macs().expect("pod macs");
        let spec = format!(
            "{}|{}|{mode}|{}|{}|{}|{}",
            t.node.name(),
            pin_root.display(),
            hex(macs[0]),
            hex(macs[1]),
            hex(peers[0]),
            hex(peers[1])
        );
        let exe = std::env::current_exe().expect("test binary");
        let mut cmd = match how {
            Launch::Setns => Command::new(exe),
            Launch::IpNetnsExec => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", t.node.name()]).arg(exe);
                c
            }
        };
        let mut child = cmd
            .args([
                "afxdp_crash_victim",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(ENV, spec)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn victim");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("PALISADE-VICTIM-READY") {
                    let _ = tx.send(());
                }
            }
        });
        let victim = Self(child);
        rx.recv_timeout(Duration::from_secs(30))
            .expect("victim dataplane became ready");
        victim
    }

    fn kill(mut self) {
        self.0.kill().expect("SIGKILL");
        self.0.wait().expect("reap");
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn setup(test: &str) -> Option<(TwoPods, TempBpffs)> {
    if !require(test, &[Feature::Netns, Feature::Xdp, Feature::AfXdp]) {
        return None;
    }
    let t = TwoPods::new(VethOptions::default()).expect("topology");
    Some((t, TempBpffs::new().expect("temp bpffs")))
}

#[test]
fn afxdp_crash_fail_closed_keeps_dropping_until_takeover() {
    let Some((t, bpffs)) = setup("afxdp_crash_fail_closed") else {
        return;
    };
    let victim = Victim::spawn(&t, bpffs.path(), "closed");
    assert!(
        t.udp(PAYLOAD, Duration::from_secs(5))
            .expect("udp")
            .is_some(),
        "the child process forwards"
    );
    victim.kill();
    for dev in HOST_IFS {
        assert!(
            t.node.has_xdp(dev).expect("ip link"),
            "{dev}: program outlives the crash"
        );
    }
    assert!(
        t.udp(PAYLOAD, Duration::from_millis(800))
            .expect("udp")
            .is_none(),
        "frames are dropped after the crash"
    );
    assert!(!t.ping(2));
    let dp = BareDataplane::start(
        &t.node,
        HOST_IFS,
        t.host_macs().expect("macs"),
        t.pod_macs().expect("pod macs").map(Some),
        AttachOptions {
            pin_root: bpffs.path().to_path_buf(),
            ..AttachOptions::default()
        },
    )
    .expect("restart");
    assert!(
        dp.ready()
            .origins
            .iter()
            .all(|o| matches!(o, Origin::TakenOver { .. }))
    );
    assert!(
        t.udp(PAYLOAD, Duration::from_secs(5))
            .expect("udp")
            .is_some(),
        "traffic resumes after takeover"
    );
    dp.stop().expect("stop");
}

#[test]
fn afxdp_crash_fail_open_detaches() {
    let Some((t, bpffs)) = setup("afxdp_crash_fail_open") else {
        return;
    };
    let victim = Victim::spawn(&t, bpffs.path(), "open");
    assert!(
        t.udp(PAYLOAD, Duration::from_secs(5))
            .expect("udp")
            .is_some(),
        "the child process forwards"
    );
    for dev in HOST_IFS {
        assert!(t.node.has_xdp(dev).expect("ip link"));
    }
    victim.kill();
    for dev in HOST_IFS {
        assert!(
            !t.node.has_xdp(dev).expect("ip link"),
            "{dev}: the kernel detached the program when the process died"
        );
    }
    assert_eq!(files_under(bpffs.path()), 0, "fail-open pins nothing");
}

/// Number of files (not directories) below `dir`.
fn files_under(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| {
                    if e.path().is_dir() {
                        files_under(&e.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn afxdp_crash_under_ip_netns_exec_needs_a_premounted_bpffs() {
    let Some((t, own_mount)) = setup("afxdp_crash_ip_netns_exec") else {
        return;
    };
    // The process mounts bpffs itself inside `ip netns exec`'s private mount namespace: the
    // pins die with it, so the crash detaches the programs (the loader warns about this).
    let victim = Victim::launch(&t, own_mount.path(), "closed", Launch::IpNetnsExec);
    assert!(t.node.has_xdp(HOST_IFS[0]).expect("ip link"));
    victim.kill();
    assert!(
        !t.node.has_xdp(HOST_IFS[0]).expect("ip link"),
        "pins in a private mount namespace die with the process"
    );
    // bpffs mounted beforehand in the host's mount namespace: the pins outlive the process.
    let premounted = TempBpffs::new().expect("temp bpffs");
    premounted.mount().expect("mount bpffs");
    let victim = Victim::launch(&t, premounted.path(), "closed", Launch::IpNetnsExec);
    victim.kill();
    for dev in HOST_IFS {
        assert!(
            t.node.has_xdp(dev).expect("ip link"),
            "{dev}: pinned program survives"
        );
    }
    assert!(
        t.udp(PAYLOAD, Duration::from_millis(800))
            .expect("udp")
            .is_none(),
        "and drops frames"
    );
    drop(premounted);
    assert!(!t.node.has_xdp(HOST_IFS[0]).expect("ip link"));
}
