//! A node namespace with many pod namespaces wired as Palisade expects, tiny TCP/UDP servers
//! in every pod, and a parallel reachability probe matrix.
//!
//! Contract: [`Cluster::new`] builds, inside namespaces it owns (removed on drop and on
//! panic), one pod namespace per [`PodSpec`]: `eth0` with the pod's /32 and a default route via
//! 169.254.1.1 (an IPv6 pod: its /128, no duplicate address detection, and a default route via
//! fe80::1), TX checksum offload off, and a veth (one queue unless [`Cluster::with_veths`]) to
//! `host_if` in the node namespace. [`Servers`] run in the test process (threads entered into
//! the pods) and answer
//! TCP connects and echo UDP on the given ports until dropped. [`Cluster::probe`] runs every
//! probe at once (one thread each, inside the source pod) with a short timeout; traffic only
//! ever goes between the cluster's own pods.

use std::{
    io::Write,
    net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    os::fd::AsFd,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use crate::netns::{HarnessError, NetNs, VethOptions};
use crate::pods::GATEWAY;

/// One pod of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpec {
    pub namespace: String,
    pub name: String,
    /// The pod's one address (IPv4 or IPv6).
    pub ip: IpAddr,
    /// Host-side veth name in the node namespace (at most 15 bytes).
    pub host_if: String,
}

impl PodSpec {
    /// Pod `namespace/name` with address `ip` behind host-side veth `host_if`.
    pub fn new(namespace: &str, name: &str, ip: impl Into<IpAddr>, host_if: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
            ip: ip.into(),
            host_if: host_if.into(),
        }
    }
}

/// The IPv6 gateway of the pods (Calico's convention).
pub const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

/// The node namespace and one namespace per pod.
#[derive(Debug)]
pub struct Cluster {
    pub node: NetNs,
    pub pods: Vec<(PodSpec, NetNs)>,
}

fn wire(node: &NetNs, pod: &NetNs, spec: &PodSpec, veth: VethOptions) -> Result<(), HarnessError> {
    node.veth(&spec.host_if, pod, "eth0", veth)?;
    match spec.ip {
        IpAddr::V4(ip) => {
            let cidr = format!("{ip}/32");
            let gw = GATEWAY.to_string();
            pod.ip(&["addr", "add", &cidr, "dev", "eth0"])?;
            pod.ip(&["route", "add", &gw, "dev", "eth0", "scope", "link"])?;
            pod.ip(&["route", "add", "default", "via", &gw, "dev", "eth0"])?;
        }
        IpAddr::V6(ip) => {
            let cidr = format!("{ip}/128");
            let gw = GATEWAY_V6.to_string();
            pod.ip(&["-6", "addr", "add", &cidr, "dev", "eth0", "nodad"])?;
            pod.ip(&["-6", "route", "add", "default", "via", &gw, "dev", "eth0"])?;
        }
    }
    pod.exec("ethtool", &["-K", "eth0", "tx", "off"])?;
    Ok(())
}

impl Cluster {
    /// Builds the topology (pods wired in parallel) with one-queue veths.
    pub fn new(specs: Vec<PodSpec>) -> Result<Self, HarnessError> {
        Self::with_veths(
            specs,
            VethOptions {
                queues: Some(1),
                channels: None,
            },
        )
    }

    /// Builds the topology with veths of the given queues.
    pub fn with_veths(specs: Vec<PodSpec>, veth: VethOptions) -> Result<Self, HarnessError> {
        let node = NetNs::new("node")?;
        let made: Vec<Result<(PodSpec, NetNs), HarnessError>> = thread::scope(|s| {
            let handles: Vec<_> = specs
                .into_iter()
                .map(|spec| {
                    let node = &node;
                    s.spawn(move || {
                        let tag = format!("{}-{}", spec.namespace, spec.name);
                        let ns = NetNs::new(&tag)?;
                        wire(node, &ns, &spec, veth)?;
                        Ok((spec, ns))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(HarnessError::Thread {
                            what: "wiring a pod panicked".into(),
                        })
                    })
                })
                .collect()
        });
        let mut pods = Vec::with_capacity(made.len());
        for m in made {
            pods.push(m?);
        }
        Ok(Self { node, pods })
    }

    /// Index of the pod `namespace/name`.
    pub fn index(&self, namespace: &str, name: &str) -> Option<usize> {
        self.pods
            .iter()
            .position(|(p, _)| p.namespace == namespace && p.name == name)
    }

    /// Runs every probe at once; `result[i]` says whether `probes[i]` got through (and back).
    pub fn probe(&self, probes: &[Probe], timeout: Duration) -> Vec<bool> {
        thread::scope(|s| {
            let handles: Vec<_> = probes
                .iter()
                .map(|p| {
                    s.spawn(move || {
                        let (Some((src, ns)), Some((dst, _))) =
                            (self.pods.get(p.from), self.pods.get(p.to))
                        else {
                            return false;
                        };
                        probe_in(ns, src.ip, dst.ip, p.protocol, p.port, timeout)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(false))
                .collect()
        })
    }
}

/// From inside `ns`, source address `src`: does `dst`:`port` answer over `protocol` within
/// `timeout`? TCP: a connection; UDP: one datagram's echo (a few tries); ICMP: `ping`.
pub fn probe_in(
    ns: &NetNs,
    src: IpAddr,
    dst: IpAddr,
    protocol: Protocol,
    port: u16,
    timeout: Duration,
) -> bool {
    if protocol == Protocol::Icmp {
        return ping(ns, dst, timeout);
    }
    let Ok(_inside) = ns.enter() else {
        return false;
    };
    match protocol {
        Protocol::Tcp => tcp_probe(dst, port, timeout),
        Protocol::Udp => udp_probe(src, dst, port, timeout),
        Protocol::Icmp => false,
    }
}

/// `ping` from inside `ns`: an echo request every 0.3 s until the first reply or `timeout`
/// (whole seconds, at least 1) passes.
fn ping(ns: &NetNs, dst: IpAddr, timeout: Duration) -> bool {
    let deadline = timeout.as_secs().max(1).to_string();
    ns.exec(
        "ping",
        &[
            "-c",
            "1",
            "-i",
            "0.3",
            "-w",
            &deadline,
            "-q",
            &dst.to_string(),
        ],
    )
    .is_ok()
}

/// L4 protocol of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Tcp,
    Udp,
    /// ICMP echo (`ping`); the port is ignored.
    Icmp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Icmp => "ICMP",
        }
    }
}

/// Pod `from` tries to reach pod `to` on `protocol`/`port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Probe {
    pub from: usize,
    pub to: usize,
    pub protocol: Protocol,
    pub port: u16,
}

impl Probe {
    /// For every `(from, to)` in `pairs`, in order: for each of `protocols`, a probe to each of
    /// `ports` (ICMP: one probe, port 0).
    pub fn all(pairs: &[(usize, usize)], protocols: &[Protocol], ports: &[u16]) -> Vec<Probe> {
        let mut probes = Vec::new();
        for &(from, to) in pairs {
            for &protocol in protocols {
                let ports = if protocol == Protocol::Icmp {
                    &[0][..]
                } else {
                    ports
                };
                probes.extend(ports.iter().map(|&port| Probe {
                    from,
                    to,
                    protocol,
                    port,
                }));
            }
        }
        probes
    }
}

/// Every ordered pair of distinct pods among the first `n`.
pub fn all_pairs(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|from| {
            (0..n)
                .filter(move |&to| to != from)
                .map(move |to| (from, to))
        })
        .collect()
}

fn tcp_probe(dst: IpAddr, port: u16, timeout: Duration) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((dst, port)), timeout).is_ok()
}

fn udp_probe(src: IpAddr, dst: IpAddr, port: u16, timeout: Duration) -> bool {
    let Ok(sock) = UdpSocket::bind((src, 0)) else {
        return false;
    };
    let tries = 4u32;
    let slice = timeout / tries;
    if sock.set_read_timeout(Some(slice)).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    for _ in 0..tries {
        if sock.send_to(b"probe", (dst, port)).is_err() {
            thread::sleep(slice);
            continue;
        }
        let start = Instant::now();
        while start.elapsed() < slice {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if from == SocketAddr::from((dst, port)) && &buf[..n] == b"probe" => {
                    return true;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    false
}

/// TCP listeners and UDP echo sockets on `ports` in every pod; stopped on drop.
#[derive(Debug)]
pub struct Servers {
    stop: Arc<AtomicBool>,
    handles: Vec<thread::JoinHandle<()>>,
}

impl Servers {
    /// Binds every socket (inside each pod) before returning.
    pub fn start(cluster: &Cluster, ports: &[u16]) -> Result<Self, HarnessError> {
        let hosts: Vec<(String, &NetNs, IpAddr)> = cluster
            .pods
            .iter()
            .map(|(spec, ns)| (format!("{}-{}", spec.namespace, spec.name), ns, spec.ip))
            .collect();
        Self::start_in(&hosts, ports)
    }

    /// The same servers on `ip` inside each given namespace (`name` names the thread); binds
    /// every socket before returning.
    pub fn start_in(
        hosts: &[(String, &NetNs, IpAddr)],
        ports: &[u16],
    ) -> Result<Self, HarnessError> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        for (name, ns, ip) in hosts {
            let ns_path = format!("/run/netns/{}", ns.name());
            let (ip, ports, stop, tx) = (*ip, ports.to_vec(), stop.clone(), tx.clone());
            let handle = thread::Builder::new()
                .name(format!("srv-{name}"))
                .spawn(move || serve(&ns_path, ip, &ports, &stop, &tx))
                .map_err(|source| HarnessError::Io {
                    what: "spawning a pod server",
                    source,
                })?;
            handles.push(handle);
        }
        drop(tx);
        let servers = Self { stop, handles };
        for _ in 0..hosts.len() {
            match rx.recv_timeout(Duration::from_secs(20)) {
                Ok(Ok(())) => {}
                Ok(Err(what)) => return Err(HarnessError::Thread { what }),
                Err(_) => {
                    return Err(HarnessError::Thread {
                        what: "a pod server did not start".into(),
                    });
                }
            }
        }
        Ok(servers)
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

fn serve(
    ns_path: &str,
    ip: IpAddr,
    ports: &[u16],
    stop: &AtomicBool,
    ready: &mpsc::Sender<Result<(), String>>,
) {
    let bound = (|| -> Result<(Vec<TcpListener>, Vec<UdpSocket>), String> {
        let ns = std::fs::File::open(ns_path).map_err(|e| format!("{ns_path}: {e}"))?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(|e| format!("setns {ns_path}: {e}"))?;
        let mut tcp = Vec::new();
        let mut udp = Vec::new();
        for &port in ports {
            let l = TcpListener::bind((ip, port)).map_err(|e| format!("tcp {ip}:{port}: {e}"))?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            tcp.push(l);
            let u = UdpSocket::bind((ip, port)).map_err(|e| format!("udp {ip}:{port}: {e}"))?;
            u.set_nonblocking(true).map_err(|e| e.to_string())?;
            udp.push(u);
        }
        Ok((tcp, udp))
    })();
    let (tcp, udp) = match bound {
        Ok(v) => {
            let _ = ready.send(Ok(()));
            v
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let mut buf = [0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        // Sleep in poll() until a socket is readable (or 200 ms pass, to see `stop`).
        let mut fds: Vec<PollFd<'_>> = tcp
            .iter()
            .map(|l| PollFd::new(l.as_fd(), PollFlags::POLLIN))
            .chain(
                udp.iter()
                    .map(|u| PollFd::new(u.as_fd(), PollFlags::POLLIN)),
            )
            .collect();
        if poll(&mut fds, PollTimeout::from(200u16)).unwrap_or(0) <= 0 {
            continue;
        }
        for l in &tcp {
            while let Ok((mut conn, _)) = l.accept() {
                let _ = conn.write_all(b"ok");
            }
        }
        for u in &udp {
            while let Ok((n, from)) = u.recv_from(&mut buf) {
                let _ = u.send_to(&buf[..n], from);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_sets_cover_every_pair_protocol_and_port() {
        assert_eq!(
            all_pairs(3),
            vec![(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]
        );
        let probes = Probe::all(
            &[(0, 1), (1, 0)],
            &[Protocol::Tcp, Protocol::Icmp, Protocol::Udp],
            &[80, 81],
        );
        assert_eq!(probes.len(), 2 * (2 + 1 + 2));
        assert_eq!(
            probes[..5]
                .iter()
                .map(|p| (p.protocol, p.port))
                .collect::<Vec<_>>(),
            vec![
                (Protocol::Tcp, 80),
                (Protocol::Tcp, 81),
                (Protocol::Icmp, 0),
                (Protocol::Udp, 80),
                (Protocol::Udp, 81)
            ]
        );
        assert!(probes[5..].iter().all(|p| (p.from, p.to) == (1, 0)));
        assert!(Probe::all(&[], &[Protocol::Tcp], &[80]).is_empty());
    }
}
