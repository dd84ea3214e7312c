//! A steady, paced UDP stream from one pod to another, counted at both ends.
//!
//! Contract: [`UdpStream::start`] binds the receiver inside the destination pod (a socket with a
//! large, forced receive buffer, so a descheduled test thread does not lose datagrams), then
//! sends from the source pod at about `rate` datagrams/s: every millisecond (sleeping in
//! between, never spinning) it sends what is due, at most [`MAX_BURST`] at once. Every datagram
//! carries a sequence number. [`UdpStream::stop`] stops the sender, lets the receiver drain until
//! it has been quiet for a while, and returns the counts, including the UDP receive-buffer
//! errors the destination pod's kernel counted over the stream's life (drops at the receiver
//! socket, which would otherwise look like network loss).

use std::{
    net::{IpAddr, SocketAddr, UdpSocket},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use nix::sys::socket::{setsockopt, sockopt};

use crate::netns::{HarnessError, NetNs};

/// Most datagrams sent in one millisecond tick when the sender fell behind.
pub const MAX_BURST: u64 = 50;
/// Receive buffer of the receiver socket (forced past `rmem_max`).
const RCVBUF: usize = 32 << 20;
/// How long the receiver must be quiet after the sender stops before it is done.
const QUIET: Duration = Duration::from_millis(700);

/// The outcome of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamReport {
    /// Datagrams the sender's kernel accepted.
    pub sent: u64,
    /// Send calls that failed (not counted in `sent`).
    pub send_errors: u64,
    /// Distinct sequence numbers received.
    pub received: u64,
    /// Datagrams received out of order (a sequence number below the highest seen).
    pub reordered: u64,
    /// `RcvbufErrors` of the destination pod's UDP counters, over the stream's life.
    pub receiver_buffer_drops: u64,
    /// Sending time.
    pub duration: Duration,
}

impl StreamReport {
    /// Datagrams sent and never received.
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received)
    }
}

/// A running stream; stopped (and its threads joined) by [`UdpStream::stop`] or on drop.
#[derive(Debug)]
pub struct UdpStream {
    stop_sending: Arc<AtomicBool>,
    stop_receiving: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    received: Arc<AtomicU64>,
    sender: Option<thread::JoinHandle<Result<(u64, Duration), HarnessError>>>,
    receiver: Option<thread::JoinHandle<Result<Received, HarnessError>>>,
}

/// What the receiver counted.
#[derive(Debug, Clone, Copy, Default)]
struct Received {
    distinct: u64,
    reordered: u64,
    buffer_drops: u64,
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> HarnessError {
    move |source| HarnessError::Io { what, source }
}

/// `RcvbufErrors` of the calling thread's namespace (`/proc/thread-self/net/snmp`).
fn udp_rcvbuf_errors() -> Result<u64, HarnessError> {
    let text = std::fs::read_to_string("/proc/thread-self/net/snmp")
        .map_err(io("reading /proc/thread-self/net/snmp"))?;
    let mut udp = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return Err(HarnessError::Thread {
            what: "no Udp: lines in /proc/net/snmp".into(),
        });
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .ok_or_else(|| HarnessError::Thread {
            what: "no RcvbufErrors in /proc/net/snmp".into(),
        })
}

impl UdpStream {
    /// Starts the stream `src_ns`/`src` -> `dst_ns`/`dst`:`port` at about `rate` datagrams/s.
    pub fn start(
        src_ns: &NetNs,
        src: IpAddr,
        dst_ns: &NetNs,
        dst: SocketAddr,
        rate: u64,
    ) -> Result<Self, HarnessError> {
        let stop_sending = Arc::new(AtomicBool::new(false));
        let stop_receiving = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let received = Arc::new(AtomicU64::new(0));

        let rx_sock = dst_ns
            .run_in(|| UdpSocket::bind(dst))?
            .map_err(io("binding the stream receiver"))?;
        setsockopt(&rx_sock, sockopt::RcvBufForce, &RCVBUF)
            .map_err(|e| io("SO_RCVBUFFORCE")(e.into()))?;
        rx_sock
            .set_read_timeout(Some(Duration::from_millis(50)))
            .map_err(io("receiver timeout"))?;
        let (ready_tx, ready_rx) = mpsc::channel();
        let dst_path = format!("/run/netns/{}", dst_ns.name());
        let receiver = {
            let (stop, received) = (stop_receiving.clone(), received.clone());
            thread::Builder::new()
                .name("udp-stream-rx".into())
                .spawn(move || receive(&dst_path, &rx_sock, src, &stop, &received, &ready_tx))
                .map_err(io("spawning the stream receiver"))?
        };
        ready_rx
            .recv_timeout(Duration::from_secs(20))
            .map_err(|_| HarnessError::Thread {
                what: "the stream receiver did not start".into(),
            })??;

        let tx_sock = src_ns
            .run_in(|| -> std::io::Result<UdpSocket> {
                let s = UdpSocket::bind(SocketAddr::new(src, 0))?;
                s.connect(dst)?;
                Ok(s)
            })?
            .map_err(io("binding the stream sender"))?;
        let sender = {
            let (stop, sent) = (stop_sending.clone(), sent.clone());
            thread::Builder::new()
                .name("udp-stream-tx".into())
                .spawn(move || Ok(send(&tx_sock, rate, &stop, &sent)))
                .map_err(io("spawning the stream sender"))?
        };
        Ok(Self {
            stop_sending,
            stop_receiving,
            sent,
            received,
            sender: Some(sender),
            receiver: Some(receiver),
        })
    }

    /// Datagrams sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// Distinct datagrams received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Waits up to `timeout` for the received count to pass `above`; true if it did.
    pub fn wait_received_above(&self, above: u64, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.received() > above {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.received() > above
    }

    /// Stops sending, drains the receiver, and reports.
    pub fn stop(mut self) -> Result<StreamReport, HarnessError> {
        self.finish()
    }

    fn finish(&mut self) -> Result<StreamReport, HarnessError> {
        self.stop_sending.store(true, Ordering::Relaxed);
        let joined = |what: &str| HarnessError::Thread {
            what: format!("the stream {what} panicked"),
        };
        let (sent, duration) = match self.sender.take() {
            Some(h) => h.join().map_err(|_| joined("sender"))??,
            None => (self.sent(), Duration::ZERO),
        };
        self.stop_receiving.store(true, Ordering::Relaxed);
        let got = match self.receiver.take() {
            Some(h) => h.join().map_err(|_| joined("receiver"))??,
            None => Received::default(),
        };
        let attempted = sent;
        let sent = self.sent();
        Ok(StreamReport {
            sent,
            send_errors: attempted.saturating_sub(sent),
            received: got.distinct,
            reordered: got.reordered,
            receiver_buffer_drops: got.buffer_drops,
            duration,
        })
    }
}

impl Drop for UdpStream {
    fn drop(&mut self) {
        if self.sender.is_some() || self.receiver.is_some() {
            let _ = self.finish();
        }
    }
}

/// The sender loop; returns (send attempts, time spent sending).
fn send(sock: &UdpSocket, rate: u64, stop: &AtomicBool, sent: &AtomicU64) -> (u64, Duration) {
    let start = Instant::now();
    let mut attempts = 0u64;
    let mut payload = [0u8; 32];
    while !stop.load(Ordering::Relaxed) {
        let due = (start.elapsed().as_micros() as u64).saturating_mul(rate) / 1_000_000;
        let burst = due.saturating_sub(attempts).min(MAX_BURST);
        for _ in 0..burst {
            payload[..8].copy_from_slice(&attempts.to_be_bytes());
            attempts += 1;
            if sock.send(&payload).is_ok() {
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    (attempts, start.elapsed())
}

/// The receiver loop (inside the destination namespace).
fn receive(
    ns_path: &str,
    sock: &UdpSocket,
    from: IpAddr,
    stop: &AtomicBool,
    received: &AtomicU64,
    ready: &mpsc::Sender<Result<(), HarnessError>>,
) -> Result<Received, HarnessError> {
    let entered = (|| -> Result<u64, HarnessError> {
        let ns = std::fs::File::open(ns_path).map_err(io("opening the receiver's namespace"))?;
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
            HarnessError::Setns {
                namespace: ns_path.into(),
                source: e.into(),
            }
        })?;
        udp_rcvbuf_errors()
    })();
    let errors_before = match entered {
        Ok(n) => {
            let _ = ready.send(Ok(()));
            n
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return Ok(Received::default());
        }
    };
    let mut seen = std::collections::HashSet::new();
    let mut highest: Option<u64> = None;
    let mut reordered = 0u64;
    let mut buf = [0u8; 64];
    let mut quiet_since: Option<Instant> = None;
    loop {
        match sock.recv_from(&mut buf) {
            Ok((n, addr)) if n >= 8 && addr.ip() == from => {
                quiet_since = None;
                let mut seq = [0u8; 8];
                seq.copy_from_slice(&buf[..8]);
                let seq = u64::from_be_bytes(seq);
                if seen.insert(seq) {
                    received.fetch_add(1, Ordering::Relaxed);
                }
                if highest.is_some_and(|h| seq < h) {
                    reordered += 1;
                }
                highest = highest.max(Some(seq));
            }
            Ok(_) => {}
            Err(_) if stop.load(Ordering::Relaxed) => {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= QUIET {
                    break;
                }
            }
            Err(_) => {}
        }
    }
    let errors = udp_rcvbuf_errors()?.saturating_sub(errors_before);
    Ok(Received {
        distinct: seen.len() as u64,
        reordered,
        buffer_drops: errors,
    })
}
