//! A bare two-port forwarder over any [`PacketIo`]: no policy, no conntrack — the `xsk-bare`
//! benchmark configuration and the dataplane of the AF_XDP end-to-end test.
//!
//! Contract: pods route via a link-local gateway (169.254.1.1 by Calico's convention). An ARP
//! request for the gateway is answered on the port it came from with that port's MAC; an IPv4
//! frame is sent out of the other port with its MACs rewritten (source: the out port's MAC;
//! destination: the peer MAC configured or learned from the frames the peer sent — a pod that has
//! sent nothing is unknown and IPv4 towards it is dropped, so give the MACs when known); everything
//! else is dropped. TTL and checksums are left alone. TX backpressure: while a port's TX ring is
//! full, no RX is taken; idle, the loop sleeps in `poll()` after the busy-poll window
//! ([`Pacer`], as a Palisade worker).

use std::{
    net::Ipv4Addr,
    sync::atomic::{AtomicBool, Ordering},
    time::Instant,
};

use crate::{Frame, Pace, Pacer, Pacing, PacketIo, PortId, Received, XskError};

const ETH_HLEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
const ARP_LEN: usize = 28;

/// One side of the forwarder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarePort {
    /// The MAC the gateway has on this port (normally the host-side veth's).
    pub mac: [u8; 6],
    /// The pod's MAC, if known in advance; otherwise learned from its frames.
    pub peer: Option<[u8; 6]>,
}

/// Counters of the forwarder.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BareStats {
    /// IPv4 frames forwarded to the other port.
    pub forwarded: u64,
    /// ARP requests for the gateway answered.
    pub arp_replies: u64,
    /// Frames dropped (not IPv4 or ARP-for-gateway, malformed, peer MAC unknown).
    pub dropped: u64,
    /// Loop iterations that found TX full and took no RX.
    pub backpressure: u64,
}

/// What to do with one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Send out of this port.
    Out(usize),
    Drop,
}

/// The forwarder state: two ports, the gateway address, counters.
#[derive(Debug)]
pub struct BareForwarder {
    ports: [BarePort; 2],
    gateway: Ipv4Addr,
    batch: usize,
    stats: BareStats,
    rx: Vec<Received>,
    pending: [Vec<Frame>; 2],
}

/// The gateway pods route through, by Calico's convention.
pub const DEFAULT_GATEWAY: Ipv4Addr = Ipv4Addr::new(169, 254, 1, 1);

impl BareForwarder {
    /// A forwarder between port 0 and port 1 of the [`PacketIo`] it will run on.
    pub fn new(gateway: Ipv4Addr, ports: [BarePort; 2]) -> Self {
        Self {
            ports,
            gateway,
            batch: 64,
            stats: BareStats::default(),
            rx: Vec::with_capacity(64),
            pending: [Vec::new(), Vec::new()],
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> BareStats {
        self.stats
    }

    /// The peer MACs (configured or learned).
    pub fn peers(&self) -> [Option<[u8; 6]>; 2] {
        [self.ports[0].peer, self.ports[1].peer]
    }

    /// Rewrites `bytes` (arrived on `port`) in place and says where it goes.
    fn handle(&mut self, port: usize, bytes: &mut [u8]) -> Action {
        let Some(eth) = bytes.get(..ETH_HLEN) else {
            return Action::Drop;
        };
        let src: [u8; 6] = eth[6..12].try_into().unwrap_or_default();
        let ethertype = u16::from_be_bytes([eth[12], eth[13]]);
        if src[0] & 1 == 0 && src != [0; 6] {
            self.ports[port].peer = Some(src);
        }
        match ethertype {
            ETHERTYPE_ARP => self.arp_reply(port, bytes),
            ETHERTYPE_IPV4 => {
                let out = 1 - port;
                let Some(peer) = self.ports[out].peer else {
                    return Action::Drop;
                };
                bytes[..6].copy_from_slice(&peer);
                bytes[6..12].copy_from_slice(&self.ports[out].mac);
                Action::Out(out)
            }
            _ => Action::Drop,
        }
    }

    /// Turns an ARP request for the gateway into the reply, in place.
    fn arp_reply(&self, port: usize, bytes: &mut [u8]) -> Action {
        let Some(arp) = bytes.get_mut(ETH_HLEN..ETH_HLEN + ARP_LEN) else {
            return Action::Drop;
        };
        let is_request_for_gateway = arp[0..2] == [0, 1]
            && arp[2..4] == [0x08, 0x00]
            && arp[4] == 6
            && arp[5] == 4
            && arp[6..8] == [0, 1]
            && arp[24..28] == self.gateway.octets();
        if !is_request_for_gateway {
            return Action::Drop;
        }
        let mac = self.ports[port].mac;
        let (sha, spa): ([u8; 6], [u8; 4]) = (
            arp[8..14].try_into().unwrap_or_default(),
            arp[14..18].try_into().unwrap_or_default(),
        );
        arp[6..8].copy_from_slice(&[0, 2]);
        arp[8..14].copy_from_slice(&mac);
        arp[14..18].copy_from_slice(&self.gateway.octets());
        arp[18..24].copy_from_slice(&sha);
        arp[24..28].copy_from_slice(&spa);
        bytes[..6].copy_from_slice(&sha);
        bytes[6..12].copy_from_slice(&mac);
        Action::Out(port)
    }

    /// One iteration: send what TX refused last time, then (if TX has room) receive a batch,
    /// handle it, send, flush. Returns the number of frames received.
    pub fn poll_once<I: PacketIo>(&mut self, io: &mut I) -> Result<usize, XskError> {
        for (p, pending) in self.pending.iter_mut().enumerate() {
            if !pending.is_empty() {
                io.send(PortId(p as u16), pending)?;
            }
        }
        if self.pending.iter().any(|p| !p.is_empty()) {
            self.stats.backpressure += 1;
            io.flush()?;
            return Ok(0);
        }
        let n = io.recv(&mut self.rx, self.batch)?;
        let mut rx = std::mem::take(&mut self.rx);
        for Received { port, mut frame } in rx.drain(..) {
            let p = usize::from(port.0);
            let action = if p < 2 {
                self.handle(p, io.data_mut(&mut frame))
            } else {
                Action::Drop
            };
            match action {
                Action::Out(out) => {
                    if out == p {
                        self.stats.arp_replies += 1;
                    } else {
                        self.stats.forwarded += 1;
                    }
                    self.pending[out].push(frame);
                }
                Action::Drop => {
                    self.stats.dropped += 1;
                    io.release(frame);
                }
            }
        }
        self.rx = rx;
        for (p, pending) in self.pending.iter_mut().enumerate() {
            if !pending.is_empty() {
                io.send(PortId(p as u16), pending)?;
            }
        }
        io.flush()?;
        Ok(n)
    }

    /// Runs until `stop` is set, paced like a Palisade worker: polls while frames arrive and
    /// for `pacing.busy_poll` after the last, then sleeps in `poll()` (up to
    /// `pacing.idle_poll`). Frames still pending at the end are dropped.
    pub fn run<I: PacketIo>(
        &mut self,
        io: &mut I,
        stop: &AtomicBool,
        pacing: Pacing,
    ) -> Result<BareStats, XskError> {
        let mut pacer = Pacer::new(pacing, Instant::now());
        while !stop.load(Ordering::Relaxed) {
            let n = self.poll_once(io)?;
            let worked = n > 0 || self.pending.iter().any(|p| !p.is_empty());
            match pacer.next(worked, Instant::now()) {
                Pace::Work => {}
                Pace::Spin => std::hint::spin_loop(),
                Pace::Sleep => {
                    io.wait(pacing.idle_poll)?;
                }
            }
        }
        for pending in &mut self.pending {
            for frame in pending.drain(..) {
                io.release(frame);
            }
        }
        io.flush()?;
        Ok(self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemIo;

    const GW_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
    const GW_B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];
    const POD_A: [u8; 6] = [2, 0, 0, 0, 1, 0xa];
    const POD_B: [u8; 6] = [2, 0, 0, 0, 1, 0xb];

    fn ipv4_frame(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        f.extend_from_slice(&[
            0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ]);
        f
    }

    fn arp_request(src: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
        let mut f = vec![0xff; 6];
        f.extend_from_slice(&src);
        f.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
        f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&spa);
        f.extend_from_slice(&[0; 6]);
        f.extend_from_slice(&tpa);
        f
    }

    fn fwd(peers: bool) -> BareForwarder {
        BareForwarder::new(
            DEFAULT_GATEWAY,
            [
                BarePort {
                    mac: GW_A,
                    peer: peers.then_some(POD_A),
                },
                BarePort {
                    mac: GW_B,
                    peer: peers.then_some(POD_B),
                },
            ],
        )
    }

    #[test]
    fn ipv4_is_forwarded_with_rewritten_macs() {
        let mut io = MemIo::new(2, 1, 64, 16).expect("io");
        let mut f = fwd(true);
        assert!(io.inject(PortId(0), 0, &ipv4_frame(GW_A, POD_A)));
        assert_eq!(f.poll_once(&mut io).expect("poll"), 1);
        let sent = io.take_sent(PortId(1));
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0][..6], POD_B);
        assert_eq!(sent[0][6..12], GW_B);
        assert_eq!(sent[0][12..], ipv4_frame(GW_A, POD_A)[12..]);
        assert!(io.take_sent(PortId(0)).is_empty());
        assert_eq!(f.stats().forwarded, 1);
    }

    #[test]
    fn arp_for_gateway_is_answered_and_teaches_the_peer_mac() {
        let mut io = MemIo::new(2, 1, 64, 16).expect("io");
        let mut f = fwd(false);
        assert!(io.inject(
            PortId(1),
            0,
            &arp_request(POD_B, [10, 0, 0, 2], DEFAULT_GATEWAY.octets())
        ));
        // Not for the gateway: dropped.
        assert!(io.inject(
            PortId(1),
            0,
            &arp_request(POD_B, [10, 0, 0, 2], [10, 0, 0, 1])
        ));
        f.poll_once(&mut io).expect("poll");
        let sent = io.take_sent(PortId(1));
        assert_eq!(sent.len(), 1);
        let r = &sent[0];
        assert_eq!(r[..6], POD_B);
        assert_eq!(r[6..12], GW_B);
        assert_eq!(r[20..22], [0, 2], "ARP reply");
        assert_eq!(r[22..28], GW_B, "sender MAC is the gateway's on this port");
        assert_eq!(r[28..32], DEFAULT_GATEWAY.octets());
        assert_eq!(r[32..38], POD_B);
        assert_eq!(r[38..42], [10, 0, 0, 2]);
        assert_eq!(f.peers()[1], Some(POD_B));
        assert_eq!(f.stats().dropped, 1);
        // Port 0's peer is unknown: IPv4 towards it is dropped.
        assert!(io.inject(PortId(1), 0, &ipv4_frame(GW_B, POD_B)));
        f.poll_once(&mut io).expect("poll");
        assert!(io.take_sent(PortId(0)).is_empty());
        assert_eq!(f.stats().dropped, 2);
    }

    #[test]
    fn non_ip_and_runt_frames_are_dropped_and_frames_recycled() {
        let mut io = MemIo::new(2, 1, 16, 8).expect("io");
        let mut f = fwd(true);
        let free_before = io.free_frames();
        let mut v6 = ipv4_frame(GW_A, POD_A);
        v6[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
        assert!(io.inject(PortId(0), 0, &v6));
        assert!(io.inject(PortId(0), 0, &[1, 2, 3]));
        f.poll_once(&mut io).expect("poll");
        assert_eq!(f.stats().dropped, 2);
        assert_eq!(
            io.free_frames(),
            free_before,
            "dropped frames refill the fill ring"
        );
    }

    #[test]
    fn full_tx_stops_rx_until_it_drains() {
        // TX ring of 4, fill ring of 4, 32 frames: after 4 forwarded frames stay unsent
        // (never taken off the wire -> never completed), more RX must wait.
        let mut io = MemIo::new(2, 1, 32, 4).expect("io");
        io.set_tx_per_kick(1);
        let mut f = fwd(true);
        for _ in 0..4 {
            assert!(io.inject(PortId(0), 0, &ipv4_frame(GW_A, POD_A)));
        }
        f.poll_once(&mut io).expect("poll");
        assert_eq!(
            io.take_sent(PortId(1)).len(),
            4,
            "kicked until drained, one per kick"
        );
        // Fill the TX ring without completing: take_sent not called, the wire holds them.
        for _ in 0..4 {
            assert!(io.inject(PortId(0), 0, &ipv4_frame(GW_A, POD_A)));
        }
        f.poll_once(&mut io).expect("poll");
        let stats = io.stats().clone();
        assert_eq!(stats.tx, 8);
        assert_eq!(f.stats().forwarded, 8);
    }

    #[test]
    fn run_stops_when_asked() {
        let mut io = MemIo::new(2, 1, 16, 8).expect("io");
        let mut f = fwd(true);
        let stop = AtomicBool::new(true);
        let stats = f
            .run(
                &mut io,
                &stop,
                Pacing {
                    busy_poll: std::time::Duration::from_micros(100),
                    idle_poll: std::time::Duration::from_millis(1),
                },
            )
            .expect("run");
        assert_eq!(stats, BareStats::default());
    }
}
