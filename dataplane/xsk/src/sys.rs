//! The few raw syscalls the crate makes itself (xsk-rs makes the ring and bind calls):
//! `poll()` over socket fds, and the AF_XDP availability probe.
#![allow(unsafe_code)]

use std::{io, os::fd::RawFd, time::Duration};

/// Waits until one of `fds` is readable or `timeout` passes; returns whether one is.
pub(crate) fn poll_in(fds: &[RawFd], timeout: Duration) -> io::Result<bool> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|&fd| libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: `pfds` is a valid, initialised array of `pfds.len()` pollfd structs that lives
    // across the call; poll() only writes their `revents`.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
    match rc {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// Whether this kernel lets us open an AF_XDP socket (needs `CONFIG_XDP_SOCKETS` and
/// `CAP_NET_RAW`).
pub fn probe_af_xdp() -> io::Result<()> {
    // SAFETY: socket() takes no pointers; the returned fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    unsafe { libc::close(fd) };
    Ok(())
}
