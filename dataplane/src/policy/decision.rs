//! What the matcher returns: per side the verdict, what decided it, Log rules passed and the
//! staged verdict — fixed-size, so a decision never allocates.

/// A rule by index into the snapshot's name tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleRef {
    pub tier: u32,
    pub policy: u32,
    /// Index in the manifest's ingress/egress list.
    pub rule: u32,
}

/// What decided a side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    Rule(RuleRef),
    EndOfTier { tier: u32 },
    Profile,
    NoEndpoint,
    Failsafe,
}

/// The most Log rules a decision records; more are counted in `overflow`.
pub const MAX_LOGGED: usize = 8;

/// Log rules passed, in order (fixed capacity). Only the first `len` items are the list's:
/// [`LogList::clear`] leaves the rest as they were (clearing is on every decision's path), so
/// equality and `Debug` look at the recorded items and the overflow count only.
#[derive(Clone, Copy)]
pub struct LogList {
    items: [RuleRef; MAX_LOGGED],
    len: u8,
    /// Log rules passed beyond `MAX_LOGGED`.
    pub overflow: u32,
}

impl Default for LogList {
    fn default() -> Self {
        Self {
            items: [RuleRef {
                tier: 0,
                policy: 0,
                rule: 0,
            }; MAX_LOGGED],
            len: 0,
            overflow: 0,
        }
    }
}

impl PartialEq for LogList {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice() && self.overflow == other.overflow
    }
}

impl Eq for LogList {}

impl std::fmt::Debug for LogList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogList")
            .field("items", &self.as_slice())
            .field("overflow", &self.overflow)
            .finish()
    }
}

impl LogList {
    pub fn push(&mut self, r: RuleRef) {
        if usize::from(self.len) < MAX_LOGGED {
            self.items[usize::from(self.len)] = r;
            self.len += 1;
        } else {
            self.overflow += 1;
        }
    }

    pub fn as_slice(&self) -> &[RuleRef] {
        &self.items[..usize::from(self.len)]
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = 0;
    }
}

/// One side's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideVerdict {
    /// Index of the endpoint in the snapshot, if the address is one.
    pub endpoint: Option<u32>,
    pub allow: bool,
    pub origin: Origin,
    pub logged: LogList,
    pub staged_allow: bool,
}

impl SideVerdict {
    pub fn no_endpoint() -> Self {
        Self {
            endpoint: None,
            allow: true,
            origin: Origin::NoEndpoint,
            logged: LogList::default(),
            staged_allow: true,
        }
    }
}

/// A flow's decision: allowed iff both sides allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub egress: SideVerdict,
    pub ingress: SideVerdict,
}

impl Decision {
    pub fn allow(&self) -> bool {
        self.egress.allow && self.ingress.allow
    }
}

impl Default for Decision {
    fn default() -> Self {
        Self {
            egress: SideVerdict::no_endpoint(),
            ingress: SideVerdict::no_endpoint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cleared_list_equals_a_fresh_one() {
        let r = |rule| RuleRef {
            tier: 1,
            policy: 2,
            rule,
        };
        let mut used = LogList::default();
        for i in 0..MAX_LOGGED as u32 + 2 {
            used.push(r(i));
        }
        assert_eq!(used.overflow, 2);
        used.clear();
        assert_eq!(used, LogList::default());
        used.push(r(7));
        let mut fresh = LogList::default();
        fresh.push(r(7));
        assert_eq!(used, fresh);
        fresh.push(r(8));
        assert_ne!(used, fresh);
        assert_eq!(
            format!("{used:?}"),
            format!("{:?}", {
                let mut l = LogList::default();
                l.push(r(7));
                l
            })
        );
    }
}
