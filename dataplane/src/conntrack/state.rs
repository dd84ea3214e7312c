//! Connection states and the per-packet state machine (TCP; unreplied/replied for the rest).
//!
//! Contract: `open` decides whether a packet that found no entry may create one, and in which
//! state; `step` gives the state after a packet of a tracked connection. Neither looks at
//! sequence numbers: this is a state machine for policy and timeouts, not a TCP validator.

use crate::flow::IpProto;

/// TCP header flag bits, as they appear in byte 13 of the TCP header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFlags;

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

/// Which way a packet travels relative to the connection's first packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Same direction as the packet that created the entry.
    Original,
    /// The opposite direction (a reply).
    Reply,
}

/// A connection's state as policy and timeouts see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// TCP: SYN seen from the originator.
    TcpSynSent,
    /// TCP: SYN-ACK seen from the responder (half-open).
    TcpSynReceived,
    /// TCP: handshake completed, or picked up mid-stream.
    TcpEstablished,
    /// TCP: one side sent FIN; the other may still send (half-closed).
    TcpFinWait,
    /// TCP: both sides sent FIN.
    TcpClosing,
    /// TCP: a RST was seen.
    TcpReset,
    /// UDP, ICMP echo and other protocols: only the original direction seen so far.
    Unreplied,
    /// UDP, ICMP echo and other protocols: both directions seen.
    Replied,
}

/// Why a packet that matched no entry may not create one (the caller drops it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Invalid {
    /// A TCP packet without SYN (a mid-stream ACK) while mid-stream pickup is disabled.
    MidStream,
    /// A TCP packet that can never open a connection: SYN-ACK, RST or FIN first.
    TcpCannotOpen,
    /// An ICMP echo reply (or other reply type) without a tracked request.
    IcmpReply,
    /// An ICMP error whose embedded header belongs to no tracked connection, or malformed
    /// input to `lookup_related`.
    IcmpUnrelated,
}

// Internal 4-bit state codes stored in a slot. The two FIN-wait codes remember who sent FIN.
pub(crate) const S_SYN_SENT: u8 = 1;
pub(crate) const S_SYN_RECV: u8 = 2;
pub(crate) const S_ESTABLISHED: u8 = 3;
pub(crate) const S_FIN_ORIG: u8 = 4;
pub(crate) const S_FIN_REPLY: u8 = 5;
pub(crate) const S_CLOSING: u8 = 6;
pub(crate) const S_RESET: u8 = 7;
pub(crate) const S_UNREPLIED: u8 = 8;
pub(crate) const S_REPLIED: u8 = 9;

const PUBLIC: [State; 16] = {
    let mut t = [State::Unreplied; 16];
    t[S_SYN_SENT as usize] = State::TcpSynSent;
    t[S_SYN_RECV as usize] = State::TcpSynReceived;
    t[S_ESTABLISHED as usize] = State::TcpEstablished;
    t[S_FIN_ORIG as usize] = State::TcpFinWait;
    t[S_FIN_REPLY as usize] = State::TcpFinWait;
    t[S_CLOSING as usize] = State::TcpClosing;
    t[S_RESET as usize] = State::TcpReset;
    t[S_REPLIED as usize] = State::Replied;
    t
};

/// The public state of an internal code.
#[inline]
pub(crate) fn public(code: u8) -> State {
    PUBLIC[usize::from(code & 0xF)]
}

/// Protocol kinds with their own timeouts: TCP, UDP/UDPLite, ICMP/ICMPv6, anything else.
pub(crate) const KINDS: usize = 4;
const KIND: [u8; 256] = {
    let mut t = [3u8; 256];
    t[IpProto::TCP as usize] = 0;
    t[IpProto::UDP as usize] = 1;
    t[IpProto::UDPLITE as usize] = 1;
    t[IpProto::ICMP as usize] = 2;
    t[IpProto::ICMPV6 as usize] = 2;
    t
};

#[inline]
pub(crate) fn kind(protocol: u8) -> usize {
    usize::from(KIND[usize::from(protocol)])
}

/// A representative protocol of each kind, for building timeout tables.
pub(crate) const KIND_PROTOCOL: [u8; KINDS] = [IpProto::TCP, IpProto::UDP, IpProto::ICMP, 0];

/// Timeout classes, indexes into `TimeoutTable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeoutClass {
    TcpSyn = 0,
    TcpEstablished = 1,
    TcpClosing = 2,
    TcpReset = 3,
    Udp = 4,
    Icmp = 5,
    Other = 6,
}

pub(crate) fn timeout_class(protocol: u8, code: u8) -> TimeoutClass {
    match code {
        S_SYN_SENT | S_SYN_RECV => TimeoutClass::TcpSyn,
        // Half-closed connections keep the established timeout, like Felix's BPF dataplane:
        // data may legitimately flow the other way for a long time.
        S_ESTABLISHED | S_FIN_ORIG | S_FIN_REPLY => TimeoutClass::TcpEstablished,
        S_CLOSING => TimeoutClass::TcpClosing,
        S_RESET => TimeoutClass::TcpReset,
        _ => match protocol {
            IpProto::UDP | IpProto::UDPLITE => TimeoutClass::Udp,
            IpProto::ICMP | IpProto::ICMPV6 => TimeoutClass::Icmp,
            _ => TimeoutClass::Other,
        },
    }
}

/// True for ICMP/ICMPv6 types that are errors carrying an embedded header.
pub(crate) fn is_icmp_error(protocol: u8, icmp_type: u8) -> bool {
    match protocol {
        // destination unreachable, time exceeded, parameter problem
        IpProto::ICMP => matches!(icmp_type, 3 | 11 | 12),
        // destination unreachable, packet too big, time exceeded, parameter problem
        IpProto::ICMPV6 => matches!(icmp_type, 1..=4),
        _ => false,
    }
}

/// True for ICMP/ICMPv6 types that answer a request and so never open a connection.
fn is_icmp_reply(protocol: u8, icmp_type: u8) -> bool {
    match protocol {
        // echo reply, timestamp reply, information reply, address mask reply
        IpProto::ICMP => matches!(icmp_type, 0 | 14 | 16 | 18),
        // echo reply
        IpProto::ICMPV6 => icmp_type == 129,
        _ => false,
    }
}

/// The state a new entry starts in, or why the packet may not create one.
pub(crate) fn open(
    protocol: u8,
    icmp_type: Option<u8>,
    tcp_flags: u8,
    pickup: bool,
) -> Result<u8, Invalid> {
    if protocol == IpProto::TCP {
        let f = tcp_flags & (TcpFlags::SYN | TcpFlags::ACK | TcpFlags::RST | TcpFlags::FIN);
        return match f {
            TcpFlags::SYN => Ok(S_SYN_SENT),
            TcpFlags::ACK if pickup => Ok(S_ESTABLISHED),
            TcpFlags::ACK => Err(Invalid::MidStream),
            _ => Err(Invalid::TcpCannotOpen),
        };
    }
    if let Some(t) = icmp_type {
        if is_icmp_reply(protocol, t) {
            return Err(Invalid::IcmpReply);
        }
        if is_icmp_error(protocol, t) {
            return Err(Invalid::IcmpUnrelated);
        }
    }
    Ok(S_UNREPLIED)
}

/// What a packet does to a tracked connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Stay tracked, in this state.
    To(u8),
    /// A SYN from the originator on a closed connection: a new connection reusing the tuple.
    /// The entry is treated as absent, so policy is evaluated again.
    Reopen,
}

/// The transition for one packet of a tracked connection.
#[inline]
pub(crate) fn step(protocol: u8, code: u8, dir: Direction, tcp_flags: u8) -> Step {
    if protocol != IpProto::TCP {
        return Step::To(if dir == Direction::Reply {
            S_REPLIED
        } else {
            code
        });
    }
    // The common case: a data or ACK segment of a connection past its handshake.
    if tcp_flags & (TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST) == 0 && code != S_SYN_RECV {
        return Step::To(code);
    }
    let syn = tcp_flags & TcpFlags::SYN != 0;
    let ack = tcp_flags & TcpFlags::ACK != 0;
    if tcp_flags & TcpFlags::RST != 0 {
        return Step::To(S_RESET);
    }
    if syn && !ack && dir == Direction::Original && matches!(code, S_CLOSING | S_RESET) {
        return Step::Reopen;
    }
    let fin = tcp_flags & TcpFlags::FIN != 0;
    let next = match (code, dir) {
        (S_SYN_SENT, Direction::Reply) if syn && ack => S_SYN_RECV,
        (S_SYN_RECV, Direction::Original) if ack && !syn => S_ESTABLISHED,
        _ => code,
    };
    if !fin {
        return Step::To(next);
    }
    Step::To(match (next, dir) {
        (S_FIN_ORIG, Direction::Reply) | (S_FIN_REPLY, Direction::Original) => S_CLOSING,
        (S_FIN_ORIG | S_FIN_REPLY | S_CLOSING | S_RESET, _) => next,
        (_, Direction::Original) => S_FIN_ORIG,
        (_, Direction::Reply) => S_FIN_REPLY,
    })
}

/// True for states that nf_conntrack's early drop would take: not yet assured, or dying.
pub(crate) fn droppable(code: u8, replied: bool) -> bool {
    !replied || matches!(code, S_SYN_SENT | S_SYN_RECV | S_CLOSING | S_RESET)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Original as O, Reply as R};

    const SYN: u8 = TcpFlags::SYN;
    const SYNACK: u8 = TcpFlags::SYN | TcpFlags::ACK;
    const ACK: u8 = TcpFlags::ACK;
    const FINACK: u8 = TcpFlags::FIN | TcpFlags::ACK;
    const RST: u8 = TcpFlags::RST;

    fn run(start: u8, pkts: &[(Direction, u8)]) -> Vec<State> {
        let mut code = start;
        pkts.iter()
            .map(|&(d, f)| {
                code = match step(IpProto::TCP, code, d, f) {
                    Step::To(c) => c,
                    Step::Reopen => 0,
                };
                public(code)
            })
            .collect()
    }

    #[test]
    fn tcp_handshake_and_close() {
        use State::*;
        let pkts = [
            (R, SYNACK),
            (O, ACK),
            (O, ACK | TcpFlags::PSH),
            (O, FINACK),
            (R, ACK),
        ];
        let states = run(S_SYN_SENT, &pkts);
        let expect = [
            TcpSynReceived,
            TcpEstablished,
            TcpEstablished,
            TcpFinWait,
            TcpFinWait,
        ];
        assert_eq!(states, expect);
        assert_eq!(
            run(S_FIN_ORIG, &[(R, FINACK), (O, ACK)]),
            [TcpClosing, TcpClosing]
        );
        assert_eq!(
            run(S_ESTABLISHED, &[(R, FINACK), (O, FINACK)]),
            [TcpFinWait, TcpClosing]
        );
    }

    #[test]
    fn tcp_reset_and_reopen() {
        assert_eq!(run(S_ESTABLISHED, &[(R, RST)]), [State::TcpReset]);
        assert_eq!(run(S_SYN_SENT, &[(R, RST | ACK)]), [State::TcpReset]);
        for code in [S_CLOSING, S_RESET] {
            assert_eq!(step(IpProto::TCP, code, O, SYN), Step::Reopen);
            assert_eq!(step(IpProto::TCP, code, R, SYN), Step::To(code));
        }
        // A retransmitted SYN leaves a live connection alone.
        assert_eq!(step(IpProto::TCP, S_SYN_SENT, O, SYN), Step::To(S_SYN_SENT));
        assert_eq!(
            step(IpProto::TCP, S_ESTABLISHED, O, SYN),
            Step::To(S_ESTABLISHED)
        );
        // A SYN-ACK in the original direction does not advance the handshake.
        assert_eq!(
            step(IpProto::TCP, S_SYN_SENT, O, SYNACK),
            Step::To(S_SYN_SENT)
        );
    }

    #[test]
    fn opening_rules() {
        assert_eq!(open(IpProto::TCP, None, SYN, false), Ok(S_SYN_SENT));
        assert_eq!(open(IpProto::TCP, None, SYN | 0xC0, false), Ok(S_SYN_SENT));
        assert_eq!(open(IpProto::TCP, None, ACK, true), Ok(S_ESTABLISHED));
        assert_eq!(
            open(IpProto::TCP, None, ACK | 8, false),
            Err(Invalid::MidStream)
        );
        for f in [SYNACK, RST, FINACK, 0] {
            assert_eq!(
                open(IpProto::TCP, None, f, true),
                Err(Invalid::TcpCannotOpen)
            );
        }
        assert_eq!(open(IpProto::UDP, None, 0, false), Ok(S_UNREPLIED));
        assert_eq!(open(IpProto::ICMP, Some(8), 0, false), Ok(S_UNREPLIED));
        assert_eq!(
            open(IpProto::ICMP, Some(0), 0, false),
            Err(Invalid::IcmpReply)
        );
        assert_eq!(
            open(IpProto::ICMPV6, Some(129), 0, false),
            Err(Invalid::IcmpReply)
        );
        assert_eq!(
            open(IpProto::ICMPV6, Some(2), 0, false),
            Err(Invalid::IcmpUnrelated)
        );
    }

    #[test]
    fn udp_and_other_become_replied() {
        for p in [IpProto::UDP, IpProto::SCTP, 47] {
            assert_eq!(step(p, S_UNREPLIED, O, 0), Step::To(S_UNREPLIED));
            assert_eq!(step(p, S_UNREPLIED, R, 0), Step::To(S_REPLIED));
            assert_eq!(step(p, S_REPLIED, O, 0), Step::To(S_REPLIED));
        }
    }

    #[test]
    fn timeout_classes() {
        assert_eq!(
            timeout_class(IpProto::TCP, S_SYN_RECV),
            TimeoutClass::TcpSyn
        );
        assert_eq!(
            timeout_class(IpProto::TCP, S_FIN_REPLY),
            TimeoutClass::TcpEstablished
        );
        assert_eq!(
            timeout_class(IpProto::UDPLITE, S_REPLIED),
            TimeoutClass::Udp
        );
        assert_eq!(
            timeout_class(IpProto::ICMPV6, S_UNREPLIED),
            TimeoutClass::Icmp
        );
        assert_eq!(
            timeout_class(IpProto::SCTP, S_UNREPLIED),
            TimeoutClass::Other
        );
        assert!(droppable(S_ESTABLISHED, false));
        assert!(!droppable(S_ESTABLISHED, true));
        assert!(!droppable(S_REPLIED, true));
        assert!(droppable(S_SYN_RECV, true));
    }
}
