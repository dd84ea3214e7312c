//! The crate's error type: one enum, structured fields, the interface always named.

use std::{io, path::PathBuf};

/// Everything that can go wrong while loading, attaching, pinning or configuring the program.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    /// The interface does not exist in the calling thread's network namespace.
    #[error("interface {interface:?} not found in this network namespace: {source}")]
    UnknownInterface {
        interface: String,
        #[source]
        source: io::Error,
    },
    /// The interface name cannot name an interface (empty, too long, `/`, NUL, `.` or `..`).
    #[error("invalid interface name {interface:?}: {reason}")]
    InvalidInterfaceName {
        interface: String,
        reason: &'static str,
    },
    /// Another XDP program is attached and we have no pinned link of ours that owns it
    /// (left by an earlier run attached through netlink, or another tool's).
    #[error(
        "interface {interface} already has XDP program id {prog_id} attached that Palisade did not \
         pin; detach it (`ip link set dev {interface} xdp off`) or remove it from its owner"
    )]
    AlreadyAttached { interface: String, prog_id: u32 },
    /// Loading the embedded object, the program or a map failed.
    #[error("loading the XDP object for {interface} failed at {step}: {source}")]
    Load {
        interface: String,
        step: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Attaching failed in both driver and skb mode.
    #[error("attaching XDP to {interface} failed (driver mode: {driver}; skb mode: {skb})")]
    Attach {
        interface: String,
        driver: String,
        skb: String,
    },
    /// The kernel attached the program through netlink instead of a bpf_link.
    #[error("the kernel attached XDP on {interface} without a bpf_link; refusing to continue")]
    NotALink { interface: String },
    /// A pinning step failed.
    #[error("pinning {what} for {interface} at {} failed: {source}", path.display())]
    Pin {
        interface: String,
        what: &'static str,
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The pin root is not on bpffs and mounting bpffs there failed.
    #[error("cannot mount bpffs at {}: {source}", path.display())]
    MountBpffs {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A file-system operation on the pin directory failed.
    #[error("{op} {} failed: {source}", path.display())]
    Fs {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// A queue index outside the XSKMAP.
    #[error("queue {queue} of {interface} is beyond the {max} queues the XSKMAP holds")]
    QueueOutOfRange {
        interface: String,
        queue: u32,
        max: u32,
    },
    /// Updating a map (socket registration, fallback) failed.
    #[error("updating {map} for {interface} failed: {source}")]
    MapUpdate {
        interface: String,
        map: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Querying the interface's XDP state over netlink failed.
    #[error("netlink query of interface index {ifindex} failed: {source}")]
    Netlink {
        ifindex: u32,
        #[source]
        source: io::Error,
    },
}
