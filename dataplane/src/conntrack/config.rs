//! Conntrack configuration: capacity, timeouts, mid-stream pickup, revalidation mode.
//!
//! Contract: `ConntrackConfig::default()` is Palisade's documented behaviour (Felix BPF
//! timeouts, mid-stream pickup on, revalidation on policy change); `validate` names the field
//! that is out of range.

use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use super::state::TimeoutClass;

/// The largest timeout: entry expiry is kept in 32-bit milliseconds compared with wrap-around.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 24 * 3600);
/// The largest capacity: slot indexes are 32 bits.
pub const MAX_CAPACITY: usize = (u32::MAX - 1) as usize;

/// Idle timeouts per state class. Defaults are Felix's BPF dataplane defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP after SYN or SYN-ACK, before the handshake completes (Felix `TCPSynSent`: 20 s).
    pub tcp_syn: Duration,
    /// TCP established, and half-closed (Felix `TCPEstablished`: 1 h).
    pub tcp_established: Duration,
    /// TCP after FINs in both directions (Felix `TCPFinsSeen`: 30 s).
    pub tcp_closing: Duration,
    /// TCP after a RST (Felix `TCPResetSeen`: 40 s).
    pub tcp_reset: Duration,
    /// UDP and UDPLite (Felix `UDPTimeout`: 60 s).
    pub udp: Duration,
    /// ICMP and ICMPv6 echo and other non-error types (Felix `ICMPTimeout`: 5 s).
    pub icmp: Duration,
    /// Every other protocol, SCTP included (Felix `GenericTimeout`: 10 min).
    pub other: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            tcp_syn: Duration::from_secs(20),
            tcp_established: Duration::from_secs(3600),
            tcp_closing: Duration::from_secs(30),
            tcp_reset: Duration::from_secs(40),
            udp: Duration::from_secs(60),
            icmp: Duration::from_secs(5),
            other: Duration::from_secs(600),
        }
    }
}

impl Timeouts {
    fn all(&self) -> [(&'static str, Duration); 7] {
        [
            ("tcp_syn", self.tcp_syn),
            ("tcp_established", self.tcp_established),
            ("tcp_closing", self.tcp_closing),
            ("tcp_reset", self.tcp_reset),
            ("udp", self.udp),
            ("icmp", self.icmp),
            ("other", self.other),
        ]
    }

    /// Milliseconds per `TimeoutClass`, in class order.
    pub(crate) fn millis(&self) -> [u32; 7] {
        let mut out = [0; 7];
        for (i, (_, d)) in self.all().iter().enumerate() {
            out[i] = u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        }
        debug_assert_eq!(TimeoutClass::Other as usize, 6);
        out
    }
}

/// What a TCP packet without SYN that matches no entry does (after an agent restart every
/// established connection arrives this way).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MidStream {
    /// A plain ACK may create an entry, in state established, after policy allows it (Linux's
    /// `nf_conntrack_tcp_loose=1` default). Such entries count as unreplied until a reply comes.
    #[default]
    Pickup,
    /// It is `Invalid::MidStream`: the caller drops it without running policy.
    Invalid,
}

/// What a lookup under a newer snapshot generation means for an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Revalidation {
    /// Palisade's behaviour: every entry made under an older generation is re-checked against
    /// the new snapshot on its next packet, so a policy change also cuts established flows.
    #[default]
    Revalidate,
    /// Calico's and Cilium's behaviour: entries that have seen a reply keep their verdict;
    /// only unreplied ones are re-checked.
    KeepEstablished,
}

/// Everything `ConntrackTable::new` needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConntrackConfig {
    /// The most entries the table ever holds (default 512,000, Felix's BPF conntrack map
    /// size). Memory, about 63 bytes per entry, is allocated once, up front.
    pub capacity: usize,
    pub timeouts: Timeouts,
    pub mid_stream: MidStream,
    pub revalidation: Revalidation,
    /// Key for the flow hash, so remote peers cannot aim flows at one bucket. Default: random.
    pub hash_seed: u64,
}

impl Default for ConntrackConfig {
    fn default() -> Self {
        Self {
            capacity: 512 * 1024,
            timeouts: Timeouts::default(),
            mid_stream: MidStream::default(),
            revalidation: Revalidation::default(),
            hash_seed: RandomState::new().hash_one(0x5eed_u64),
        }
    }
}

impl ConntrackConfig {
    /// The default configuration with another capacity.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            ..Self::default()
        }
    }

    /// Checks ranges; the error names the field.
    pub fn validate(&self) -> Result<(), ConntrackError> {
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err(ConntrackError::Config {
                field: "capacity",
                expected: "1 ..= 4294967294 entries",
            });
        }
        for (field, d) in self.timeouts.all() {
            if d < Duration::from_millis(1) || d > MAX_TIMEOUT {
                return Err(ConntrackError::Config {
                    field,
                    expected: "a timeout between 1 ms and 24 days",
                });
            }
        }
        Ok(())
    }
}

/// Errors of the conntrack module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConntrackError {
    #[error("conntrack config: `{field}` is out of range, expected {expected}")]
    Config {
        field: &'static str,
        expected: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_felix_bpf() {
        let t = Timeouts::default();
        assert_eq!(t.tcp_established, Duration::from_secs(3600));
        assert_eq!(t.udp, Duration::from_secs(60));
        assert_eq!(t.icmp, Duration::from_secs(5));
        assert_eq!(t.millis()[TimeoutClass::Icmp as usize], 5000);
        assert!(ConntrackConfig::default().validate().is_ok());
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = ConntrackConfig::with_capacity(0);
        assert!(matches!(
            c.validate(),
            Err(ConntrackError::Config {
                field: "capacity",
                ..
            })
        ));
        c.capacity = 10;
        c.timeouts.udp = Duration::from_secs(30 * 24 * 3600);
        let err = c.validate().unwrap_err();
        assert!(err.to_string().contains("`udp`"), "{err}");
    }
}
