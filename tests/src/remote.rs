//! A host off the node, behind the node's uplink: a namespace of its own joined to the node
//! namespace by a veth, with TCP/UDP servers, and probes in both directions.
//!
//! Contract: [`Remote::attach`] creates namespace `remote` (removed on drop, like every
//! [`NetNs`]) and a one-queue veth `uplink_if` (node side) <-> `eth0` (remote side), gives
//! `eth0` the remote's /32 and an on-link route to the pods' network (the node answers ARP for
//! pod addresses on its uplink: proxy ARP), turns TX checksum offload off (as pod wiring does),
//! and starts TCP listeners and UDP echo sockets on `ports` that run until the guard drops.
//! [`probe`] opens a TCP connection or sends one UDP datagram and waits for its echo, from
//! inside any namespace. Traffic never leaves the test's namespaces.

use std::{
    io::Write,
    net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use crate::cluster::Protocol;
use crate::netns::{HarnessError, NetNs, VethOptions};

/// The remote host and its servers.
#[derive(Debug)]
pub struct Remote {
    /// Stops the servers on drop; declared first so it drops before the namespace.
    _servers: Servers,
    pub ns: NetNs,
    pub ip: Ipv4Addr,
    /// The MAC of the remote's `eth0`: the node's next hop.
    pub mac: [u8; 6],
}

impl Remote {
    /// See the module contract. `pods` is the pods' network, e.g. `10.86.0.0/24`.
    pub fn attach(
        node: &NetNs,
        uplink_if: &str,
        ip: Ipv4Addr,
        pods: &str,
        ports: &[u16],
    ) -> Result<Self, HarnessError> {
        let ns = NetNs::new("remote")?;
        node.veth(
            uplink_if,
            &ns,
            "eth0",
            VethOptions {
                queues: Some(1),
                channels: None,
            },
        )?;
        ns.ip(&["addr", "add", &format!("{ip}/32"), "dev", "eth0"])?;
        ns.ip(&["route", "add", pods, "dev", "eth0", "scope", "link"])?;
        ns.exec("ethtool", &["-K", "eth0", "tx", "off"])?;
        let mac = ns.mac("eth0")?;
        let servers = Servers::start(&ns, ip, ports)?;
        Ok(Self {
            _servers: servers,
            ns,
            ip,
            mac,
        })
    }

    /// The next-hop MAC as `palisade run`'s config writes it.
    pub fn mac_text(&self) -> String {
        self.mac
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// From inside `ns`, source address `src`: does `dst`:`port` answer over `protocol` within
/// `timeout`? (ICMP: `ping`.)
pub fn probe(
    ns: &NetNs,
    src: IpAddr,
    dst: IpAddr,
    protocol: Protocol,
    port: u16,
    timeout: Duration,
) -> bool {
    if protocol == Protocol::Icmp {
        let deadline = timeout.as_secs().max(1).to_string();
        let dst = dst.to_string();
        return ns
            .exec(
                "ping",
                &["-c", "1", "-i", "0.3", "-w", &deadline, "-q", &dst],
            )
            .is_ok();
    }
    ns.run_in(|| match protocol {
        Protocol::Tcp => TcpStream::connect_timeout(&SocketAddr::new(dst, port), timeout).is_ok(),
        _ => udp_echo(src, dst, port, timeout),
    })
    .unwrap_or(false)
}

fn udp_echo(src: IpAddr, dst: IpAddr, port: u16, timeout: Duration) -> bool {
    let Ok(sock) = UdpSocket::bind(SocketAddr::new(src, 0)) else {
        return false;
    };
    let tries = 4u32;
    let slice = timeout / tries;
    if sock.set_read_timeout(Some(slice)).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    let to = SocketAddr::new(dst, port);
    for _ in 0..tries {
        if sock.send_to(b"remote-probe", to).is_err() {
            thread::sleep(slice);
            continue;
        }
        let start = Instant::now();
        while start.elapsed() < slice {
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if from == to && &buf[..n] == b"remote-probe" => return true,
                Ok(_) => {}
                Err(_) => break,
            }
        }
    }
    false
}

/// TCP listeners and UDP echo sockets inside the remote namespace.
#[derive(Debug)]
struct Servers {
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Servers {
    fn start(ns: &NetNs, ip: Ipv4Addr, ports: &[u16]) -> Result<Self, HarnessError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        let ns_path = format!("/run/netns/{}", ns.name());
        let (ports, t_stop) = (ports.to_vec(), stop.clone());
        let handle = thread::Builder::new()
            .name("srv-remote".into())
            .spawn(move || serve(&ns_path, ip, &ports, &t_stop, &tx))
            .map_err(|source| HarnessError::Io {
                what: "spawning the remote's server",
                source,
            })?;
        let servers = Self {
            stop,
            handle: Some(handle),
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(())) => Ok(servers),
            Ok(Err(what)) => Err(HarnessError::Thread { what }),
            Err(_) => Err(HarnessError::Thread {
                what: "the remote's server did not start".into(),
            }),
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn serve(
    ns_path: &str,
    ip: Ipv4Addr,
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
            u.set_read_timeout(Some(Duration::from_millis(20)))
                .map_err(|e| e.to_string())?;
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
        for l in &tcp {
            while let Ok((mut conn, _)) = l.accept() {
                let _ = conn.write_all(b"ok");
            }
        }
        // Each UDP socket waits up to 20 ms: the loop sleeps, it does not spin.
        for u in &udp {
            while let Ok((n, from)) = u.recv_from(&mut buf) {
                let _ = u.send_to(&buf[..n], from);
            }
        }
    }
}
