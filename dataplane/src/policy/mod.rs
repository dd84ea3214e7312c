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
//! sorted list of sets it belongs to, and each per-endpoint program is indexed by protocol and
//! destination-port interval, so a lookup only visits the rules that can match that protocol
//! and port, in order. Programs are shared by every endpoint with the same applicable policies.
//!
//! Layout, chosen by measurement (Kubernetes-shaped store, 10,000 pods x 10,000 policies,
//! `bench/src/bin/policybench.rs`; `perf` and callgrind with a 2 MiB last-level cache model):
//! a decision is bound by dependent cache misses and by the candidates it evaluates, not by the
//! rule count. What moved it:
//! - Rules in one shared table ([`RuleTable`], one 64-byte line per rule), programs as lists of
//!   rule ids: each policy's rules are compiled once instead of once per program (7,093
//!   programs of ~13 entries each duplicated them): snapshot 13.8 -> 6.3 MB, compile 2.4 ->
//!   0.8 G instructions.
//! - All programs in one word arena, each contiguous (header, protocol buckets, port
//!   intervals, candidate lists), endpoints pointing at arena offsets: no per-program boxes.
//! - Per-address records inside the address hash map: the endpoint, its program offsets, and
//!   its selector and CIDR sets (resolved at build time): one probe per side, no interval
//!   search for endpoint addresses. Address resolution 385 -> 174 instructions per flow;
//!   24-byte records (staged programs in a side table) cut modelled L2 misses 4.75 -> 4.1.
//! - Pass as "skip the rest of this group" (tier or profile) instead of jump targets, so rule
//!   entries carry no program-specific positions; candidate lists hold rule ids, each Pass
//!   followed by its resume index ((rule, group) pairs cost 0.6 MB more at 10,000 policies),
//!   and drop what no flow can reach (the rest of a group after a match-all Pass, everything
//!   after a match-all Allow/Deny): tcp/80 candidates per program 9.6 -> 5.8 on average.
//! - A peer-address dimension for long candidate lists ([`Peer`], `peer_split`): the 10,000
//!   non-matching `/32` ipBlock rules of `bench/e2e.sh`'s `palisade-rules-10000` all share one
//!   protocol and port range, so every new flow walked all of them (18-21k new flows/s end to
//!   end); split by the source's address, each flow visits the one or two rules whose set
//!   contains it. Splits are kept only when they cut the average list length 4x within a size
//!   budget (Kubernetes-shaped programs rarely qualify: their lists are short already).
//! - Candidate words carry a filter set (the rule's peer CIDR or selector set) and Pass and
//!   port flags (`candidate`), so a candidate whose peer is not in its set is skipped without
//!   loading its 64-byte entry: at 10,000 policies D1 misses 15.9 -> 11.9 and LL misses
//!   4.1 -> 2.8 per decision (callgrind, 2 MiB LL model) for 8 % more snapshot.
//! - Complete candidate words (`candidate::COMPLETE`): when a rule's filter set, protocol
//!   bucket and port interval are all it requires, its word carries its action and the entry
//!   is never loaded; `run` reads the words directly. 10,000 policies: 1,122 -> 1,064
//!   instructions and LL misses 2.75 -> 2.48 per decision (callgrind, 2 MiB LL model).
//! - The batch path in three stages (resolve addresses, locate candidate lists and touch the
//!   first entry, decide) so one flow's misses overlap with the others'. Extra tight passes
//!   loading program headers, set lists and list heads ahead measured no faster (dropped).
//!
//! Results and the remaining gap: `bench/README.md`, "Policy matcher".

mod candidate;
mod decider;
mod decision;
mod matcher;
mod peer_split;
mod program;
mod rules;
mod sets;
mod snapshot;

pub use candidate::{RULE_LIMIT, rule_ids};
pub use decider::{
    DecidingSide, UnpackedRule, deciding_side, pack_rule_id, policy_verdict, unpack_rule_id,
};
pub use decision::{Decision, LogList, MAX_LOGGED, Origin, RuleRef, SideVerdict};
pub use matcher::{classify, classify_batch};
pub use peer_split::{Peer, SplitPolicy};
pub use program::{ProgramBuilder, Programs, ProgramsBuilder};
pub use rules::{
    Entry, EntryAction, IcmpMatch, Match, PortList, RuleId, RuleTable, RuleTableBuilder, SideMatch,
};
pub use sets::{AddrSets, IntervalMap, SetId, SetRanges};
pub use snapshot::{EndpointEntry, NamedPortDecl, Snapshot, SnapshotNames};
