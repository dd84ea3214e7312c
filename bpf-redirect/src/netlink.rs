//! Netlink `RTM_GETLINK` query for the XDP program attached to an interface and its RX queues.
//!
//! Contract: [`query_xdp_prog_id`] returns the id of the XDP program attached to an interface of
//! the calling thread's network namespace (any mode), or `None`. The message building and parsing
//! are pure functions ([`getlink_request`], [`parse_reply`]), tested on canned bytes.

use std::{io, os::fd::AsRawFd};

use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, recv, sendto, socket,
};

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const IFLA_XDP: u16 = 43;
const IFLA_EXT_MASK: u16 = 29;
const IFLA_NUM_RX_QUEUES: u16 = 32;
const RTEXT_FILTER_SKIP_STATS: u32 = 1 << 3;
const NLA_TYPE_MASK: u16 = 0x3fff;
const IFLA_XDP_ATTACHED: u16 = 2;
/// `IFLA_XDP_PROG_ID`, then the per-mode ids (`DRV`, `SKB`, `HW`) used when several are attached.
const IFLA_XDP_PROG_IDS: [u16; 4] = [4, 5, 6, 7];

/// Builds an `RTM_GETLINK` request for `ifindex` with sequence number `seq`.
pub fn getlink_request(ifindex: u32, seq: u32) -> Vec<u8> {
    let len = NLMSG_HDRLEN + IFINFOMSG_LEN + 8;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&RTM_GETLINK.to_ne_bytes());
    m.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // struct ifinfomsg: family, pad, type, index, flags, change
    m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    m.extend_from_slice(&ifindex.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    // IFLA_EXT_MASK: skip the statistics, we only want IFLA_XDP.
    m.extend_from_slice(&8u16.to_ne_bytes());
    m.extend_from_slice(&IFLA_EXT_MASK.to_ne_bytes());
    m.extend_from_slice(&RTEXT_FILTER_SKIP_STATS.to_ne_bytes());
    m
}

/// What the kernel says about a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LinkState {
    /// The attached XDP program, if any.
    pub xdp_prog_id: Option<u32>,
    /// `IFLA_NUM_RX_QUEUES` (0 if absent).
    pub rx_queues: u32,
}

/// What one netlink datagram said about our request.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// The link message.
    Link(LinkState),
    /// The kernel answered with an error (positive errno).
    Error(i32),
    /// Nothing for our sequence number in this datagram.
    Other,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Iterates over `(type, payload)` of the route attributes in `b`; stops at the first malformed one.
fn attrs(b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(b, at)?);
        let ty = u16_at(b, at + 2)? & NLA_TYPE_MASK;
        if len < 4 {
            return None;
        }
        let payload = b.get(at + 4..at + len)?;
        at += (len + 3) & !3;
        Some((ty, payload))
    })
}

/// Parses one datagram received in answer to [`getlink_request`] with sequence `seq`.
pub fn parse_reply(datagram: &[u8], seq: u32) -> Reply {
    let mut at = 0usize;
    while let (Some(len), Some(ty), Some(mseq)) = (
        u32_at(datagram, at),
        u16_at(datagram, at + 4),
        u32_at(datagram, at + 8),
    ) {
        let len = len as usize;
        let Some(msg) = datagram.get(at..at + len).filter(|_| len >= NLMSG_HDRLEN) else {
            return Reply::Other;
        };
        if mseq == seq {
            match ty {
                NLMSG_ERROR => {
                    let errno = u32_at(msg, NLMSG_HDRLEN).map_or(0, |e| e as i32);
                    return Reply::Error(-errno);
                }
                RTM_NEWLINK => {
                    let body = msg.get(NLMSG_HDRLEN + IFINFOMSG_LEN..).unwrap_or_default();
                    let xdp_prog_id = attrs(body)
                        .find(|(t, _)| *t == IFLA_XDP)
                        .and_then(|(_, xdp)| xdp_prog_id(xdp));
                    let rx_queues = attrs(body)
                        .find(|(t, _)| *t == IFLA_NUM_RX_QUEUES)
                        .and_then(|(_, p)| u32_at(p, 0))
                        .unwrap_or(0);
                    return Reply::Link(LinkState {
                        xdp_prog_id,
                        rx_queues,
                    });
                }
                NLMSG_DONE => return Reply::Link(LinkState::default()),
                _ => {}
            }
        }
        at += (len + 3) & !3;
    }
    Reply::Other
}

fn xdp_prog_id(nested: &[u8]) -> Option<u32> {
    let attached = attrs(nested)
        .find(|(t, _)| *t == IFLA_XDP_ATTACHED)
        .and_then(|(_, p)| p.first().copied())
        .unwrap_or(0);
    if attached == 0 {
        return None;
    }
    IFLA_XDP_PROG_IDS.iter().find_map(|want| {
        attrs(nested)
            .find(|(t, _)| t == want)
            .and_then(|(_, p)| u32_at(p, 0))
            .filter(|id| *id != 0)
    })
}

/// Asks the kernel which XDP program is attached to `ifindex` (any mode).
pub fn query_xdp_prog_id(ifindex: u32) -> io::Result<Option<u32>> {
    query_link(ifindex).map(|l| l.xdp_prog_id)
}

/// Asks the kernel about link `ifindex` of the calling thread's network namespace.
pub fn query_link(ifindex: u32) -> io::Result<LinkState> {
    let to_io = |e: nix::Error| io::Error::from_raw_os_error(e as i32);
    let fd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .map_err(to_io)?;
    let seq = std::process::id() ^ ifindex.rotate_left(16);
    let req = getlink_request(ifindex, seq);
    sendto(
        fd.as_raw_fd(),
        &req,
        &NetlinkAddr::new(0, 0),
        MsgFlags::empty(),
    )
    .map_err(to_io)?;
    let mut buf = vec![0u8; 64 * 1024];
    // The kernel answers a unicast request synchronously; a few datagrams at most.
    for _ in 0..16 {
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(to_io)?;
        match parse_reply(buf.get(..n).unwrap_or_default(), seq) {
            Reply::Link(state) => return Ok(state),
            Reply::Error(errno) => return Err(io::Error::from_raw_os_error(errno)),
            Reply::Other => {}
        }
    }
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "no RTM_NEWLINK answer from the kernel",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&ty.to_ne_bytes());
        a.extend_from_slice(payload);
        while a.len() % 4 != 0 {
            a.push(0);
        }
        a
    }

    fn msg(ty: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        m
    }

    fn link(attrs: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![0u8; IFINFOMSG_LEN];
        for a in attrs {
            body.extend_from_slice(a);
        }
        body
    }

    #[test]
    fn request_has_header_and_index() {
        let r = getlink_request(7, 42);
        assert_eq!(u32_at(&r, 0), Some(r.len() as u32));
        assert_eq!(u16_at(&r, 4), Some(RTM_GETLINK));
        assert_eq!(u32_at(&r, 8), Some(42));
        assert_eq!(u32_at(&r, NLMSG_HDRLEN + 4), Some(7));
    }

    #[test]
    fn attached_program_id_is_found_in_nested_attribute() {
        let mut nested = attr(IFLA_XDP_ATTACHED, &[1]);
        nested.extend(attr(4, &99u32.to_ne_bytes()));
        let body = link(&[attr(3, b"eth0\0"), attr(IFLA_XDP | 0x8000, &nested)]);
        assert_eq!(
            parse_reply(&msg(RTM_NEWLINK, 5, &body), 5),
            Reply::Link(LinkState {
                xdp_prog_id: Some(99),
                rx_queues: 0
            })
        );
    }

    #[test]
    fn rx_queue_count_is_read() {
        let body = link(&[attr(IFLA_NUM_RX_QUEUES, &2u32.to_ne_bytes())]);
        assert_eq!(
            parse_reply(&msg(RTM_NEWLINK, 1, &body), 1),
            Reply::Link(LinkState {
                xdp_prog_id: None,
                rx_queues: 2
            })
        );
    }

    #[test]
    fn multi_mode_uses_per_mode_id() {
        let mut nested = attr(IFLA_XDP_ATTACHED, &[4]);
        nested.extend(attr(6, &12u32.to_ne_bytes()));
        let body = link(&[attr(IFLA_XDP, &nested)]);
        assert_eq!(
            parse_reply(&msg(RTM_NEWLINK, 1, &body), 1),
            Reply::Link(LinkState {
                xdp_prog_id: Some(12),
                rx_queues: 0
            })
        );
    }

    #[test]
    fn no_program_attached() {
        let body = link(&[attr(IFLA_XDP, &attr(IFLA_XDP_ATTACHED, &[0]))]);
        assert_eq!(
            parse_reply(&msg(RTM_NEWLINK, 1, &body), 1),
            Reply::Link(LinkState::default())
        );
        let body = link(&[attr(3, b"lo\0")]);
        assert_eq!(
            parse_reply(&msg(RTM_NEWLINK, 1, &body), 1),
            Reply::Link(LinkState::default())
        );
    }

    #[test]
    fn error_and_foreign_sequence_and_garbage() {
        let err = msg(NLMSG_ERROR, 3, &(-libc::ENODEV).to_ne_bytes());
        assert_eq!(parse_reply(&err, 3), Reply::Error(libc::ENODEV));
        assert_eq!(parse_reply(&err, 4), Reply::Other);
        assert_eq!(parse_reply(&[1, 2, 3], 4), Reply::Other);
        // A length field pointing past the end must not panic.
        let mut bad = msg(RTM_NEWLINK, 1, &link(&[]));
        bad[0] = 0xff;
        assert_eq!(parse_reply(&bad, 1), Reply::Other);
        // A truncated attribute inside a link message.
        let mut body = link(&[]);
        body.extend_from_slice(&200u16.to_ne_bytes());
        body.extend_from_slice(&IFLA_XDP.to_ne_bytes());
        assert_eq!(
            parse_reply(&msg(RTM_NEWLINK, 1, &body), 1),
            Reply::Link(LinkState::default())
        );
    }
}
