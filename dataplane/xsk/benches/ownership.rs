//! Cost of the frame-ownership layer per frame: a batch of 64 frames goes fill -> rx -> user
//! (MAC bytes rewritten in place) -> tx -> wire -> completion -> fill over `MemIo`, whose fake
//! rings cost little, so this is mostly the pool's state checks and the batching.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use palisade_xsk::{MemIo, PacketIo, PortId, Received};

fn forward_batch(c: &mut Criterion) {
    const BATCH: usize = 64;
    let mut io = MemIo::new(2, 1, 4096, 1024).expect("io");
    let frame = [0xabu8; 64];
    let mut rx: Vec<Received> = Vec::with_capacity(BATCH);
    let mut out = Vec::with_capacity(BATCH);
    let mut group = c.benchmark_group("ownership");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("forward_batch_64", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                io.inject(PortId(0), 0, &frame);
            }
            io.recv(&mut rx, BATCH).expect("recv");
            for Received { mut frame, .. } in rx.drain(..) {
                io.data_mut(&mut frame)[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
                out.push(frame);
            }
            io.send(PortId(1), &mut out).expect("send");
            io.flush().expect("flush");
            io.drain_sent(PortId(1));
            io.flush().expect("reap");
        })
    });
    group.finish();
}

criterion_group!(benches, forward_batch);
criterion_main!(benches);
