//! Tests of the frame-ownership layer over the in-memory rings: conservation of frames,
//! backpressure, kernel faults rejected, kernel counters.

use super::*;
use crate::MemIo;

/// Every frame is counted exactly once across the free list, rings and user space.
fn assert_conserved(io: &MemIo, user: usize) {
    let in_fill: usize = io.sockets.iter().map(|s| s.in_fill as usize).sum();
    let in_tx = io.pool.frames() - io.pool.free_count() - in_fill - user;
    let tx_state: usize = (0..io.sockets.len())
        .map(|s| io.pool.count(crate::frame::State::Tx(s as u16)))
        .sum();
    assert_eq!(in_tx, tx_state, "frames unaccounted for");
}

#[test]
fn frame_round_trip_returns_every_frame() {
    let mut io = MemIo::new(2, 2, 64, 8).expect("io");
    assert_conserved(&io, 0);
    assert!(io.inject(PortId(0), 1, b"hello"));
    let mut rx = Vec::new();
    assert_eq!(io.recv(&mut rx, 16).expect("recv"), 1);
    let Received { port, mut frame } = rx.pop().expect("one frame");
    assert_eq!(port, PortId(0));
    assert_eq!(io.data(&frame), b"hello");
    io.data_mut(&mut frame)[0] = b'j';
    io.set_len(&mut frame, 4).expect("shrink");
    assert_conserved(&io, 1);
    let mut out = vec![frame];
    assert_eq!(io.send(PortId(1), &mut out).expect("send"), 1);
    assert_conserved(&io, 0);
    io.flush().expect("flush");
    assert_eq!(io.take_sent(PortId(1)), vec![b"jell".to_vec()]);
    io.flush().expect("flush reaps the completion");
    assert_eq!(io.stats().completed, 1);
    assert_conserved(&io, 0);
    assert_eq!(io.stats().anomalies, 0);
}

#[test]
fn a_batch_is_rewritten_in_place_through_buffers_lent_together() {
    let mut io = MemIo::new(2, 2, 64, 8).expect("io");
    assert!(io.inject(PortId(0), 0, b"one"));
    assert!(io.inject(PortId(1), 1, b"second"));
    assert!(io.inject(PortId(0), 1, b"3"));
    let mut rx = Vec::new();
    assert_eq!(io.recv(&mut rx, 16).expect("recv"), 3);
    let capacity = io.frame_capacity();
    {
        let mut bufs: Vec<_> = io.buffers_mut(&mut rx).collect();
        let mut seen: Vec<(PortId, Vec<u8>)> = bufs
            .iter()
            .map(|b| (b.port, b.buf[..b.len].to_vec()))
            .collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![
                (PortId(0), b"3".to_vec()),
                (PortId(0), b"one".to_vec()),
                (PortId(1), b"second".to_vec())
            ]
        );
        for b in &mut bufs {
            assert_eq!(b.buf.len(), capacity, "the whole frame, room included");
            b.buf[0] = b.buf[0].to_ascii_uppercase();
            // Room past the packet is usable (a reply built in place).
            b.buf[b.len] = b'!';
        }
    }
    let mut out = Vec::new();
    for Received { mut frame, .. } in rx.drain(..) {
        let len = frame.len() + 1;
        io.set_len(&mut frame, len).expect("grow into the room");
        out.push(frame);
    }
    io.send(PortId(1), &mut out).expect("send");
    io.flush().expect("flush");
    let mut sent = io.take_sent(PortId(1));
    sent.sort();
    assert_eq!(
        sent,
        vec![b"3!".to_vec(), b"One!".to_vec(), b"Second!".to_vec()]
    );
    io.flush().expect("reap");
    assert_conserved(&io, 0);
}

#[test]
#[should_panic(expected = "used with UMEM")]
fn lending_a_foreign_frame_panics() {
    let mut a = MemIo::new(1, 1, 8, 4).expect("a");
    let mut b = MemIo::new(1, 1, 8, 4).expect("b");
    let mut batch = vec![Received {
        port: PortId(0),
        frame: a.alloc().expect("frame"),
    }];
    let _ = b.buffers_mut(&mut batch).count();
}

#[test]
fn duplicate_completion_is_rejected_not_duplicated() {
    let mut io = MemIo::new(1, 1, 16, 8).expect("io");
    io.duplicate_completions(PortId(0));
    let frame = io.alloc().expect("frame");
    let free = io.free_frames();
    io.send(PortId(0), &mut vec![frame]).expect("send");
    io.flush().expect("kick");
    assert_eq!(io.take_sent(PortId(0)).len(), 1);
    io.flush().expect("reap");
    assert_eq!(io.stats().anomalies, 1);
    assert_eq!(io.free_frames(), free + 1, "the frame came back once");
    assert_conserved(&io, 0);
}

#[test]
fn forged_rx_descriptor_is_rejected() {
    let mut io = MemIo::new(1, 1, 16, 4).expect("io");
    let held = io.alloc().expect("frame");
    // Descriptor naming a frame that user space holds, and one out of range.
    assert!(io.inject_forged(PortId(0), 0, held.index(), 10));
    assert!(io.inject_forged(PortId(0), 0, 999, 10));
    let mut rx = Vec::new();
    assert_eq!(io.recv(&mut rx, 8).expect("recv"), 0);
    assert_eq!(io.stats().anomalies, 2);
    io.release(held);
}

#[test]
fn foreign_frames_are_rejected_at_run_time() {
    let mut a = MemIo::new(1, 1, 8, 4).expect("a");
    let mut b = MemIo::new(1, 1, 8, 4).expect("b");
    let fa = a.alloc().expect("frame");
    let mut v = vec![fa];
    let err = b.send(PortId(0), &mut v).expect_err("foreign");
    assert!(matches!(err, XskError::ForeignFrame { .. }), "{err}");
    assert_eq!(v.len(), 1, "nothing taken");
    let mut batch = b.tx_batch(PortId(0)).expect("batch");
    let back = batch
        .push(v.pop().expect("frame"))
        .expect_err("foreign push");
    assert_eq!(batch.commit(), 0);
    a.release(back);
    assert_eq!(b.stats().tx, 0);
}

#[test]
#[should_panic(expected = "used with UMEM")]
fn foreign_frame_bytes_panic() {
    let mut a = MemIo::new(1, 1, 8, 4).expect("a");
    let b = MemIo::new(1, 1, 8, 4).expect("b");
    let fa = a.alloc().expect("frame");
    let _ = b.data(&fa);
}

#[test]
fn dropped_tx_batch_rolls_back() {
    let mut io = MemIo::new(1, 1, 16, 8).expect("io");
    let free = io.free_frames();
    {
        let f1 = io.alloc().expect("1");
        let f2 = io.alloc().expect("2");
        let mut batch = io.tx_batch(PortId(0)).expect("batch");
        assert!(batch.push(f1).is_ok());
        assert!(batch.push(f2).is_ok());
        assert_eq!(batch.len(), 2);
        // dropped without commit
    }
    assert_eq!(io.free_frames(), free);
    assert_eq!(io.sockets[0].rings.tx_pending(), 0);
    assert_conserved(&io, 0);
}

#[test]
fn send_takes_what_fits_and_leaves_the_rest() {
    let mut io = MemIo::new(1, 1, 64, 4).expect("io");
    let mut v: Vec<Frame> = (0..6).map(|_| io.alloc().expect("frame")).collect();
    assert_eq!(io.tx_room(PortId(0)).expect("room"), 4);
    assert_eq!(io.send(PortId(0), &mut v).expect("send"), 4);
    assert_eq!(v.len(), 2);
    assert_eq!(io.stats().tx_full, 1);
    assert_eq!(io.tx_room(PortId(0)).expect("room"), 0);
    io.flush().expect("drain");
    assert_eq!(io.tx_room(PortId(0)).expect("room"), 4);
    assert_eq!(io.send(PortId(0), &mut v).expect("send"), 2);
    assert!(v.is_empty());
    assert!(matches!(
        io.send(PortId(3), &mut v),
        Err(XskError::NoSuchPort { port: 3, ports: 1 })
    ));
}

#[test]
fn flush_kicks_until_the_ring_drains() {
    let mut io = MemIo::new(1, 1, 64, 16).expect("io");
    io.set_tx_per_kick(3);
    let mut v: Vec<Frame> = (0..10).map(|_| io.alloc().expect("frame")).collect();
    io.send(PortId(0), &mut v).expect("send");
    io.flush().expect("flush");
    assert_eq!(io.stats().kicks, 4);
    assert_eq!(io.take_sent(PortId(0)).len(), 10);
}

#[test]
fn set_len_beyond_capacity_is_rejected() {
    let mut io = MemIo::new(1, 1, 4, 4).expect("io");
    let mut f = io.alloc().expect("frame");
    assert!(matches!(
        io.set_len(&mut f, 4096),
        Err(XskError::TooLong {
            len: 4096,
            capacity: 2048
        })
    ));
    io.set_len(&mut f, 2048).expect("full frame");
    assert_eq!(io.data(&f).len(), 2048);
    io.release(f);
}

#[test]
fn rx_without_fill_entries_is_dropped_like_the_kernel() {
    // 4 frames, 1 socket: fill target is 2 frames.
    let mut io = MemIo::new(1, 1, 4, 4).expect("io");
    assert!(io.inject(PortId(0), 0, b"a"));
    assert!(io.inject(PortId(0), 0, b"b"));
    assert!(!io.inject(PortId(0), 0, b"c"), "fill ring empty");
    let (k, unreadable) = io.kernel_stats();
    assert_eq!(
        (k.rx_dropped, k.rx_fill_ring_empty, k.rx_ring_full),
        (1, 1, 0)
    );
    assert_eq!((k.rx_lost(), unreadable), (1, 0));
    let mut rx = Vec::new();
    assert_eq!(io.recv(&mut rx, 1).expect("recv"), 1, "max respected");
    assert_eq!(io.recv(&mut rx, 8).expect("recv"), 1);
    for r in rx {
        io.release(r.frame);
    }
    assert_conserved(&io, 0);
}

#[test]
fn a_frame_longer_than_a_frame_buffer_is_dropped_and_counted() {
    let mut io = MemIo::new(2, 1, 16, 2).expect("io");
    assert!(!io.inject(PortId(1), 0, &[0; 4096]), "longer than a frame");
    let (k, _) = io.kernel_stats();
    assert_eq!(
        (k.rx_dropped, k.rx_fill_ring_empty, k.rx_ring_full),
        (1, 0, 0)
    );
    assert_conserved(&io, 0);
}

#[test]
fn kick_errors_surface_with_the_socket_and_lose_no_frame() {
    let mut io = MemIo::new(1, 1, 16, 8).expect("io");
    let f = io.alloc().expect("frame");
    io.send(PortId(0), &mut vec![f]).expect("send");
    io.fail_next_kick(libc::EPERM);
    match io.flush() {
        Err(XskError::Io {
            op,
            socket: 0,
            source,
        }) => {
            assert!(op.starts_with("kick"));
            assert_eq!(source.raw_os_error(), Some(libc::EPERM));
        }
        other => panic!("expected a kick error, got {other:?}"),
    }
    // The frame is still queued: the next flush sends it.
    io.flush().expect("flush");
    assert_eq!(io.take_sent(PortId(0)).len(), 1);
    io.flush().expect("reap");
    assert_conserved(&io, 0);
}

#[test]
fn refused_fill_returns_frames_to_the_free_list() {
    let mut io = MemIo::new(1, 1, 8, 8).expect("io");
    assert!(io.inject(PortId(0), 0, b"x"));
    io.refuse_fill(true);
    let mut rx = Vec::new();
    assert_eq!(io.recv(&mut rx, 8).expect("recv"), 1);
    let free = io.free_frames();
    io.flush().expect("flush tries to refill");
    assert_eq!(io.free_frames(), free, "refused fill entries went back");
    for r in rx {
        io.release(r.frame);
    }
    assert_conserved(&io, 0);
    io.refuse_fill(false);
    io.flush().expect("refill");
    assert_conserved(&io, 0);
}

#[test]
fn invalid_configs_are_rejected() {
    assert!(MemIo::new(0, 1, 8, 4).is_err());
    assert!(MemIo::new(1, 0, 8, 4).is_err());
    assert!(MemIo::new(1, 1, 0, 4).is_err());
}

/// Receives everything waiting and returns the frames to the free list; returns how many.
fn receive_and_release(io: &mut MemIo) -> usize {
    let mut rx = Vec::new();
    let n = io.recv(&mut rx, 1024).expect("recv");
    for r in rx {
        io.release(r.frame);
    }
    io.flush().expect("flush");
    n
}

#[test]
fn a_busy_socket_borrows_fill_frames_and_returns_them_when_calm() {
    // 8 single-queue ports sharing 256 frames, rings of 64: a floor of 16 frames per socket.
    let mut io = MemIo::new(8, 1, 256, 64).expect("io");
    assert_eq!(io.fill_target(0), Some(16));
    let burst = |io: &mut MemIo, n: usize| -> usize {
        (0..n).filter(|_| io.inject(PortId(0), 0, b"burst")).count()
    };
    assert_eq!(burst(&mut io, 20), 16, "the floor absorbs 16 frames");
    assert_eq!(io.kernel_stats().0.rx_dropped, 4);
    assert_eq!(receive_and_release(&mut io), 16);
    assert_eq!(
        io.fill_target(0),
        Some(32),
        "the kernel had emptied the ring"
    );
    assert_eq!(burst(&mut io, 32), 32);
    assert_eq!(receive_and_release(&mut io), 32);
    assert_eq!(io.fill_target(0), Some(64), "up to a full ring");
    assert_eq!(burst(&mut io, 64), 64);
    assert_eq!(receive_and_release(&mut io), 64);
    assert_eq!(io.fill_target(0), Some(64), "never above the ring");
    assert!(
        (1..8).all(|s| io.fill_target(s) == Some(16)),
        "idle sockets keep the floor"
    );
    assert_conserved(&io, 0);

    // A trickle: one frame at a time leaves the ring nearly full; after a calm spell the
    // socket gives half of its share back.
    for _ in 0..crate::fill::CALM_REFILLS {
        assert_eq!(burst(&mut io, 1), 1);
        assert_eq!(receive_and_release(&mut io), 1);
    }
    assert_eq!(io.fill_target(0), Some(32));
    assert_conserved(&io, 0);
}

#[test]
fn few_sockets_keep_full_fill_rings() {
    let mut io = MemIo::new(2, 1, 4 * 64, 64).expect("io");
    assert_eq!((io.fill_target(0), io.fill_target(1)), (Some(64), Some(64)));
    let accepted = (0..70).filter(|_| io.inject(PortId(1), 0, b"x")).count();
    assert_eq!(accepted, 64);
    assert_eq!(receive_and_release(&mut io), 64);
    assert_eq!(io.fill_target(1), Some(64));
}
