//! The compiled policy: an immutable [`Snapshot`] the control plane builds, and the matcher
//! that decides new flows against it.
//!
//! Contract: a snapshot is plain data (`Send + Sync`, no interior mutability, no labels or
//! selectors — those were resolved into address sets by the compiler). [`classify`] decides a
//! flow for both sides (egress of the source endpoint, ingress of the destination endpoint)
//! with the deciding rule, the Log rules passed and the staged verdict; it never allocates,
//! never locks and may run on many threads against one snapshot.
//!
//! Design (why not a decision tree here): policy rules are not 5-tuples of ranges — their
//! peers are *sets* of scattered pod addresses, and expanding selectors into address ranges
//! multiplies rules by set sizes. Instead each address is resolved once per flow into the
//! sorted list of sets it belongs to (a hash lookup for endpoints, a binary search in an
//! interval map for CIDRs), and each per-endpoint program is indexed by protocol and
//! destination-port interval, so a lookup only visits the rules that can match that protocol
//! and port, in order. Programs are shared by every endpoint with the same applicable policies.

mod decider;
mod decision;
mod matcher;
mod program;
mod rules;
mod sets;
mod snapshot;

pub use decider::{
    DecidingSide, UnpackedRule, deciding_side, pack_rule_id, policy_verdict, unpack_rule_id,
};
pub use decision::{Decision, LogList, MAX_LOGGED, Origin, RuleRef, SideVerdict};
pub use matcher::{classify, classify_batch};
pub use program::{ProgramBuilder, Programs, ProgramsBuilder};
pub use rules::{
    Entry, EntryAction, IcmpMatch, Match, PortList, RuleId, RuleTable, RuleTableBuilder, SideMatch,
};
pub use sets::{AddrSets, IntervalMap, SetId};
pub use snapshot::{EndpointEntry, NamedPortDecl, Snapshot, SnapshotNames};
