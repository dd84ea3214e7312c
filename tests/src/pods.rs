//! A node namespace with two pod namespaces wired as Palisade expects, and traffic helpers.
//!
//! Contract: [`TwoPods::new`] builds, inside namespaces it owns, pod A (10.0.0.1/32) and pod B
//! (10.0.0.2/32), each with `eth0` routed via the link-local gateway 169.254.1.1 (Calico's
//! convention; nothing answers for it until a dataplane does) and TX checksum offload off (as
//! the CNI does for Palisade), connected by veths to `ha` / `hb` in the node namespace.
//! [`TwoPods::udp`] and [`TwoPods::ping`] send only between the two pods.

use std::{
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use crate::netns::{HarnessError, NetNs, VethOptions};

/// Pod A's address.
pub const POD_A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// Pod B's address.
pub const POD_B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// The pods' gateway.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);
/// Host-side interface names in the node namespace.
pub const HOST_IFS: [&str; 2] = ["ha", "hb"];
/// The UDP port pod B listens on in [`TwoPods::udp`].
pub const UDP_PORT: u16 = 5555;

/// Node + two pods; every namespace is removed when this drops.
#[derive(Debug)]
pub struct TwoPods {
    /// The node namespace (host-side veths `ha`, `hb`).
    pub node: NetNs,
    /// Pod A.
    pub pod_a: NetNs,
    /// Pod B.
    pub pod_b: NetNs,
}

fn wire(
    node: &NetNs,
    pod: &NetNs,
    host_if: &str,
    ip: Ipv4Addr,
    veth: VethOptions,
) -> Result<(), HarnessError> {
    node.veth(host_if, pod, "eth0", veth)?;
    let cidr = format!("{ip}/32");
    let gw = GATEWAY.to_string();
    pod.ip(&["addr", "add", &cidr, "dev", "eth0"])?;
    pod.ip(&["route", "add", &gw, "dev", "eth0", "scope", "link"])?;
    pod.ip(&["route", "add", "default", "via", &gw, "dev", "eth0"])?;
    pod.exec("ethtool", &["-K", "eth0", "tx", "off"])?;
    Ok(())
}

impl TwoPods {
    /// Builds the topology; `veth` sets the queues of both veth pairs.
    pub fn new(veth: VethOptions) -> Result<Self, HarnessError> {
        let t = Self {
            node: NetNs::new("node")?,
            pod_a: NetNs::new("poda")?,
            pod_b: NetNs::new("podb")?,
        };
        wire(&t.node, &t.pod_a, HOST_IFS[0], POD_A, veth)?;
        wire(&t.node, &t.pod_b, HOST_IFS[1], POD_B, veth)?;
        Ok(t)
    }

    /// MACs of the host-side veths `ha`, `hb`.
    pub fn host_macs(&self) -> Result<[[u8; 6]; 2], HarnessError> {
        Ok([self.node.mac(HOST_IFS[0])?, self.node.mac(HOST_IFS[1])?])
    }

    /// MACs of the pods' `eth0`.
    pub fn pod_macs(&self) -> Result<[[u8; 6]; 2], HarnessError> {
        Ok([self.pod_a.mac("eth0")?, self.pod_b.mac("eth0")?])
    }

    /// Sends UDP datagrams from pod A to pod B every 100 ms until one arrives or `deadline`
    /// passes; returns the first datagram pod B received and its source.
    pub fn udp(
        &self,
        payload: &[u8],
        deadline: Duration,
    ) -> Result<Option<(Vec<u8>, SocketAddr)>, HarnessError> {
        let (bound_tx, bound_rx) = mpsc::channel();
        thread::scope(|s| {
            let receiver = s.spawn(|| {
                self.pod_b.run_in(|| -> std::io::Result<_> {
                    let sock = UdpSocket::bind((POD_B, UDP_PORT))?;
                    sock.set_read_timeout(Some(deadline))?;
                    let _ = bound_tx.send(());
                    let mut buf = [0u8; 2048];
                    Ok(sock
                        .recv_from(&mut buf)
                        .ok()
                        .map(|(n, from)| (buf[..n].to_vec(), from)))
                })
            });
            // If binding failed the sender is dropped and recv() errs: fall through to the join.
            let _ = bound_rx.recv();
            let start = Instant::now();
            self.pod_a.run_in(|| -> std::io::Result<()> {
                let sock = UdpSocket::bind((POD_A, 0))?;
                while start.elapsed() < deadline && !receiver.is_finished() {
                    let _ = sock.send_to(payload, (POD_B, UDP_PORT));
                    thread::sleep(Duration::from_millis(100));
                }
                Ok(())
            })??;
            let got = receiver
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))??;
            Ok(got)
        })
        .map_err(|e: HarnessErrorOrIo| e.into())
    }

    /// Sends `count` UDP datagrams from pod A to pod B in bursts of 64 (2 ms apart), and counts
    /// those pod B receives within `window`.
    pub fn udp_burst(&self, count: usize, window: Duration) -> Result<usize, HarnessError> {
        let (bound_tx, bound_rx) = mpsc::channel();
        thread::scope(|s| {
            let receiver = s.spawn(|| {
                self.pod_b.run_in(|| -> std::io::Result<usize> {
                    let sock = UdpSocket::bind((POD_B, UDP_PORT + 1))?;
                    sock.set_read_timeout(Some(Duration::from_millis(200)))?;
                    let _ = bound_tx.send(());
                    let mut buf = [0u8; 2048];
                    let mut got = 0usize;
                    let start = Instant::now();
                    while got < count && start.elapsed() < window {
                        if sock.recv(&mut buf).is_ok() {
                            got += 1;
                        }
                    }
                    Ok(got)
                })
            });
            let _ = bound_rx.recv();
            self.pod_a.run_in(|| -> std::io::Result<()> {
                let sock = UdpSocket::bind((POD_A, 0))?;
                let payload = [0x5a_u8; 64];
                for i in 0..count {
                    // Errors under pressure are part of the test: count what arrives.
                    let _ = sock.send_to(&payload, (POD_B, UDP_PORT + 1));
                    // Bursts of 64, paced so a descheduled forwarder is not the only limit.
                    if i % 64 == 63 {
                        thread::sleep(Duration::from_millis(2));
                    }
                }
                Ok(())
            })??;
            let got = receiver
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))??;
            Ok(got)
        })
        .map_err(|e: HarnessErrorOrIo| e.into())
    }

    /// `ping -c count` from pod A to pod B (200 ms apart, 1 s timeout each); true if any reply.
    pub fn ping(&self, count: u32) -> bool {
        self.pod_a
            .exec(
                "ping",
                &[
                    "-c",
                    &count.to_string(),
                    "-i",
                    "0.2",
                    "-W",
                    "1",
                    "-q",
                    &POD_B.to_string(),
                ],
            )
            .is_ok()
    }
}

/// Internal: either error kind inside [`TwoPods::udp`].
#[derive(Debug)]
enum HarnessErrorOrIo {
    Harness(HarnessError),
    Io(std::io::Error),
}

impl From<HarnessError> for HarnessErrorOrIo {
    fn from(e: HarnessError) -> Self {
        Self::Harness(e)
    }
}

impl From<std::io::Error> for HarnessErrorOrIo {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<HarnessErrorOrIo> for HarnessError {
    fn from(e: HarnessErrorOrIo) -> Self {
        match e {
            HarnessErrorOrIo::Harness(h) => h,
            HarnessErrorOrIo::Io(source) => HarnessError::Io {
                what: "UDP socket in a pod",
                source,
            },
        }
    }
}
