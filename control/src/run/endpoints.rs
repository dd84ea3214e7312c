//! Local endpoints: which interfaces of this node carry which pod addresses, and the route
//! table the pipeline forwards with.
//!
//! Contract: a local endpoint is a workload endpoint (Pod or WorkloadEndpoint) whose node is
//! the `--node` name and whose host-side interface is known (`palisade.io/interface`, or the
//! WEP's `interfaceName`). Ports are numbered by interface name, in order, at start; a reload
//! keeps that numbering (a new interface needs a restart and is reported).

use std::collections::BTreeMap;
use std::net::IpAddr;

use palisade_dataplane::forward::{PortId, RouteError, RouteTable};
use palisade_dataplane::packet::MacAddr;

use crate::store::Store;

/// One host-side interface and the endpoints behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPort {
    pub interface: String,
    /// `<namespace>/<name>` of each endpoint behind it.
    pub endpoints: Vec<String>,
    pub addrs: Vec<IpAddr>,
    /// The pod's MAC, when the store gives it (WorkloadEndpoint `mac`).
    pub mac: Option<MacAddr>,
}

/// The local endpoints of `node`, one entry per interface (sorted), and warnings about
/// endpoints of this node that cannot be enforced.
pub fn local_ports(store: &Store, node: &str) -> (Vec<LocalPort>, Vec<String>) {
    let mut by_interface: BTreeMap<String, LocalPort> = BTreeMap::new();
    let mut warnings = Vec::new();
    for ep in &store.endpoints {
        if ep.is_host() || ep.node.as_deref() != Some(node) {
            continue;
        }
        let Some(interface) = ep.interface.as_deref() else {
            warnings.push(format!(
                "endpoint {} is on node {node} but names no host-side interface \
                 (annotation palisade.io/interface or WorkloadEndpoint interfaceName): \
                 not enforced",
                ep.key
            ));
            continue;
        };
        let mac = match ep.mac.as_deref().map(parse_mac) {
            Some(Some(mac)) => Some(mac),
            Some(None) => {
                warnings.push(format!(
                    "endpoint {}: mac {:?} is not a MAC address; it will be learned",
                    ep.key,
                    ep.mac.as_deref().unwrap_or_default()
                ));
                None
            }
            None => None,
        };
        let port = by_interface
            .entry(interface.to_owned())
            .or_insert_with(|| LocalPort {
                interface: interface.to_owned(),
                endpoints: Vec::new(),
                addrs: Vec::new(),
                mac: None,
            });
        port.endpoints.push(ep.key.to_string());
        for a in &ep.addrs {
            if !port.addrs.contains(a) {
                port.addrs.push(*a);
            }
        }
        port.mac = port.mac.or(mac);
    }
    (by_interface.into_values().collect(), warnings)
}

/// `aa:bb:cc:dd:ee:ff` (or with `-`).
pub fn parse_mac(text: &str) -> Option<MacAddr> {
    let mut mac = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for byte in &mut mac {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(MacAddr(mac))
}

/// A pod address the worker may have to resolve itself (an ARP request, or for IPv6 a
/// neighbour solicitation, from the gateway).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighbourProbe {
    pub port: PortId,
    pub addr: IpAddr,
    pub gateway_mac: MacAddr,
}

/// The uplink as attached: its port number (after the pod ports), its own MAC (the source of
/// frames sent there) and the next hop's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UplinkPort {
    pub port: PortId,
    pub mac: MacAddr,
    pub next_hop: MacAddr,
}

/// A route table, the pod addresses to probe, and warnings.
pub type RoutesFor = (RouteTable, Vec<NeighbourProbe>, Vec<String>);

/// The route table for `ports` (attached as ports 0..n, with gateway MACs `macs`, and the
/// uplink if any) given the endpoints of the current store, and the pod addresses whose MAC
/// is not configured. Endpoints on interfaces that are not attached are returned as
/// warnings.
pub fn routes_for(
    attached: &[String],
    macs: &[MacAddr],
    uplink: Option<&UplinkPort>,
    current: &[LocalPort],
) -> Result<RoutesFor, RouteError> {
    let mut builder = RouteTable::builder();
    for (i, mac) in macs.iter().enumerate() {
        builder.pod_port(port_id(i), *mac);
    }
    if let Some(u) = uplink {
        builder.uplink_port(u.port, u.mac, Some(u.next_hop));
    }
    let mut probes = Vec::new();
    let mut warnings = Vec::new();
    for lp in current {
        let Some(i) = attached.iter().position(|a| *a == lp.interface) else {
            warnings.push(format!(
                "interface {} of {} is not attached (new since start, or the uplink): \
                 restart palisade to enforce it",
                lp.interface,
                lp.endpoints.join(", ")
            ));
            continue;
        };
        let port = port_id(i);
        for addr in &lp.addrs {
            builder.local(*addr, port, lp.mac);
            if let (None, Some(gateway_mac)) = (lp.mac, macs.get(i)) {
                probes.push(NeighbourProbe {
                    port,
                    addr: *addr,
                    gateway_mac: *gateway_mac,
                });
            }
        }
    }
    Ok((builder.build()?, probes, warnings))
}

fn port_id(i: usize) -> PortId {
    PortId::try_from(i).unwrap_or(PortId::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_parse() {
        assert_eq!(
            parse_mac("02:00:0a:0B:ff:01"),
            Some(MacAddr([2, 0, 10, 11, 255, 1]))
        );
        assert_eq!(
            parse_mac("02-00-0a-0b-ff-01"),
            Some(MacAddr([2, 0, 10, 11, 255, 1]))
        );
        for bad in [
            "",
            "02:00:0a:0b:ff",
            "02:00:0a:0b:ff:01:02",
            "0g:00:00:00:00:00",
            "002:0:0:0:0:0",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn routes_cover_attached_interfaces_and_report_the_rest() {
        let lp = |i: &str, a: [u8; 4], mac| LocalPort {
            interface: i.into(),
            endpoints: vec![format!("ns/{i}")],
            addrs: vec![IpAddr::from(a)],
            mac,
        };
        let attached = vec!["ha".to_owned(), "hb".to_owned()];
        let macs = [MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])];
        let known = MacAddr([2, 0, 0, 0, 0, 9]);
        let current = vec![
            lp("ha", [10, 0, 0, 1], None),
            lp("hb", [10, 0, 0, 2], Some(known)),
            lp("hc", [10, 0, 0, 3], None),
        ];
        let (routes, probes, warnings) =
            routes_for(&attached, &macs, None, &current).expect("routes");
        assert_eq!(routes.local_count(), 2);
        let b = routes.local(IpAddr::from([10, 0, 0, 2])).expect("b");
        assert_eq!((b.port, b.mac), (1, Some(known)));
        assert_eq!(
            probes,
            vec![NeighbourProbe {
                port: 0,
                addr: IpAddr::from([10, 0, 0, 1]),
                gateway_mac: macs[0]
            }]
        );
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("hc"), "{warnings:?}");
        assert_eq!(
            routes.route(IpAddr::from([10, 9, 9, 9])),
            Err(palisade_dataplane::packet::DropReason::NoRoute),
            "no uplink: nothing leaves the node"
        );
    }

    #[test]
    fn with_an_uplink_non_local_traffic_goes_to_the_next_hop() {
        use palisade_dataplane::forward::{PortRole, Route};
        let attached = vec!["ha".to_owned()];
        let macs = [MacAddr([2, 0, 0, 0, 0, 1])];
        let uplink = UplinkPort {
            port: 1,
            mac: MacAddr([2, 0, 0, 0, 0, 0x0f]),
            next_hop: MacAddr([2, 0, 0, 0, 0, 0xee]),
        };
        let current = vec![LocalPort {
            interface: "ha".into(),
            endpoints: vec!["ns/a".into()],
            addrs: vec![IpAddr::from([10, 0, 0, 1])],
            mac: None,
        }];
        let (routes, _, warnings) =
            routes_for(&attached, &macs, Some(&uplink), &current).expect("routes");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(
            routes.route(IpAddr::from([192, 0, 2, 7])),
            Ok(Route::Uplink {
                port: 1,
                next_hop: uplink.next_hop
            })
        );
        assert!(matches!(
            routes.route(IpAddr::from([10, 0, 0, 1])),
            Ok(Route::Local(l)) if l.port == 0
        ));
        let info = routes.port(1).expect("uplink port");
        assert_eq!(
            info.gateway_mac, uplink.mac,
            "frames leave with the uplink's MAC"
        );
        assert!(matches!(info.role, PortRole::Uplink { .. }));
    }
}
