//! Flow-log events: what the policy decided for a flow, handed from workers to the control
//! thread through a bounded lock-free queue.
//!
//! Contract: `FlowLog::push` never blocks and never allocates; when the queue is full the
//! event is dropped and counted in `lost`. Any number of workers may push and any thread may
//! drain (`crossbeam::queue::ArrayQueue`).

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::queue::ArrayQueue;

use crate::conntrack::{Timestamp, Verdict};
use crate::flow::FlowKey;

/// Why the policy was consulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowEventReason {
    /// The first packet of a flow conntrack did not know.
    NewFlow,
    /// A tracked flow re-checked because the snapshot generation changed.
    Revalidated,
}

/// One policy decision about a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowEvent {
    /// The flow in its original direction.
    pub key: FlowKey,
    pub verdict: Verdict,
    /// The deciding rule, as the policy decider numbers it.
    pub rule_id: u32,
    /// The snapshot generation that decided.
    pub generation: u64,
    pub reason: FlowEventReason,
    /// The batch time of the packet that caused the decision.
    pub at: Timestamp,
}

/// A bounded multi-producer queue of flow events. See the module contract.
#[derive(Debug)]
pub struct FlowLog {
    queue: ArrayQueue<FlowEvent>,
    lost: AtomicU64,
}

impl FlowLog {
    /// A queue holding at most `capacity` events (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            queue: ArrayQueue::new(capacity.max(1)),
            lost: AtomicU64::new(0),
        }
    }

    /// Queues `event`; returns false (and counts it lost) when the queue is full.
    #[inline]
    pub fn push(&self, event: FlowEvent) -> bool {
        match self.queue.push(event) {
            Ok(()) => true,
            Err(_) => {
                self.lost.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Takes the oldest event.
    pub fn pop(&self) -> Option<FlowEvent> {
        self.queue.pop()
    }

    /// Moves up to `max` events into `out`; returns how many.
    pub fn drain_into(&self, out: &mut Vec<FlowEvent>, max: usize) -> usize {
        let mut n = 0;
        while n < max {
            let Some(e) = self.queue.pop() else { break };
            out.push(e);
            n += 1;
        }
        n
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.queue.capacity()
    }

    /// Events dropped because the queue was full.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::IpProto;

    fn event(port: u16) -> FlowEvent {
        FlowEvent {
            key: FlowKey::new(
                "10.0.0.1".parse().expect("addr"),
                "10.0.0.2".parse().expect("addr"),
                IpProto::UDP,
                port,
                53,
            ),
            verdict: Verdict::Allow,
            rule_id: 7,
            generation: 1,
            reason: FlowEventReason::NewFlow,
            at: Timestamp::from_secs(1),
        }
    }

    #[test]
    fn full_queue_counts_lost_events_and_keeps_the_oldest() {
        let log = FlowLog::new(2);
        assert!(log.push(event(1)));
        assert!(log.push(event(2)));
        assert!(!log.push(event(3)));
        assert_eq!((log.len(), log.lost()), (2, 1));
        let mut out = Vec::new();
        assert_eq!(log.drain_into(&mut out, 10), 2);
        let ports: Vec<u16> = out.iter().map(|e| e.key.src_port).collect();
        assert_eq!(ports, [1, 2]);
        assert!(log.is_empty());
        assert!(log.push(event(4)));
        assert_eq!(log.pop().map(|e| e.key.src_port), Some(4));
        assert_eq!(FlowLog::new(0).capacity(), 1);
    }

    #[test]
    fn producers_on_many_threads_never_block() {
        let log = std::sync::Arc::new(FlowLog::new(64));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        log.push(event(t * 100 + i));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("producer");
        }
        assert_eq!(log.len() as u64 + log.lost(), 400);
        assert_eq!(log.len(), 64);
    }
}
