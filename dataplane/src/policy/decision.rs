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

/// Log rules passed, in order (fixed capacity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
