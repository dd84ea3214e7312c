//! AF_XDP port I/O for Palisade: one UMEM shared by a worker's ports, a socket on every RX queue,
//! batched RX/TX, and a safe layer in which frame ownership is a type.
//!
//! ```text
//!             free list ──alloc──► Frame (user) ──send──► TX ring ──kick──► wire
//!                ▲  │                 ▲      │                               │
//!                │  └─refill─► fill ring ─► RX ring ─recv─┘      release    completion ring
//!                │                                        ▼                   │
//!                └────────────────────────────────────────┴───────reap────────┘
//! ```
//!
//! - [`Frame`]: a non-`Copy` token, the only handle to a frame's bytes; a frame cannot be in two
//!   rings at once, and kernel descriptors that contradict the state table are rejected.
//! - [`PacketIo`]: what the worker loop is generic over; [`XskIo`] (AF_XDP via xsk-rs 0.11) and
//!   [`MemIo`] (in memory, same ownership layer over fake rings) implement it.
//!   [`PacketIo::buffers_mut`] lends the buffers of a whole RX batch at once ([`FrameBufs`]), so
//!   a pipeline rewrites every frame in place.
//! - [`Pacer`]: when a poll loop keeps polling and when it sleeps in `poll()` (busy-poll for
//!   a window after the last frame).
//! - [`bare`]: a MAC-rewriting two-port forwarder (the `xsk-bare` benchmark configuration and the
//!   end-to-end test's dataplane).
//!
//! A worker loop is generic over [`PacketIo`]; with [`MemIo`] it runs in a unit test:
//!
//! ```
//! use palisade_xsk::{MemIo, PacketIo, PortId, Received};
//!
//! let mut io = MemIo::new(2, 1, 64, 16)?; // 2 ports, 1 queue each, 64 frames, rings of 16
//! assert!(io.inject(PortId(0), 0, b"frame"));
//! let mut rx = Vec::new();
//! io.recv(&mut rx, 32)?;
//! let mut out = Vec::new();
//! for Received { port, mut frame } in rx.drain(..) {
//!     io.data_mut(&mut frame)[0] = b'F'; // rewrite in place, no copy
//!     assert_eq!(port, PortId(0));
//!     out.push(frame);
//! }
//! io.send(PortId(1), &mut out)?; // what does not fit stays in `out` (backpressure)
//! io.flush()?; // kick TX until drained, reap completions, refill
//! assert_eq!(io.take_sent(PortId(1)), vec![b"Frame".to_vec()]);
//! # Ok::<(), palisade_xsk::XskError>(())
//! ```
//!
//! `unsafe` lives only in `mem` (frame bytes), `xsk` (xsk-rs ring calls) and `sys` (poll, probe).
#![deny(unsafe_code)]

pub mod bare;
mod error;
mod fill;
mod frame;
mod io;
mod mem;
mod mem_io;
mod pacing;
pub mod ring;
mod sys;
mod xsk;

pub use error::XskError;
pub use frame::Frame;
pub use io::{IoStats, PacketIo, PortId, Ports, Received, TxBatch};
pub use mem::{FrameBuf, FrameBufs};
pub use mem_io::{MemIo, MemRings};
pub use pacing::{Pace, Pacer, Pacing};
pub use ring::KernelStats;
pub use sys::probe_af_xdp;
pub use xsk::{
    AUTO_FULL_SOCKETS, PortSpec, SocketInfo, XskConfig, XskIo, XskRings, auto_frame_count,
};
