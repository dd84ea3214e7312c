//! Shared helpers for Palisade's benchmark binaries and criterion benches.
//!
//! [`ctkeys`]: the keys and index stream of the conntrack benchmarks.
//! [`classbench`]: readers for ClassBench rule and trace files (plain or gzip), the inputs of
//! the `classbench` binary and the classifier benches.
#![forbid(unsafe_code)]

pub mod ctkeys;
pub mod k8s;

pub mod classbench {
    //! ClassBench rule sets and traces.
    //!
    //! Contract: a rule line is `@SRC/LEN <tab> DST/LEN <tab> SPLO : SPHI <tab> DPLO : DPHI <tab>
    //! PROTO/MASK <tab> FLAGS/MASK` (flags ignored, protocol mask `0xFF` = exact, `0x00` = any);
    //! a trace line is `src dst sport dport proto [flags [rule]]` with addresses as decimal `u32`.
    //! Files ending in anything may be gzip: the magic bytes decide. A bad line is an error that
    //! names the file, the 1-based line number and what was expected.

    use std::fs::File;
    use std::io::{BufRead, BufReader};
    use std::net::Ipv4Addr;
    use std::path::{Path, PathBuf};

    use flate2::read::MultiGzDecoder;
    use palisade_dataplane::classifier::{PacketHeader, RuleSpec};

    /// Why a ClassBench file could not be read.
    #[derive(Debug, thiserror::Error)]
    pub enum ClassbenchError {
        #[error("{path}: {source}")]
        Io {
            path: PathBuf,
            #[source]
            source: std::io::Error,
        },
        #[error("{path}:{line}: {message}")]
        Parse {
            path: PathBuf,
            line: usize,
            message: String,
        },
    }

    /// A trace: headers and, per header, the index of the rule it was generated from.
    #[derive(Clone, Debug, Default)]
    pub struct Trace {
        pub headers: Vec<PacketHeader<u32>>,
        /// `u32::MAX` where the line has no rule column.
        pub generated_by: Vec<u32>,
    }

    /// Reads a rule file; rule `i` is the `i`-th non-blank line.
    pub fn read_rules(path: &Path) -> Result<Vec<RuleSpec<u32>>, ClassbenchError> {
        let mut rules = Vec::new();
        for_each_line(path, |line| {
            rules.push(parse_rule(line)?);
            Ok(())
        })?;
        Ok(rules)
    }

    /// Reads a trace file.
    pub fn read_trace(path: &Path) -> Result<Trace, ClassbenchError> {
        let mut trace = Trace::default();
        for_each_line(path, |line| {
            let (h, rule) = parse_trace(line)?;
            trace.headers.push(h);
            trace.generated_by.push(rule.unwrap_or(u32::MAX));
            Ok(())
        })?;
        Ok(trace)
    }

    /// Calls `f` on every non-blank line, turning its message into an error naming the line.
    fn for_each_line(
        path: &Path,
        mut f: impl FnMut(&str) -> Result<(), String>,
    ) -> Result<(), ClassbenchError> {
        let io = |source| ClassbenchError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = BufReader::new(File::open(path).map_err(io)?);
        let gzip = file.fill_buf().map_err(io)?.starts_with(&[0x1f, 0x8b]);
        let reader: Box<dyn BufRead> = if gzip {
            Box::new(BufReader::new(MultiGzDecoder::new(file)))
        } else {
            Box::new(file)
        };
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(io)?;
            if line.trim().is_empty() {
                continue;
            }
            f(&line).map_err(|message| ClassbenchError::Parse {
                path: path.to_path_buf(),
                line: i + 1,
                message,
            })?;
        }
        Ok(())
    }

    /// Parses one rule line.
    pub fn parse_rule(line: &str) -> Result<RuleSpec<u32>, String> {
        let body = line
            .strip_prefix('@')
            .ok_or("expected a rule starting with '@'")?;
        let mut fields = body.split('\t').map(str::trim);
        let mut next = |what: &str| {
            fields
                .next()
                .filter(|f| !f.is_empty())
                .ok_or_else(|| format!("missing {what}"))
        };
        let src = parse_prefix(next("source prefix")?)?;
        let dst = parse_prefix(next("destination prefix")?)?;
        let sport = parse_port_range(next("source port range")?)?;
        let dport = parse_port_range(next("destination port range")?)?;
        let proto = parse_proto(next("protocol/mask")?)?;
        Ok(RuleSpec {
            src,
            dst,
            sport,
            dport,
            proto,
        })
    }

    fn parse_prefix(s: &str) -> Result<std::ops::RangeInclusive<u32>, String> {
        let (addr, len) = s
            .split_once('/')
            .ok_or_else(|| format!("expected ADDRESS/LEN, got {s:?}"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("expected an IPv4 address, got {addr:?}"))?;
        let len: u32 = len
            .parse()
            .map_err(|_| format!("expected a prefix length 0-32, got {len:?}"))?;
        RuleSpec::prefix(u32::from(addr), len)
            .ok_or_else(|| format!("expected a prefix length 0-32, got {len}"))
    }

    fn parse_port_range(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
        let (lo, hi) = s
            .split_once(':')
            .ok_or_else(|| format!("expected LO : HI, got {s:?}"))?;
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .map_err(|_| format!("expected a port 0-65535, got {:?}", p.trim()))
        };
        let (lo, hi) = (port(lo)?, port(hi)?);
        if lo > hi {
            return Err(format!("port range {lo} : {hi} is empty"));
        }
        Ok(lo..=hi)
    }

    fn parse_proto(s: &str) -> Result<Option<u8>, String> {
        let hex = |h: &str| {
            h.strip_prefix("0x")
                .or_else(|| h.strip_prefix("0X"))
                .and_then(|d| u8::from_str_radix(d, 16).ok())
                .ok_or_else(|| format!("expected a hex byte like 0x06, got {h:?}"))
        };
        let (value, mask) = s
            .split_once('/')
            .ok_or_else(|| format!("expected PROTO/MASK, got {s:?}"))?;
        match hex(mask)? {
            0xff => Ok(Some(hex(value)?)),
            0x00 => Ok(None),
            m => Err(format!("protocol mask must be 0xFF or 0x00, got {m:#04x}")),
        }
    }

    /// Parses one trace line into a header and the generating rule, if present.
    pub fn parse_trace(line: &str) -> Result<(PacketHeader<u32>, Option<u32>), String> {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 5 {
            return Err(format!(
                "expected `src dst sport dport proto [flags [rule]]`, got {} fields",
                fields.len()
            ));
        }
        fn num<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, String> {
            s.parse().map_err(|_| format!("expected {what}, got {s:?}"))
        }
        let header = PacketHeader {
            src: num(fields[0], "a source address as u32")?,
            dst: num(fields[1], "a destination address as u32")?,
            sport: num(fields[2], "a source port 0-65535")?,
            dport: num(fields[3], "a destination port 0-65535")?,
            proto: num(fields[4], "a protocol 0-255")?,
        };
        let rule = match fields.get(6) {
            Some(r) => Some(num(r, "a rule index")?),
            None => None,
        };
        Ok((header, rule))
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use palisade_dataplane::classifier::{Classifier, LinearClassifier};

        fn data(name: &str) -> PathBuf {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("data/classbench")
                .join(name)
        }

        #[test]
        fn parses_rule_and_trace_lines() {
            let r = parse_rule(
                "@10.1.2.3/8\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\t0x1000/0x1000\t",
            )
            .unwrap();
            assert_eq!(r.src, 0x0a00_0000..=0x0aff_ffff);
            assert_eq!(r.dst, 0..=u32::MAX);
            assert_eq!((r.dport, r.proto), (80..=80, Some(6)));
            let r = parse_rule("@1.1.1.1/32\t2.2.2.2/32\t1 : 2\t3 : 4\t0x00/0x00\t0x0000/0x0000")
                .unwrap();
            assert_eq!((r.sport, r.proto), (1..=2, None));
            let (h, rule) = parse_trace("167772161 0 65535 80 6 0 12").unwrap();
            assert_eq!(
                (h.src, h.sport, h.dport, h.proto, rule),
                (0x0a00_0001, 65535, 80, 6, Some(12))
            );
        }

        #[test]
        fn rejects_bad_lines_with_a_reason() {
            for bad in [
                "10.0.0.0/8\t0.0.0.0/0\t0 : 1\t0 : 1\t0x06/0xFF",
                "@10.0.0.0/33\t0.0.0.0/0\t0 : 1\t0 : 1\t0x06/0xFF",
                "@10.0.0.0/8\t0.0.0.0/0\t0 : 70000\t0 : 1\t0x06/0xFF",
                "@10.0.0.0/8\t0.0.0.0/0\t5 : 1\t0 : 1\t0x06/0xFF",
                "@10.0.0.0/8\t0.0.0.0/0\t0 : 1\t0 : 1\t0x06/0x0F",
                "@10.0.0.0/8\t0.0.0.0/0\t0 : 1",
            ] {
                assert!(parse_rule(bad).is_err(), "{bad:?}");
            }
            assert!(parse_trace("1 2 3 4").is_err());
            assert!(parse_trace("1 2 3 70000 6").is_err());
            assert!(parse_trace("1 2 3 4 256").is_err());
        }

        #[test]
        fn read_errors_name_file_and_line() {
            let dir =
                std::env::temp_dir().join(format!("palisade-classbench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("rules");
            std::fs::write(
                &path,
                "@1.1.1.1/32\t2.2.2.2/32\t1 : 2\t3 : 4\t0x00/0x00\n\nnonsense\n",
            )
            .unwrap();
            let err = read_rules(&path).unwrap_err().to_string();
            std::fs::remove_dir_all(&dir).ok();
            assert!(err.contains("rules:3:"), "{err}");
        }

        /// Zero mismatches on acl1_1k: the first match never comes after the generating rule,
        /// and equals the linear scan's answer.
        #[test]
        fn acl1_1k_first_matches_agree() {
            let rules = read_rules(&data("acl1_1k.gz")).unwrap();
            let trace = read_trace(&data("acl1_1k_trace.gz")).unwrap();
            assert_eq!(rules.len(), 964);
            assert!(trace.headers.len() > 900);
            let c = Classifier::build(&rules).unwrap();
            let reference = LinearClassifier::new(&rules);
            let mut batch = vec![None; trace.headers.len()];
            c.lookup_batch(&trace.headers, &mut batch);
            for ((h, &gen_rule), b) in trace.headers.iter().zip(&trace.generated_by).zip(&batch) {
                let want = reference.lookup(h);
                assert!(want.is_some_and(|w| w <= gen_rule), "{h:?}");
                assert_eq!(c.lookup(h), want, "{h:?}");
                assert_eq!(*b, want, "{h:?}");
            }
        }
    }
}
