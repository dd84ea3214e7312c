//! The crate's error type.

use std::io;

/// Errors of the AF_XDP port layer.
#[derive(Debug, thiserror::Error)]
pub enum XskError {
    /// Creating the UMEM failed (`reason` from xsk-rs; the errno, if any, in `source`).
    #[error("creating a UMEM of {frames} frames of {frame_size} bytes failed: {reason}")]
    Umem {
        frames: u32,
        frame_size: u32,
        reason: String,
        #[source]
        source: Option<io::Error>,
    },
    /// Creating or binding a socket failed.
    #[error("binding an AF_XDP socket to {interface} queue {queue} failed: {reason}")]
    Socket {
        interface: String,
        queue: u32,
        reason: String,
        #[source]
        source: Option<io::Error>,
    },
    /// A configuration value is not usable.
    #[error("invalid configuration: {field} = {value}: {expected}")]
    Config {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
    /// Reading an interface's queue count failed.
    #[error("cannot read the RX queues of {interface}: {source}")]
    Queues {
        interface: String,
        #[source]
        source: io::Error,
    },
    /// A port index outside the configured ports.
    #[error("no port {port} (there are {ports})")]
    NoSuchPort { port: usize, ports: usize },
    /// A frame is longer than a UMEM frame can hold.
    #[error("frame length {len} exceeds the frame capacity {capacity}")]
    TooLong { len: usize, capacity: usize },
    /// A syscall on a socket failed (`op`: kick, wakeup, poll).
    #[error("{op} on socket {socket} failed: {source}")]
    Io {
        op: &'static str,
        socket: usize,
        #[source]
        source: io::Error,
    },
    /// A frame of another UMEM was passed to `send` (rejected, nothing sent).
    #[error("frame {index} belongs to UMEM {umem}, not to this one")]
    ForeignFrame { index: u32, umem: u32 },
}
