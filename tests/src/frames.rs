//! Hand-made Ethernet frames (well-formed, malformed and hostile) and their injection into an
//! interface with `trafgen` (netsniff-ng), which writes them verbatim through a packet socket.
//!
//! Contract: [`Ipv4Frame`] builds an Ethernet + IPv4 frame field by field, with a correct
//! header checksum unless told otherwise, so a test can break exactly one thing. [`inject`]
//! sends each frame once, in order, 1 ms apart, from `dev` inside a namespace (one trafgen
//! process, one CPU, the kernel's packet-socket path: nothing is added or fixed up, except that
//! the kernel refuses frames shorter than an Ethernet header).

use std::{
    net::{Ipv4Addr, Ipv6Addr},
    process::Command,
};

use crate::netns::{HarnessError, NetNs, run};
use crate::scenario::TempDir;

/// The one's-complement checksum of `bytes` (RFC 1071).
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet + IPv4 frame, field by field.
#[derive(Debug, Clone)]
pub struct Ipv4Frame {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    /// IHL in 32-bit words; `None`: 5 plus the options' words.
    pub ihl: Option<u8>,
    /// Total length; `None`: header plus payload.
    pub total_len: Option<u16>,
    /// Flags (3 bits) and fragment offset (13 bits, in 8-byte units).
    pub flags_fragment: u16,
    /// Options (padded with zeros to a multiple of 4 bytes).
    pub options: Vec<u8>,
    /// The header checksum; `None`: the correct one.
    pub checksum: Option<u16>,
    /// The bytes after the IP header.
    pub payload: Vec<u8>,
}

impl Ipv4Frame {
    /// A well-formed frame carrying `payload` as protocol `protocol`, TTL 64, no options.
    pub fn new(
        macs: ([u8; 6], [u8; 6]),
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        payload: Vec<u8>,
    ) -> Self {
        Self {
            dst_mac: macs.0,
            src_mac: macs.1,
            src,
            dst,
            protocol,
            ttl: 64,
            ihl: None,
            total_len: None,
            flags_fragment: 0,
            options: Vec::new(),
            checksum: None,
            payload,
        }
    }

    /// The frame's bytes.
    pub fn build(&self) -> Vec<u8> {
        let mut options = self.options.clone();
        while !options.len().is_multiple_of(4) {
            options.push(0);
        }
        let header_len = 20 + options.len();
        let ihl = self.ihl.unwrap_or((header_len / 4) as u8);
        let total = self
            .total_len
            .unwrap_or((header_len + self.payload.len()) as u16);
        let mut ip = Vec::with_capacity(header_len);
        ip.push(0x40 | (ihl & 0x0f));
        ip.push(0);
        ip.extend_from_slice(&total.to_be_bytes());
        ip.extend_from_slice(&[0x12, 0x34]);
        ip.extend_from_slice(&self.flags_fragment.to_be_bytes());
        ip.extend_from_slice(&[self.ttl, self.protocol, 0, 0]);
        ip.extend_from_slice(&self.src.octets());
        ip.extend_from_slice(&self.dst.octets());
        ip.extend_from_slice(&options);
        let sum = self.checksum.unwrap_or_else(|| checksum(&ip));
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut frame = ethernet(self.dst_mac, self.src_mac, 0x0800);
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&self.payload);
        frame
    }
}

/// An Ethernet header.
pub fn ethernet(dst: [u8; 6], src: [u8; 6], ether_type: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(64);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ether_type.to_be_bytes());
    f
}

/// An Ethernet + IPv6 frame `src` -> `dst`, hop limit 64, whose fixed header names
/// `next_header` and is followed by `rest` (extension headers and payload); `payload_len`:
/// `None` for the length of `rest`.
pub fn ipv6(
    macs: ([u8; 6], [u8; 6]),
    (src, dst): (Ipv6Addr, Ipv6Addr),
    next_header: u8,
    payload_len: Option<u16>,
    rest: &[u8],
) -> Vec<u8> {
    let mut f = ethernet(macs.0, macs.1, 0x86dd);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&payload_len.unwrap_or(rest.len() as u16).to_be_bytes());
    f.extend_from_slice(&[next_header, 64]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(rest);
    f
}

/// A UDP header and payload with checksum 0 ("none", valid for IPv4).
pub fn udp(src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&src_port.to_be_bytes());
    u.extend_from_slice(&dst_port.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

/// Sends every frame once, in order, about 1 ms apart, out of `dev` in `ns` (see the module
/// contract).
pub fn inject(ns: &NetNs, dev: &str, frames: &[Vec<u8>]) -> Result<(), HarnessError> {
    let dir = TempDir::new("trafgen")?;
    let mut cfg = String::new();
    for f in frames {
        let bytes: Vec<String> = f.iter().map(|b| format!("0x{b:02x}")).collect();
        cfg.push_str("{ ");
        cfg.push_str(&bytes.join(", "));
        cfg.push_str(" }\n");
    }
    let path = dir.write("frames.cfg", &cfg)?;
    let count = frames.len().to_string();
    let mut cmd: Command = ns.command("trafgen");
    cmd.arg("-i").arg(&path).args([
        "-o",
        dev,
        "-n",
        &count,
        "-P",
        "1",
        "-t",
        "1ms",
        "--no-sock-mem",
        "--no-cpu-stats",
    ]);
    run(&mut cmd).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_a_known_header_and_of_a_header_with_its_checksum() {
        // RFC 1071's example-style check: a header including its correct checksum sums to 0.
        let f = Ipv4Frame::new(
            ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            17,
            udp(1, 2, b"x"),
        )
        .build();
        assert_eq!(checksum(&f[14..34]), 0);
        assert_eq!(f.len(), 14 + 20 + 9);
        let broken = Ipv4Frame {
            checksum: Some(0xdead),
            ..Ipv4Frame::new(
                ([0; 6], [0; 6]),
                Ipv4Addr::LOCALHOST,
                Ipv4Addr::LOCALHOST,
                6,
                vec![],
            )
        }
        .build();
        assert_ne!(checksum(&broken[14..34]), 0);
    }

    #[test]
    fn options_are_padded_and_counted_in_ihl() {
        let f = Ipv4Frame {
            options: vec![1, 1, 1],
            ..Ipv4Frame::new(
                ([0; 6], [0; 6]),
                Ipv4Addr::LOCALHOST,
                Ipv4Addr::LOCALHOST,
                17,
                vec![],
            )
        }
        .build();
        assert_eq!(f[14], 0x46);
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 24);
        assert_eq!(checksum(&f[14..38]), 0);
    }
}
