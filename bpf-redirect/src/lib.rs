//! Palisade's XDP redirect program and its loader.
//!
//! `redirect.bpf.c` (built by `build.rs` with `clang -O2 -target bpf`) redirects every frame into
//! the AF_XDP socket registered for the frame's RX queue in an `XSKMAP`, and returns a configurable
//! fallback action (fail-closed `XDP_DROP` by default, `XDP_PASS` for debugging) when no socket is
//! registered for that queue.
//!
//! [`Redirect::attach`] loads it with aya 0.14 and attaches it through a `bpf_link` (driver mode,
//! falling back to skb mode with a warning). In [`FailureMode::Closed`] the link and the maps are
//! pinned on bpffs (mounted if absent), so the program outlives a crash of the dataplane and keeps
//! dropping frames; the next run takes the pinned link over. In [`FailureMode::Open`] nothing is
//! pinned, so a crash detaches the program and traffic takes the kernel path.
//!
//! ```text
//!  frame on queue q --> palisade_redirect --xsks_map[q] set--> AF_XDP socket (user space)
//!                                         \-no socket------> palisade_cfg[0]: DROP | PASS
//! ```
//!
//! File-system, mount and netlink calls go through the [`sys::Sys`] chokepoint so their error
//! paths are unit-tested with a fake.
#![deny(unsafe_code)] // allowed in `ethtool` only (one ioctl)

mod error;
mod ethtool;
mod loader;
pub mod netlink;
pub mod pin;
pub mod sys;

pub use error::BpfError;
pub use loader::{AttachMode, AttachOptions, FailureMode, Fallback, Origin, Redirect};

/// The compiled XDP object (ELF), embedded at build time.
pub const REDIRECT_OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/redirect.bpf.o"));

/// Name of the XDP program inside [`REDIRECT_OBJECT`].
pub const PROGRAM_NAME: &str = "palisade_redirect";
/// Name of the queue -> socket map.
pub const XSKS_MAP: &str = "xsks_map";
/// Name of the one-entry configuration map (entry 0: fallback action).
pub const CONFIG_MAP: &str = "palisade_cfg";
/// The number of RX queues `interface` (in the calling thread's network namespace) uses: bind an
/// AF_XDP socket on each. Read with `ETHTOOL_GCHANNELS` (the real queue count; a veth
/// preallocates one per CPU but uses 1 unless `ethtool -L` raises it, and binding a socket to a
/// queue beyond the real count fails with EINVAL); a driver that does not report channels counts
/// as 1 queue, with a warning.
pub fn rx_queue_count(interface: &str) -> Result<u32, BpfError> {
    use sys::Sys as _;
    pin::check_interface_name(interface)?;
    sys::RealSys
        .if_nametoindex(interface)
        .map_err(|source| BpfError::UnknownInterface {
            interface: interface.to_owned(),
            source,
        })?;
    match ethtool::rx_channels(interface) {
        Ok(n) => Ok(n.max(1)),
        Err(e) => {
            tracing::warn!(interface, error = %e, "ETHTOOL_GCHANNELS failed; assuming 1 RX queue");
            Ok(1)
        }
    }
}

/// Loads the program through the verifier without attaching it: whether this kernel can run it.
pub fn probe_load() -> Result<(), BpfError> {
    loader::load_only()
}

/// Number of entries of [`XSKS_MAP`]: the highest RX queue index served is one less.
pub const MAX_QUEUES: u32 = 64;
