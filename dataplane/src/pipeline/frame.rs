//! What goes into and comes out of a batch.
//!
//! Contract: a `FrameRef` lends the pipeline one received frame: its whole buffer (an AF_XDP
//! chunk; room for an in-place reply), the length received, and the ingress port. An `Action`
//! says what the I/O layer must do with that same buffer.

use crate::forward::PortId;
use crate::packet::DropReason;

/// One received frame, lent to the pipeline for a batch.
#[derive(Debug)]
pub struct FrameRef<'a> {
    /// The frame's buffer; `buf[..len]` is the frame, the rest is free room for a reply.
    pub buf: &'a mut [u8],
    /// Length of the received frame.
    pub len: usize,
    /// The port it arrived on.
    pub port: PortId,
}

impl<'a> FrameRef<'a> {
    /// A frame filling `buf` completely.
    pub fn new(buf: &'a mut [u8], port: PortId) -> Self {
        let len = buf.len();
        Self { buf, len, port }
    }

    /// The received bytes (clamped to the buffer).
    pub fn bytes(&self) -> &[u8] {
        let len = self.len.min(self.buf.len());
        self.buf.get(..len).unwrap_or_default()
    }
}

/// The verdict on one frame, in batch order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Transmit the (rewritten) frame, same length, on `port`.
    Forward { port: PortId },
    /// Transmit `buf[..len]`, a reply built in the frame's buffer, on `port` (the ingress).
    Reply { port: PortId, len: usize },
    /// Return the buffer to the fill ring.
    Drop(DropReason),
}
