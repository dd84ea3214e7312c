//! Programs: one endpoint-direction's tiers flattened into an ordered list of rules from the
//! shared rule table, grouped (one group per tier with applicable policies, then one per
//! profile), and indexed by protocol, destination port and — for long lists — the peer's
//! address ([`peer_split`]), so a lookup only visits rules that can match. All programs of a
//! snapshot live in one word arena.
//!
//! Contract: candidates are evaluated in order; a matching `Pass` skips the rest of its group;
//! running off the end is the profile drop ("no profile matched"). The index never changes the
//! result, only which rules are visited: every rule that could match a (protocol, port, peer)
//! is in its list.
//!
//! Layout of a program at arena offset `at` (all `u32`, offsets absolute):
//! `[n_protos, other_bucket, n_rules]`, then `n_protos` pairs `(protocol, bucket)`; a bucket
//! is `[count, start_0 .. start_{count-1}, (list_0, len_0) .. ]` (destination-port interval
//! starts, then each interval's candidate list as offset and length in words, or, when the
//! length word has the [`SPLIT`] bit, the offset of a peer-address split whose intervals point
//! at lists); a candidate list holds each rule's id with what the matcher can check without
//! its entry (`candidate`: a filter set, destination ports already satisfied, and for a Pass
//! the word index where the run resumes after its group). `other_bucket == NONE` when every protocol has its own.
//! A program's words are contiguous, so a lookup reads a few adjacent cache lines.

use std::net::IpAddr;

use rustc_hash::FxHashMap;

use super::candidate;
use super::peer_split::{self, Peer, SPLIT, SplitPolicy};
use super::rules::{Entry, EntryAction, NONE, RuleId, RuleTableBuilder, SideMatch};
use super::sets::SetRanges;
use crate::flow::IpProto;

/// Builds one program: rules in evaluation order, split into groups.
#[derive(Debug, Default)]
pub struct ProgramBuilder {
    items: Vec<(RuleId, u32)>,
    group: u32,
    peer: Peer,
}

impl ProgramBuilder {
    /// A program whose peer (what the address index splits long candidate lists by) is the
    /// flow's source (ingress) or destination (egress).
    pub fn new(peer: Peer) -> Self {
        ProgramBuilder {
            peer,
            ..ProgramBuilder::default()
        }
    }

    /// Append `rule` to the current group.
    pub fn push(&mut self, rule: RuleId) {
        self.items.push((rule, self.group));
    }

    /// Close the current group (a tier or a profile): a Pass in it resumes after this point.
    pub fn end_group(&mut self) {
        self.group += 1;
    }

    /// Number of rules pushed.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Every program of a snapshot, packed.
#[derive(Debug, Clone, Default)]
pub struct Programs {
    words: Box<[u32]>,
    /// Arena offset of each program id.
    at: Box<[u32]>,
    /// Candidate lists split by peer address.
    splits: usize,
}

impl Programs {
    /// Number of programs.
    pub fn len(&self) -> usize {
        self.at.len()
    }

    pub fn is_empty(&self) -> bool {
        self.at.is_empty()
    }

    /// Arena offset of program `id` (`NONE` when there is no such program).
    #[inline]
    pub(crate) fn offset(&self, id: u32) -> u32 {
        self.at.get(id as usize).copied().unwrap_or(NONE)
    }

    /// Rules in program `id`.
    pub fn rule_count(&self, id: u32) -> usize {
        let at = self.offset(id) as usize;
        self.words.get(at + 2).map_or(0, |n| *n as usize)
    }

    /// The candidate list (rule ids, each Pass followed by its resume index) for a flow of
    /// `protocol` to destination port `dst_port` whose peer (source for an ingress program,
    /// destination for egress) is `peer`, in order, of the program at arena offset `at`.
    #[inline]
    pub(crate) fn candidates_at(
        &self,
        at: u32,
        protocol: u8,
        dst_port: u16,
        peer: IpAddr,
    ) -> &[u32] {
        self.try_candidates(at as usize, protocol, dst_port, peer)
            .unwrap_or(&[])
    }

    /// The candidate list (as `candidates_at` returns it) of program `id`.
    pub fn candidates(&self, id: u32, protocol: u8, dst_port: u16, peer: IpAddr) -> &[u32] {
        self.candidates_at(self.offset(id), protocol, dst_port, peer)
    }

    #[inline]
    fn try_candidates(
        &self,
        at: usize,
        protocol: u8,
        dst_port: u16,
        peer: IpAddr,
    ) -> Option<&[u32]> {
        let w = &self.words;
        let n_protos = *w.get(at)? as usize;
        let protos = w.get(at + 3..at + 3 + 2 * n_protos)?;
        let bucket = protos
            .chunks_exact(2)
            .find(|pair| pair[0] == u32::from(protocol))
            .map(|pair| pair[1])
            .or_else(|| w.get(at + 1).copied().filter(|b| *b != NONE))?
            as usize;
        let count = *w.get(bucket)? as usize;
        let starts = w.get(bucket + 1..bucket + 1 + count)?;
        let i = starts
            .partition_point(|s| *s <= u32::from(dst_port))
            .checked_sub(1)?;
        let l = bucket + 1 + count + 2 * i;
        let (mut offset, mut len) = (*w.get(l)? as usize, *w.get(l + 1)?);
        if len & SPLIT != 0 {
            let (o, n) = peer_split::locate(w, offset, peer)?;
            (offset, len) = (o, n as u32);
        }
        w.get(offset..offset + len as usize)
    }

    /// Number of candidate lists split by peer address.
    pub fn splits(&self) -> usize {
        self.splits
    }

    /// Heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 4 + self.at.len() * 4
    }
}

/// Collects programs; [`ProgramsBuilder::build`] indexes and packs them into one arena once
/// every address set is known.
#[derive(Debug, Default)]
pub struct ProgramsBuilder {
    programs: Vec<ProgramBuilder>,
    split: SplitPolicy,
}

impl ProgramsBuilder {
    /// A builder that splits candidate lists by peer address under `split`.
    pub fn with_split(split: SplitPolicy) -> Self {
        ProgramsBuilder {
            programs: Vec::new(),
            split,
        }
    }

    /// Add `program`; returns its id.
    pub fn add(&mut self, program: ProgramBuilder) -> u32 {
        self.programs.push(program);
        self.programs.len() as u32 - 1
    }

    /// Index every program (its rules are in `rules`, its sets' addresses in `ranges`) and
    /// pack them.
    pub fn build(self, rules: &RuleTableBuilder, ranges: &SetRanges) -> Programs {
        let mut words = Vec::new();
        let mut at = Vec::with_capacity(self.programs.len());
        let mut splits = 0;
        let mut memo = SplitMemo::default();
        for program in &self.programs {
            at.push(words.len() as u32);
            let index = Index {
                rules,
                ranges,
                split: self.split,
            };
            splits += Layout::new(program, index, &mut memo, &mut words).write();
        }
        Programs {
            words: words.into(),
            at: at.into(),
            splits,
        }
    }
}

/// What a port interval's (offset, length) pair refers to, before offsets are known.
#[derive(Debug, Clone, Copy)]
enum Ref {
    /// An interned candidate list.
    List(u32),
    /// A peer-address split.
    Split(u32),
}

/// What every program is indexed with.
#[derive(Clone, Copy)]
struct Index<'a> {
    rules: &'a RuleTableBuilder,
    ranges: &'a SetRanges,
    split: SplitPolicy,
}

/// Peer-address splits already computed, by peer side and list: programs sharing policies
/// share lists, and a split costs far more than a lookup here.
type SplitMemo = FxHashMap<(Peer, Vec<(RuleId, u32)>), Option<[peer_split::FamilySplit; 2]>>;

/// Lays out one program at the end of the arena.
struct Layout<'a> {
    program: &'a ProgramBuilder,
    index: Index<'a>,
    memo: &'a mut SplitMemo,
    words: &'a mut Vec<u32>,
    lists: Vec<Vec<u32>>,
    interned: FxHashMap<Vec<u32>, u32>,
    /// Per split and family: (interval start, list number), coalesced.
    splits: Vec<[Vec<(u128, u32)>; 2]>,
    /// (word to patch, what goes there).
    patches: Vec<(usize, Ref)>,
}

impl<'a> Layout<'a> {
    fn new(
        program: &'a ProgramBuilder,
        index: Index<'a>,
        memo: &'a mut SplitMemo,
        words: &'a mut Vec<u32>,
    ) -> Self {
        Layout {
            program,
            index,
            memo,
            words,
            lists: Vec::new(),
            interned: FxHashMap::default(),
            splits: Vec::new(),
            patches: Vec::new(),
        }
    }

    fn entry(&self, r: RuleId) -> Option<&'a Entry> {
        self.index.rules.get(r)
    }

    /// Returns how many lists were split by peer address.
    fn write(mut self) -> usize {
        let items = &self.program.items;
        // Protocols named by some rule get their own bucket; all others share one, built for
        // a protocol no rule names and without port intervals (a superset for any protocol).
        let mut named: Vec<u8> = items
            .iter()
            .filter_map(|(r, _)| self.entry(*r))
            .flat_map(|e| [e.matcher.protocol, e.matcher.not_protocol])
            .flatten()
            .collect();
        named.sort_unstable();
        named.dedup();
        let other = (0u8..=255).find(|p| !named.contains(p));
        let at = self.words.len();
        self.words
            .extend([named.len() as u32, NONE, items.len() as u32]);
        let protos_at = self.words.len();
        for &p in &named {
            self.words.extend([u32::from(p), NONE]);
        }
        for (k, proto) in named.iter().copied().map(Some).chain([other]).enumerate() {
            let Some(proto) = proto else { continue };
            let is_named = k < named.len();
            let bucket_at = self.bucket(proto, is_named);
            if is_named {
                self.words[protos_at + 2 * k + 1] = bucket_at;
            } else {
                self.words[at + 1] = bucket_at;
            }
        }
        let splits = self.splits.len();
        self.finish();
        splits
    }

    /// Write the bucket of `proto` (for the shared bucket, `is_named` is false) with a
    /// placeholder reference per port interval; returns its offset.
    fn bucket(&mut self, proto: u8, is_named: bool) -> u32 {
        let relevant: Vec<(RuleId, u32)> = self
            .program
            .items
            .iter()
            .copied()
            .filter(|(r, _)| {
                self.entry(*r).is_some_and(|e| {
                    if is_named {
                        e.matcher.protocol.is_none_or(|p| p == proto)
                            && e.matcher.not_protocol != Some(proto)
                    } else {
                        e.matcher.protocol.is_none()
                    }
                })
            })
            .collect();
        let by_port = is_named && IpProto::has_ports(proto);
        let mut starts: Vec<u16> = vec![0];
        if by_port {
            for (r, _) in &relevant {
                for &(lo, hi) in self
                    .entry(*r)
                    .and_then(|e| e.numeric_dst_ports())
                    .unwrap_or(&[])
                {
                    starts.push(lo);
                    if let Some(n) = hi.checked_add(1) {
                        starts.push(n);
                    }
                }
            }
            starts.sort_unstable();
            starts.dedup();
        }
        let bucket_at = self.words.len() as u32;
        self.words.push(starts.len() as u32);
        self.words.extend(starts.iter().map(|s| u32::from(*s)));
        for &port in &starts {
            let list: Vec<(RuleId, u32)> = relevant
                .iter()
                .filter(|(r, _)| {
                    !by_port
                        || self
                            .entry(*r)
                            .and_then(|e| e.numeric_dst_ports())
                            .is_none_or(|ranges| {
                                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port))
                            })
                })
                .copied()
                .collect();
            let reference = self.reference(list, by_port);
            self.patches.push((self.words.len(), reference));
            self.words.extend([0, 0]);
        }
        bucket_at
    }

    /// Intern `list` whole, or split by peer address when that pays. `by_port`: the list is a
    /// destination-port interval's, so its rules' numeric port lists hold every flow's port.
    fn reference(&mut self, list: Vec<(RuleId, u32)>, by_port: bool) -> Ref {
        let key = (self.program.peer, list);
        let split = match self.memo.get(&key) {
            Some(known) => known.clone(),
            None => {
                let Index {
                    rules,
                    ranges,
                    split,
                } = self.index;
                let split = peer_split::split(&key.1, key.0, |r| rules.get(r), ranges, split);
                self.memo.insert(key.clone(), split.clone());
                split
            }
        };
        let Some(families) = split else {
            return Ref::List(self.intern(key.1, by_port));
        };
        let mut coalesced: [Vec<(u128, u32)>; 2] = [Vec::new(), Vec::new()];
        for (family, out) in families.into_iter().zip(&mut coalesced) {
            for (start, list) in family {
                let n = self.intern(list, by_port);
                if out.last().is_none_or(|(_, last)| *last != n) {
                    out.push((start, n));
                }
            }
        }
        self.splits.push(coalesced);
        Ref::Split(self.splits.len() as u32 - 1)
    }

    fn intern(&mut self, list: Vec<(RuleId, u32)>, by_port: bool) -> u32 {
        let list: Vec<(RuleId, u32)> = prune(list, self.index.rules, by_port).collect();
        let list = candidate::encode(&list, self.index.rules, self.program.peer, by_port);
        let lists = &mut self.lists;
        *self.interned.entry(list).or_insert_with_key(|list| {
            lists.push(list.clone());
            lists.len() as u32 - 1
        })
    }

    /// Append the lists and splits after the buckets, and patch every reference.
    fn finish(self) {
        let words = self.words;
        let mut list_at = Vec::with_capacity(self.lists.len());
        for list in &self.lists {
            list_at.push([words.len() as u32, list.len() as u32]);
            words.extend_from_slice(list);
        }
        let mut split_at = Vec::with_capacity(self.splits.len());
        for [v4, v6] in &self.splits {
            split_at.push(words.len() as u32);
            words.extend([v4.len() as u32, v6.len() as u32]);
            words.extend(v4.iter().map(|(start, _)| *start as u32));
            words.extend(v4.iter().flat_map(|(_, n)| list_at[*n as usize]));
            words.extend(
                v6.iter()
                    .flat_map(|(start, _)| peer_split::u128_to_words(*start)),
            );
            words.extend(v6.iter().flat_map(|(_, n)| list_at[*n as usize]));
        }
        for (word, reference) in self.patches {
            let [offset, len] = match reference {
                Ref::List(n) => list_at[n as usize],
                Ref::Split(k) => [split_at[k as usize], SPLIT],
            };
            words[word] = offset;
            words[word + 1] = len;
        }
    }
}

/// Drops candidates no flow can reach: the rest of a group after a rule that matches every
/// flow of the list and passes (the group is skipped either way) or decides (reaching it ends
/// the run; skipping it takes a matching Pass earlier in the group), and everything after such
/// a deciding rule when no Pass precedes it in its group.
fn prune<'a>(
    list: Vec<(RuleId, u32)>,
    rules: &'a RuleTableBuilder,
    by_port: bool,
) -> impl Iterator<Item = (RuleId, u32)> + 'a {
    let matches_all = move |e: &Entry| matches_all(e, by_port);
    let mut dead_group = None;
    let mut pass_in_group = None;
    let mut ended = false;
    list.into_iter().filter(move |&(r, g)| {
        if ended || dead_group == Some(g) {
            return false;
        }
        let Some(e) = rules.get(r) else { return true };
        if e.action == EntryAction::Pass || !matches_all(e) {
            if e.action == EntryAction::Pass {
                pass_in_group = Some(g);
            }
            if e.action == EntryAction::Pass && matches_all(e) {
                dead_group = Some(g);
            }
            return true;
        }
        match e.action {
            EntryAction::Allow | EntryAction::Deny if pass_in_group == Some(g) => {
                dead_group = Some(g)
            }
            EntryAction::Allow | EntryAction::Deny => ended = true,
            EntryAction::Log | EntryAction::Pass => {}
        }
        true
    })
}

/// Does the entry match every flow of a candidate list it is in? (Its protocol, if any, is the
/// list's: lists hold only rules of their bucket's protocol; with `by_port`, its numeric
/// destination ports hold the list's ports.)
fn matches_all(e: &Entry, by_port: bool) -> bool {
    let m = &e.matcher;
    let d = &m.dst;
    let dst_ports_hold = d.ports.is_empty() || (by_port && e.numeric_dst_ports().is_some());
    m.family == 0
        && m.not_protocol.is_none()
        && m.icmp.is_none()
        && m.not_icmp.is_none()
        && m.src == SideMatch::default()
        && d.nets.is_none()
        && d.not_nets.is_none()
        && d.selector.is_none()
        && d.not_selector.is_none()
        && dst_ports_hold
        && d.not_ports.is_empty()
}

#[cfg(test)]
mod tests {
    use super::super::decision::Origin;
    use super::super::rules::{Match, PortList};
    use super::*;
    use crate::net::IpNet;
    use std::net::Ipv4Addr;

    use super::super::candidate::{ACT_LOG, COMPLETE, PORTS_CHECKED, rule_ids as ids};

    /// A peer no test rule constrains.
    const ANY: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

    fn entry(protocol: Option<u8>, ports: &[(u16, u16)]) -> Entry {
        Entry {
            action: EntryAction::Allow,
            origin: Origin::Profile,
            matcher: Match {
                protocol,
                dst: SideMatch {
                    ports: PortList {
                        ranges: ports.into(),
                        named: Box::default(),
                    },
                    ..SideMatch::default()
                },
                ..Match::default()
            },
        }
    }

    #[test]
    fn candidates_hold_every_entry_that_can_match() {
        let mut rules = RuleTableBuilder::default();
        let mut b = ProgramBuilder::default();
        b.push(rules.push(entry(Some(6), &[(80, 80)])));
        b.push(rules.push(entry(Some(17), &[(53, 53)])));
        b.end_group();
        b.push(rules.push(Entry {
            action: EntryAction::Log,
            ..entry(None, &[])
        }));
        b.push(rules.push(entry(Some(6), &[(1000, 2000)])));
        let mut programs = ProgramsBuilder::default();
        let empty = programs.add(ProgramBuilder::default());
        let id = programs.add(b);
        let p = programs.build(&rules, &SetRanges::default());
        // tcp/80 from anywhere allows every flow of its list: nothing after it is reachable.
        // (Every rule here is complete: its bucket and port interval say all it requires.)
        let log = 2 | COMPLETE | ACT_LOG;
        assert_eq!(p.candidates(id, 6, 80, ANY), &[PORTS_CHECKED | COMPLETE]);
        assert_eq!(p.candidates(id, 6, 81, ANY), &[log]);
        assert_eq!(
            p.candidates(id, 6, 1500, ANY),
            &[log, 3 | PORTS_CHECKED | COMPLETE]
        );
        assert_eq!(p.candidates(id, 6, 2001, ANY), &[log]);
        assert_eq!(
            p.candidates(id, 17, 53, ANY),
            &[1 | PORTS_CHECKED | COMPLETE]
        );
        assert_eq!(p.candidates(id, 1, 0, ANY), &[log]);
        assert_eq!(p.candidates(id, 132, 80, ANY), &[log]);
        assert_eq!(p.rule_count(id), 4);
        assert!(p.candidates(empty, 6, 80, ANY).is_empty());
        assert!(p.candidates(99, 6, 80, ANY).is_empty());
    }

    #[test]
    fn unreachable_candidates_are_pruned() {
        let mut rules = RuleTableBuilder::default();
        let with = |action| Entry {
            action,
            ..entry(None, &[])
        };
        // Conditional rules (from some set), so that they end nothing.
        let cond = |action| {
            let mut e = entry(Some(6), &[(80, 80)]);
            e.action = action;
            e.matcher.src.selector = Some(0);
            e
        };
        let a = rules.push(cond(EntryAction::Allow));
        let pass = rules.push(with(EntryAction::Pass));
        let hidden = rules.push(entry(None, &[]));
        let deny = rules.push(with(EntryAction::Deny));
        let after = rules.push(cond(EntryAction::Allow));
        let mut b = ProgramBuilder::default();
        for r in [a, pass, hidden] {
            b.push(r);
        }
        b.end_group();
        b.push(after);
        b.push(deny);
        b.push(after);
        b.end_group();
        b.push(after);
        let mut programs = ProgramsBuilder::default();
        let id = programs.add(b);
        // A deny matching everything, with no Pass before it in its group, ends the list.
        let p = programs.build(&rules, &SetRanges::default());
        // (`pass` is followed by where the run resumes: `after`.)
        assert_eq!(ids(p.candidates(id, 6, 80, ANY)), [a, pass, after, deny]);
        let mut rules2 = RuleTableBuilder::default();
        let cp = rules2.push(cond(EntryAction::Pass));
        let d = rules2.push(with(EntryAction::Deny));
        let x = rules2.push(entry(None, &[]));
        let mut b = ProgramBuilder::default();
        b.push(cp);
        b.push(d);
        b.push(x);
        b.end_group();
        b.push(x);
        let mut programs = ProgramsBuilder::default();
        let id = programs.add(b);
        let p = programs.build(&rules2, &SetRanges::default());
        // A conditional Pass before it: the next group stays reachable.
        assert_eq!(ids(p.candidates(id, 6, 80, ANY)), [cp, d, x]);
    }

    /// An Allow from peers in set `set`.
    fn from_set(set: u32) -> Entry {
        let mut e = entry(Some(6), &[]);
        e.matcher.src.nets = Some(set);
        e
    }

    #[test]
    fn long_lists_are_split_by_peer_address() {
        let mut rules = RuleTableBuilder::default();
        let mut ranges = SetRanges::default();
        let mut b = ProgramBuilder::new(Peer::Source);
        let mut bounded = Vec::new();
        for k in 0..40u32 {
            let net: IpNet = format!("10.9.{k}.0/24").parse().unwrap();
            ranges.add_net(k, net);
            let r = rules.push(from_set(k));
            bounded.push(r);
            b.push(r);
        }
        ranges.add_net(40, "fd00::/64".parse().unwrap());
        ranges.add_net(41, "0.0.0.0/0".parse().unwrap());
        ranges.add_net(41, "ffff::/16".parse().unwrap());
        let everywhere = rules.push(from_set(41));
        b.push(everywhere);
        let v6_rule = rules.push(from_set(40));
        b.push(v6_rule);
        let catch_all = rules.push(entry(Some(6), &[]));
        b.push(catch_all);
        ranges.finish();
        let mut programs = ProgramsBuilder::default();
        let id = programs.add(b);
        let p = programs.build(&rules, &ranges);
        let peer = |s: &str| s.parse::<IpAddr>().unwrap();
        let v4 = |k: usize| [bounded[k], everywhere, catch_all];
        assert_eq!(ids(p.candidates(id, 6, 80, peer("10.9.7.1"))), &v4(7));
        assert_eq!(ids(p.candidates(id, 6, 80, peer("10.9.39.255"))), &v4(39));
        let outside = [everywhere, catch_all];
        assert_eq!(ids(p.candidates(id, 6, 80, peer("10.9.40.0"))), &outside);
        assert_eq!(ids(p.candidates(id, 6, 80, peer("0.0.0.0"))), &outside);
        assert_eq!(
            ids(p.candidates(id, 6, 80, peer("255.255.255.255"))),
            &outside
        );
        let v6 = ids(p.candidates(id, 6, 80, peer("fd00::9")));
        assert_eq!(v6, &[v6_rule, catch_all]);
        assert_eq!(
            ids(p.candidates(id, 6, 80, peer("fd00:0:0:1::"))),
            &[catch_all]
        );
        assert_eq!(ids(p.candidates(id, 6, 80, peer("::"))), &[catch_all]);
        let top = peer("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
        assert_eq!(ids(p.candidates(id, 6, 80, top)), &outside);
        // Other protocols never reach the TCP rules.
        assert!(p.candidates(id, 17, 80, peer("10.9.7.1")).is_empty());
    }

    #[test]
    fn short_lists_and_unbounded_lists_stay_whole() {
        let mut rules = RuleTableBuilder::default();
        let mut ranges = SetRanges::default();
        let mut short = ProgramBuilder::new(Peer::Source);
        let mut unbounded = ProgramBuilder::new(Peer::Source);
        for k in 0..8u32 {
            ranges.add_net(k, format!("10.9.{k}.0/24").parse().unwrap());
            short.push(rules.push(from_set(k)));
        }
        // Each rule constrains only the destination: for an ingress program that is the
        // endpoint itself, so the peer cannot narrow them.
        for k in 0..40u32 {
            let mut e = entry(Some(6), &[]);
            e.matcher.dst.nets = Some(k % 8);
            unbounded.push(rules.push(e));
        }
        ranges.finish();
        let mut programs = ProgramsBuilder::default();
        let (a, b) = (programs.add(short), programs.add(unbounded));
        let p = programs.build(&rules, &ranges);
        let peer: IpAddr = "10.9.3.3".parse().unwrap();
        assert_eq!(ids(p.candidates(a, 6, 80, peer)).len(), 8);
        assert_eq!(ids(p.candidates(b, 6, 80, peer)).len(), 40);
    }
}
