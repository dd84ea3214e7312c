//! `podnet`: the TCP request-response latency pair of `bench/e2e.sh`, run inside pod network
//! namespaces (`ip netns exec POD podnet ...`).
//!
//! ```text
//! podnet tcp-echo ADDR:PORT                     # echo every message back, until killed
//! podnet tcp-rr ADDR:PORT [--count N] [--size B] [--warmup W]
//! ```
//!
//! Contract: `tcp-echo` prints `ready` on stdout once listening and then answers any number of
//! connections (one thread each) by echoing `B`-byte messages. `tcp-rr` opens one connection
//! (TCP_NODELAY), sends `W` unmeasured then `N` measured requests of `B` bytes (default 10,000
//! of 64, warm-up 100), each after the previous reply fully arrived, and prints one JSON line
//! `{"count", "size", "p50_us", "p90_us", "p99_us", "mean_us", "min_us", "max_us"}`.
//! Exit 2 on bad arguments, 1 on a network error.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: podnet tcp-echo ADDR:PORT | podnet tcp-rr ADDR:PORT [--count N] [--size B] [--warmup W]";

struct RrArgs {
    addr: SocketAddr,
    count: usize,
    size: usize,
    warmup: usize,
}

fn parse_rr(args: &[String]) -> Result<RrArgs, String> {
    let mut it = args.iter();
    let addr = it
        .next()
        .ok_or("tcp-rr needs ADDR:PORT")?
        .parse()
        .map_err(|e| format!("ADDR:PORT: {e}"))?;
    let mut rr = RrArgs {
        addr,
        count: 10_000,
        size: 64,
        warmup: 100,
    };
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let n: usize = value.parse().map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--count" if n > 0 => rr.count = n,
            "--size" if (1..=65_536).contains(&n) => rr.size = n,
            "--warmup" => rr.warmup = n,
            _ => return Err(format!("bad option {flag} {value}")),
        }
    }
    Ok(rr)
}

/// Echoes fixed-size messages on one connection until the peer closes it.
fn echo(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 65_536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

fn serve(addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    println!("ready");
    std::io::stdout().flush()?;
    for stream in listener.incoming().flatten() {
        std::thread::spawn(move || echo(stream));
    }
    Ok(())
}

/// The value at quantile `q` (0..=1) of sorted `v` (nearest rank).
fn quantile(v: &[Duration], q: f64) -> Duration {
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn rr(a: &RrArgs) -> std::io::Result<()> {
    let mut s = TcpStream::connect_timeout(&a.addr, Duration::from_secs(3))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    let request = vec![0x5a_u8; a.size];
    let mut reply = vec![0u8; a.size];
    let mut times = Vec::with_capacity(a.count);
    for i in 0..a.warmup + a.count {
        let start = Instant::now();
        s.write_all(&request)?;
        s.read_exact(&mut reply)?;
        if i >= a.warmup {
            times.push(start.elapsed());
        }
    }
    times.sort_unstable();
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!(
        "{{\"count\": {}, \"size\": {}, \"p50_us\": {:.1}, \"p90_us\": {:.1}, \"p99_us\": {:.1}, \"mean_us\": {:.1}, \"min_us\": {:.1}, \"max_us\": {:.1}}}",
        times.len(),
        a.size,
        micros(quantile(&times, 0.5)),
        micros(quantile(&times, 0.9)),
        micros(quantile(&times, 0.99)),
        micros(mean),
        micros(times[0]),
        micros(times[times.len() - 1]),
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("tcp-echo") => match args.get(1).map(|a| a.parse::<SocketAddr>()) {
            Some(Ok(addr)) if args.len() == 2 => serve(addr),
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        },
        Some("tcp-rr") => match parse_rr(&args[1..]) {
            Ok(a) => rr(&a),
            Err(e) => {
                eprintln!("podnet: {e}\n{USAGE}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("podnet: {e}");
            ExitCode::from(1)
        }
    }
}
