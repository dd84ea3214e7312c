//! `xsk_bare`: the bare AF_XDP forwarder between two interfaces (the `xsk-bare` benchmark
//! configuration): XDP redirect on both, a socket on every RX queue with one UMEM, ARP answered
//! for the pods' gateway, IPv4 swapped between the ports with MACs rewritten, no policy.
//!
//! ```text
//! ip netns exec NODE xsk_bare IF_A IF_B [--fail-open] [--pin-root DIR] [--skb]
//!                                       [--seconds N] [--ring N] [--gateway IP]
//!                                       [--peer-a MAC] [--peer-b MAC] [--busy-poll-us N]
//! ```
//!
//! `--busy-poll-us` (default 100, as `palisade run`'s `busy_poll_us`) is how long it keeps
//! polling after the last frame before it sleeps in `poll()`.
//!
//! `--peer-a/--peer-b` give the pods' MACs; otherwise they are learned from the pods' frames
//! (IPv4 towards a pod that has sent nothing yet is dropped).
//!
//! Run it inside the node namespace. It logs `ready` to stderr once it forwards and, when it
//! stops (after `--seconds`, default: run until killed), prints one JSON line of counters.
//! Fail-closed (the default) pins on `--pin-root` (default /sys/fs/bpf); under `ip netns exec`
//! mount bpffs there beforehand or the pins die with the process (use `--fail-open` for benches).

use std::{
    error::Error,
    net::Ipv4Addr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use palisade_bpf::{AttachOptions, FailureMode, Redirect};
use palisade_xsk::{
    Pacing, PacketIo, PortSpec, XskConfig, XskIo,
    bare::{BareForwarder, BarePort, DEFAULT_GATEWAY},
};

struct Args {
    interfaces: [String; 2],
    opts: AttachOptions,
    seconds: u64,
    ring: u32,
    busy_poll_us: u64,
    gateway: Ipv4Addr,
    peers: [Option<[u8; 6]>; 2],
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split(':').collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!(
            "bad MAC {s:?}: expected six hex bytes separated by ':'"
        ));
    }
    for (b, p) in mac.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16).map_err(|e| format!("bad MAC {s:?}: {e}"))?;
    }
    Ok(mac)
}

fn usage() -> String {
    "usage: xsk_bare IF_A IF_B [--fail-open] [--pin-root DIR] [--skb] [--seconds N] [--ring N] \
     [--gateway IP] [--peer-a MAC] [--peer-b MAC] [--busy-poll-us N]"
        .to_owned()
}

fn parse() -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut opts = AttachOptions::default();
    let mut seconds = 0;
    let mut ring = 1024;
    let mut busy_poll_us = 100;
    let mut gateway = DEFAULT_GATEWAY;
    let mut peers = [None, None];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or(format!("{name} needs a value\n{}", usage()))
        };
        match a.as_str() {
            "--fail-open" => opts.failure_mode = FailureMode::Open,
            "--skb" => opts.skb_only = true,
            "--pin-root" => opts.pin_root = PathBuf::from(value("--pin-root")?),
            "--seconds" => {
                seconds = value("--seconds")?
                    .parse()
                    .map_err(|e| format!("--seconds: {e}"))?
            }
            "--ring" => {
                ring = value("--ring")?
                    .parse()
                    .map_err(|e| format!("--ring: {e}"))?
            }
            "--busy-poll-us" => {
                busy_poll_us = value("--busy-poll-us")?
                    .parse()
                    .map_err(|e| format!("--busy-poll-us: {e}"))?
            }
            "--gateway" => {
                gateway = value("--gateway")?
                    .parse()
                    .map_err(|e| format!("--gateway: {e}"))?
            }
            "--peer-a" => peers[0] = Some(parse_mac(&value("--peer-a")?)?),
            "--peer-b" => peers[1] = Some(parse_mac(&value("--peer-b")?)?),
            "-h" | "--help" => return Err(usage()),
            s if s.starts_with('-') => return Err(format!("unknown option {s}\n{}", usage())),
            _ => positional.push(a),
        }
    }
    let [a, b]: [String; 2] = positional.try_into().map_err(|_| usage())?;
    Ok(Args {
        interfaces: [a, b],
        opts,
        seconds,
        ring,
        busy_poll_us,
        gateway,
        peers,
    })
}

/// The MAC of `interface` in this network namespace.
fn mac_of(interface: &str) -> Result<[u8; 6], Box<dyn Error>> {
    for ifa in nix::ifaddrs::getifaddrs()? {
        if ifa.interface_name != interface {
            continue;
        }
        if let Some(mac) = ifa
            .address
            .as_ref()
            .and_then(|a| a.as_link_addr())
            .and_then(|l| l.addr())
        {
            return Ok(mac);
        }
    }
    Err(format!("no MAC address found for {interface}").into())
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse()?;
    let [a, b] = &args.interfaces;
    let mut progs = [
        Redirect::attach(a, &args.opts)?,
        Redirect::attach(b, &args.opts)?,
    ];
    let specs = [
        PortSpec::all(a, palisade_bpf::rx_queue_count(a)?),
        PortSpec::all(b, palisade_bpf::rx_queue_count(b)?),
    ];
    let mut io = XskIo::open(
        &specs,
        &XskConfig {
            ring_size: args.ring,
            ..XskConfig::default()
        },
    )?;
    for s in io.sockets() {
        progs[usize::from(s.port.0)].register_socket(s.queue, s.fd)?;
    }
    let mut fwd = BareForwarder::new(
        args.gateway,
        [
            BarePort {
                mac: mac_of(a)?,
                peer: args.peers[0],
            },
            BarePort {
                mac: mac_of(b)?,
                peer: args.peers[1],
            },
        ],
    );
    let stop = Arc::new(AtomicBool::new(false));
    if args.seconds > 0 {
        let stop = stop.clone();
        let secs = args.seconds;
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(secs));
            stop.store(true, Ordering::Relaxed);
        });
    }
    eprintln!(
        "xsk_bare: ready: {a} <-> {b}, {} sockets, modes {:?}/{:?}, {:?}",
        io.sockets().len(),
        progs[0].mode(),
        progs[1].mode(),
        args.opts.failure_mode
    );
    let start = Instant::now();
    let pacing = Pacing {
        busy_poll: Duration::from_micros(args.busy_poll_us),
        idle_poll: Duration::from_millis(100),
    };
    let stats = fwd.run(&mut io, &stop, pacing)?;
    let secs = start.elapsed().as_secs_f64();
    let io_stats = io.stats().clone();
    let (kernel, _) = io.kernel_stats();
    println!(
        "{{\"forwarded\":{},\"arp_replies\":{},\"dropped\":{},\"backpressure\":{},\"rx\":{},\"tx\":{},\"tx_full\":{},\"anomalies\":{},\"xsk_rx_dropped\":{},\"xsk_rx_ring_full\":{},\"seconds\":{secs:.3},\"pps\":{:.0},\"ports\":{}}}",
        stats.forwarded,
        stats.arp_replies,
        stats.dropped,
        stats.backpressure,
        io_stats.rx,
        io_stats.tx,
        io_stats.tx_full,
        io_stats.anomalies,
        kernel.rx_dropped,
        kernel.rx_ring_full,
        stats.forwarded as f64 / secs.max(1e-9),
        io.port_count()
    );
    Ok(())
}
