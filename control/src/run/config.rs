//! `palisade run` configuration: a YAML file (optional — every field has a default), validated
//! once at start.
//!
//! Contract: `RunConfig::default()` is what runs with no `--config`; `RunConfig::load` rejects
//! unknown fields and out-of-range values with a message naming the file and the field.
//! `config/palisade.yaml` documents every field with its default.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use palisade_dataplane::packet::MacAddr;
use palisade_xsk::Pacing;
use serde::Deserialize;

use super::endpoints::parse_mac;

/// Most worker threads.
pub const MAX_WORKERS: usize = 64;

/// What traffic does while Palisade is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailureModeConfig {
    /// The XDP program stays attached (pinned on bpffs) and drops frames: no traffic bypasses
    /// policy.
    #[default]
    Closed,
    /// Nothing is pinned: when Palisade dies the program detaches and the kernel forwards.
    Open,
}

/// Whether a policy change re-checks established connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RevalidationConfig {
    /// Every tracked connection is re-checked on its next packet (quarantine cuts it).
    #[default]
    Revalidate,
    /// Connections that saw a reply keep their verdict (Calico's behaviour).
    KeepEstablished,
}

/// The way off the node: an interface Palisade also attaches to, and the router behind it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UplinkConfig {
    /// Interface name in the node's network namespace.
    pub interface: String,
    /// MAC of the next hop every non-local frame is sent to (`aa:bb:cc:dd:ee:ff`).
    pub next_hop_mac: String,
}

/// The whole configuration. See `config/palisade.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// Worker threads, each with its own UMEM and its share of every interface's RX queues
    /// (fewer run when an interface has fewer queues).
    pub workers: usize,
    /// Cores to pin worker i to (`cpus[i % len]`); empty: worker i on the i-th core.
    pub cpus: Vec<usize>,
    /// Pin workers to cores at all.
    pub pin_workers: bool,
    pub failure_mode: FailureModeConfig,
    /// bpffs mount point for fail-closed pins (mounted if absent).
    pub bpffs: PathBuf,
    /// Attach in generic (skb) mode only.
    pub skb_mode: bool,
    /// Frames per RX batch.
    pub batch_size: usize,
    /// Size of every AF_XDP ring (a power of two).
    pub ring_size: u32,
    /// Bytes per UMEM frame (2048 or 4096).
    pub frame_size: u32,
    /// Frames per UMEM (one per worker); 0: twice the ring size per socket, for at most
    /// four sockets (`palisade_xsk::auto_frame_count`).
    pub frame_count: u32,
    /// Most connections tracked.
    pub conntrack_capacity: usize,
    pub revalidation: RevalidationConfig,
    /// Flow-log events queued between workers and the control thread.
    pub flowlog_capacity: usize,
    /// Most `flow denied` lines logged per second (the rest are counted); 0: none.
    pub flowlog_denies_per_second: u32,
    /// Pod gateway addresses Palisade answers ARP/ND for.
    pub gateway_v4: Ipv4Addr,
    pub gateway_v6: Ipv6Addr,
    /// Longest sleep in poll() when idle, in milliseconds.
    pub idle_poll_ms: u64,
    /// How long a worker keeps polling its rings after the last frame before it sleeps in
    /// poll(), in microseconds (0: sleep as soon as a ring is empty).
    pub busy_poll_us: u64,
    /// Period of the counters line on stderr, in seconds (0: only at exit).
    pub stats_interval_s: u64,
    /// The uplink; none: traffic to non-local destinations is dropped (`no-route`).
    pub uplink: Option<UplinkConfig>,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            workers: 1,
            cpus: Vec::new(),
            pin_workers: true,
            failure_mode: FailureModeConfig::Closed,
            bpffs: PathBuf::from("/sys/fs/bpf"),
            skb_mode: false,
            batch_size: 64,
            ring_size: 1024,
            frame_size: 4096,
            frame_count: 0,
            conntrack_capacity: 256 * 1024,
            revalidation: RevalidationConfig::Revalidate,
            flowlog_capacity: 4096,
            flowlog_denies_per_second: 20,
            gateway_v4: Ipv4Addr::new(169, 254, 1, 1),
            gateway_v6: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
            idle_poll_ms: 100,
            busy_poll_us: 100,
            stats_interval_s: 30,
            uplink: None,
        }
    }
}

/// An unreadable or invalid configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: `{field}` is {value}, expected {expected}")]
    Invalid {
        path: PathBuf,
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

impl RunConfig {
    /// Reads and validates `path`; `None`: the defaults.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses and validates `text` (`path` names it in errors). An empty file is the defaults.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let config: RunConfig = if text.trim().is_empty() {
            RunConfig::default()
        } else {
            let de = serde_yaml_ng::Deserializer::from_str(text);
            serde_path_to_error::deserialize(de).map_err(|e| ConfigError::Parse {
                path: path.to_path_buf(),
                message: format!("at `{}`: {}", e.path(), e.inner()),
            })?
        };
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |field, value: String, expected| ConfigError::Invalid {
            path: path.to_path_buf(),
            field,
            value,
            expected,
        };
        if !(1..=MAX_WORKERS).contains(&self.workers) {
            return Err(bad("workers", self.workers.to_string(), "1 ..= 64"));
        }
        if let Some(uplink) = &self.uplink {
            if uplink.interface.is_empty() || uplink.interface.len() > 15 {
                return Err(bad(
                    "uplink.interface",
                    format!("{:?}", uplink.interface),
                    "an interface name of 1 to 15 bytes",
                ));
            }
            if self.uplink_next_hop().is_none() {
                return Err(bad(
                    "uplink.next_hop_mac",
                    format!("{:?}", uplink.next_hop_mac),
                    "a unicast MAC address such as 02:00:00:00:00:01",
                ));
            }
        }
        if !(1..=1024).contains(&self.batch_size) {
            return Err(bad("batch_size", self.batch_size.to_string(), "1 ..= 1024"));
        }
        if !self.ring_size.is_power_of_two() || !(64..=16384).contains(&self.ring_size) {
            return Err(bad(
                "ring_size",
                self.ring_size.to_string(),
                "a power of two in 64 ..= 16384",
            ));
        }
        if self.frame_size != 2048 && self.frame_size != 4096 {
            return Err(bad(
                "frame_size",
                self.frame_size.to_string(),
                "2048 or 4096",
            ));
        }
        if self.conntrack_capacity == 0 {
            return Err(bad("conntrack_capacity", "0".into(), "at least 1"));
        }
        if self.flowlog_capacity == 0 {
            return Err(bad("flowlog_capacity", "0".into(), "at least 1"));
        }
        if !(1..=10_000).contains(&self.idle_poll_ms) {
            return Err(bad(
                "idle_poll_ms",
                self.idle_poll_ms.to_string(),
                "1 ..= 10000",
            ));
        }
        if self.busy_poll_us > 10_000 {
            return Err(bad(
                "busy_poll_us",
                self.busy_poll_us.to_string(),
                "0 ..= 10000",
            ));
        }
        Ok(())
    }

    /// The uplink's next-hop MAC, if an uplink is configured and its MAC is a unicast address.
    pub fn uplink_next_hop(&self) -> Option<MacAddr> {
        let mac = parse_mac(&self.uplink.as_ref()?.next_hop_mac)?;
        mac.is_unicast().then_some(mac)
    }

    /// When a worker polls and when it sleeps.
    pub fn pacing(&self) -> Pacing {
        Pacing {
            busy_poll: Duration::from_micros(self.busy_poll_us),
            idle_poll: Duration::from_millis(self.idle_poll_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RunConfig, ConfigError> {
        RunConfig::parse(Path::new("test.yaml"), text)
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(parse("").expect("empty"), RunConfig::default());
        assert_eq!(RunConfig::load(None).expect("none"), RunConfig::default());
    }

    #[test]
    fn the_shipped_config_is_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/palisade.yaml");
        let config = RunConfig::load(Some(&path)).expect("config/palisade.yaml");
        assert_eq!(config, RunConfig::default());
    }

    #[test]
    fn fields_parse() {
        let c = parse(
            "failure_mode: open\nrevalidation: keep-established\nbatch_size: 32\n\
             gateway_v4: 169.254.9.9\ncpus: [1]\n",
        )
        .expect("valid");
        assert_eq!(c.failure_mode, FailureModeConfig::Open);
        assert_eq!(c.revalidation, RevalidationConfig::KeepEstablished);
        assert_eq!(c.batch_size, 32);
        assert_eq!(c.gateway_v4, Ipv4Addr::new(169, 254, 9, 9));
        assert_eq!(c.cpus, vec![1]);
        let c =
            parse("workers: 2\nuplink: {interface: eth1, next_hop_mac: \"02:00:0a:0b:0c:0d\"}\n")
                .expect("valid");
        assert_eq!(c.workers, 2);
        assert_eq!(
            c.uplink.as_ref().map(|u| u.interface.as_str()),
            Some("eth1")
        );
        assert_eq!(c.uplink_next_hop(), Some(MacAddr([2, 0, 10, 11, 12, 13])));
        assert_eq!(RunConfig::default().uplink_next_hop(), None);
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse("batch_sise: 3\n").expect_err("unknown field");
        assert!(e.to_string().contains("batch_sise"), "{e}");
        let e = parse("failure_mode: sometimes\n").expect_err("bad enum");
        assert!(e.to_string().contains("failure_mode"), "{e}");
        let e = parse("ring_size: 1000\n").expect_err("not a power of two");
        assert!(e.to_string().contains("`ring_size`"), "{e}");
        let e = parse("workers: 0\n").expect_err("no worker");
        assert!(e.to_string().contains("`workers`"), "{e}");
        let e = parse("workers: 65\n").expect_err("too many");
        assert!(e.to_string().contains("`workers`"), "{e}");
        let e = parse("uplink: {interface: eth1, next_hop_mac: \"02:00:00:00:00\"}\n")
            .expect_err("short MAC");
        assert!(e.to_string().contains("`uplink.next_hop_mac`"), "{e}");
        let e = parse("uplink: {interface: eth1, next_hop_mac: \"ff:ff:ff:ff:ff:ff\"}\n")
            .expect_err("broadcast next hop");
        assert!(e.to_string().contains("`uplink.next_hop_mac`"), "{e}");
        let e = parse("uplink: {interface: \"\", next_hop_mac: \"02:00:00:00:00:01\"}\n")
            .expect_err("no interface");
        assert!(e.to_string().contains("`uplink.interface`"), "{e}");
        let e = parse("uplink: {interface: eth1}\n").expect_err("no next hop");
        assert!(e.to_string().contains("next_hop_mac"), "{e}");
    }
}
