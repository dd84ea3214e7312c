//! `ETHTOOL_GCHANNELS`: how many RX queues an interface really uses.
//!
//! Contract: [`rx_channels`] returns `rx_count + combined_count` of the interface in the calling
//! thread's network namespace. That is the kernel's `real_num_rx_queues`, the queues an AF_XDP
//! socket can bind to and frames can arrive on — not the maximum that `IFLA_NUM_RX_QUEUES`
//! reports (a veth has one per CPU preallocated but uses 1 unless `ethtool -L` raises it).
#![allow(unsafe_code)]

use std::{io, os::fd::AsRawFd};

use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

const ETHTOOL_GCHANNELS: u32 = 0x0000_003c;

/// `struct ethtool_channels` from `<linux/ethtool.h>`.
#[repr(C)]
#[derive(Debug, Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

/// RX queues in use on `interface` (`EOPNOTSUPP` when the driver does not report channels).
pub(crate) fn rx_channels(interface: &str) -> io::Result<u32> {
    let name = interface.as_bytes();
    // IFNAMSIZ is 16 including the NUL.
    if name.len() >= libc::IFNAMSIZ || name.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let sock = socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
    let mut channels = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..EthtoolChannels::default()
    };
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&raw mut channels).cast();
    // SAFETY: SIOCETHTOOL reads `ifr` (a NUL-terminated name, checked above) and writes the
    // `ethtool_channels` that `ifru_data` points to; both live on this stack frame across the
    // call and `channels` has the kernel's layout (repr(C), nine u32).
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &raw mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(channels.rx_count + channels.combined_count)
}
