//! A host off the node, behind the node's uplink: a namespace of its own joined to the node
//! namespace by a veth, with TCP/UDP servers, and probes in both directions.
//!
//! Contract: [`Remote::attach`] creates namespace `remote` (removed on drop, like every
//! [`NetNs`]) and a one-queue veth `uplink_if` (node side) <-> `eth0` (remote side), gives
//! `eth0` the remote's /32 (IPv6: /128, no duplicate address detection) and an on-link route
//! to the pods' network (the node answers ARP and neighbour solicitations for pod addresses on
//! its uplink: proxy ARP/ND), turns TX checksum offload off (as pod wiring does),
//! and starts TCP listeners and UDP echo sockets on `ports` that run until the guard drops.
//! Probes in either direction are `cluster::probe_in`. Traffic never leaves the test's
//! namespaces.

use std::net::IpAddr;

use crate::cluster::Servers;
use crate::netns::{HarnessError, NetNs, VethOptions};

/// The remote host and its servers.
#[derive(Debug)]
pub struct Remote {
    /// Stops the servers on drop; declared first so it drops before the namespace.
    _servers: Servers,
    pub ns: NetNs,
    pub ip: IpAddr,
    /// The MAC of the remote's `eth0`: the node's next hop.
    pub mac: [u8; 6],
}

impl Remote {
    /// See the module contract. `pods` is the pods' network (of `ip`'s family), e.g.
    /// `10.86.0.0/24` or `fd86::/64`.
    pub fn attach(
        node: &NetNs,
        uplink_if: &str,
        ip: IpAddr,
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
        match ip {
            IpAddr::V4(_) => {
                ns.ip(&["addr", "add", &format!("{ip}/32"), "dev", "eth0"])?;
                ns.ip(&["route", "add", pods, "dev", "eth0", "scope", "link"])?;
            }
            IpAddr::V6(_) => {
                let cidr = format!("{ip}/128");
                ns.ip(&["-6", "addr", "add", &cidr, "dev", "eth0", "nodad"])?;
                ns.ip(&["-6", "route", "add", pods, "dev", "eth0"])?;
            }
        }
        ns.exec("ethtool", &["-K", "eth0", "tx", "off"])?;
        let mac = ns.mac("eth0")?;
        let servers = Servers::start_in(&[("remote".into(), &ns, ip)], ports)?;
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
