//! Programs: one endpoint-direction's tiers flattened into an ordered list of rules from the
//! shared rule table, grouped (one group per tier with applicable policies, then one per
//! profile), and indexed by protocol and destination port so a lookup only visits rules that
//! can match. All programs of a snapshot live in one word arena.
//!
//! Contract: candidates are evaluated in order; a matching `Pass` skips the rest of its group;
//! running off the end is the profile drop ("no profile matched"). The index never changes the
//! result, only which rules are visited: every rule that could match a (protocol, port) is in
//! its list.
//!
//! Layout of a program at arena offset `at` (all `u32`, offsets absolute):
//! `[n_protos, other_bucket, n_rules]`, then `n_protos` pairs `(protocol, bucket)`; a bucket
//! is `[count, start_0 .. start_{count-1}, (list_0, len_0) .. ]` (destination-port interval
//! starts, then each interval's candidate list as offset and length in words); a candidate
//! list is rule ids, each Pass rule followed by the word index where the run resumes (after
//! its group). `other_bucket == NONE` when every protocol has its own.
//! A program's words are contiguous, so a lookup reads a few adjacent cache lines.

use rustc_hash::FxHashMap;

use super::rules::{Entry, EntryAction, NONE, RuleId, RuleTableBuilder, SideMatch};
use crate::flow::IpProto;

/// Builds one program: rules in evaluation order, split into groups.
#[derive(Debug, Default)]
pub struct ProgramBuilder {
    items: Vec<(RuleId, u32)>,
    group: u32,
}

impl ProgramBuilder {
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
    /// `protocol` to destination port `dst_port`, in order, of the program at arena offset `at`.
    #[inline]
    pub(crate) fn candidates_at(&self, at: u32, protocol: u8, dst_port: u16) -> &[u32] {
        self.try_candidates(at as usize, protocol, dst_port)
            .unwrap_or(&[])
    }

    /// The candidate list (as `candidates_at` returns it) of program `id`.
    pub fn candidates(&self, id: u32, protocol: u8, dst_port: u16) -> &[u32] {
        self.candidates_at(self.offset(id), protocol, dst_port)
    }

    #[inline]
    fn try_candidates(&self, at: usize, protocol: u8, dst_port: u16) -> Option<&[u32]> {
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
        let (offset, len) = (*w.get(l)? as usize, *w.get(l + 1)? as usize);
        w.get(offset..offset + len)
    }

    /// Heap bytes.
    pub fn heap_bytes(&self) -> usize {
        self.words.len() * 4 + self.at.len() * 4
    }
}

/// Accumulates programs into one arena.
#[derive(Debug, Default)]
pub struct ProgramsBuilder {
    words: Vec<u32>,
    at: Vec<u32>,
}

impl ProgramsBuilder {
    /// Index `program` (its rules are in `rules`) and append it; returns its id.
    pub fn add(&mut self, program: &ProgramBuilder, rules: &RuleTableBuilder) -> u32 {
        let items = &program.items;
        let entry = |r: RuleId| rules.get(r);
        // Protocols named by some rule get their own bucket; all others share one, built for
        // a protocol no rule names and without port intervals (a superset for any protocol).
        let mut named: Vec<u8> = items
            .iter()
            .filter_map(|(r, _)| entry(*r))
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
        // Candidate lists are written after the buckets; remember where each goes.
        let mut lists: Vec<Vec<u32>> = Vec::new();
        let mut interned: FxHashMap<Vec<u32>, u32> = FxHashMap::default();
        let mut patches: Vec<(usize, u32)> = Vec::new(); // (word to patch, list number)
        let mut buckets = Vec::new();
        for (k, proto) in named.iter().copied().map(Some).chain([other]).enumerate() {
            let Some(proto) = proto else { continue };
            let is_named = k < named.len();
            let relevant: Vec<(RuleId, u32)> = items
                .iter()
                .copied()
                .filter(|(r, _)| {
                    entry(*r).is_some_and(|e| {
                        !is_named
                            || (e.matcher.protocol.is_none_or(|p| p == proto)
                                && e.matcher.not_protocol != Some(proto))
                    })
                })
                .filter(|(r, _)| {
                    is_named || entry(*r).is_some_and(|e| e.matcher.protocol.is_none())
                })
                .collect();
            let by_port = is_named && IpProto::has_ports(proto);
            let mut starts: Vec<u16> = vec![0];
            if by_port {
                for (r, _) in &relevant {
                    for &(lo, hi) in entry(*r).and_then(|e| e.numeric_dst_ports()).unwrap_or(&[]) {
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
            buckets.push(bucket_at);
            self.words.push(starts.len() as u32);
            self.words.extend(starts.iter().map(|s| u32::from(*s)));
            for &port in &starts {
                let list: Vec<(RuleId, u32)> = relevant
                    .iter()
                    .filter(|(r, _)| {
                        !by_port
                            || entry(*r)
                                .and_then(|e| e.numeric_dst_ports())
                                .is_none_or(|ranges| {
                                    ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&port))
                                })
                    })
                    .copied()
                    .collect();
                let list = encode(prune(list, rules).collect(), rules);
                let n = *interned.entry(list).or_insert_with_key(|list| {
                    lists.push(list.clone());
                    lists.len() as u32 - 1
                });
                patches.push((self.words.len(), n));
                self.words.extend([0, 0]);
            }
            if is_named {
                self.words[protos_at + 2 * k + 1] = bucket_at;
            } else {
                self.words[at + 1] = bucket_at;
            }
        }
        let mut list_at = Vec::with_capacity(lists.len());
        for list in &lists {
            list_at.push((self.words.len() as u32, list.len() as u32));
            self.words.extend_from_slice(list);
        }
        for (word, n) in patches {
            let (offset, len) = list_at[n as usize];
            self.words[word] = offset;
            self.words[word + 1] = len;
        }
        self.at.push(at as u32);
        self.at.len() as u32 - 1
    }

    pub fn build(self) -> Programs {
        Programs {
            words: self.words.into(),
            at: self.at.into(),
        }
    }
}

/// A candidate list's words: each rule id, and after a Pass rule the word index at which the
/// run resumes (the first candidate of a later group, or the list's end). Only Pass rules need
/// their group, so the list is about half the size of `(rule, group)` pairs.
fn encode(list: Vec<(RuleId, u32)>, rules: &RuleTableBuilder) -> Vec<u32> {
    let is_pass = |r: RuleId| rules.get(r).is_some_and(|e| e.action == EntryAction::Pass);
    let mut at = Vec::with_capacity(list.len() + 1);
    let mut n = 0u32;
    for &(r, _) in &list {
        at.push(n);
        n += 1 + u32::from(is_pass(r));
    }
    at.push(n);
    let mut words = Vec::with_capacity(n as usize);
    for (k, &(r, g)) in list.iter().enumerate() {
        words.push(r);
        if is_pass(r) {
            let next = list[k..]
                .iter()
                .position(|&(_, g2)| g2 > g)
                .map_or(list.len(), |d| k + d);
            words.push(at[next]);
        }
    }
    words
}

/// Drops candidates no flow can reach: the rest of a group after a rule that matches every
/// flow of the list and passes (the group is skipped either way) or decides (reaching it ends
/// the run; skipping it takes a matching Pass earlier in the group), and everything after such
/// a deciding rule when no Pass precedes it in its group.
fn prune<'a>(
    list: Vec<(RuleId, u32)>,
    rules: &'a RuleTableBuilder,
) -> impl Iterator<Item = (RuleId, u32)> + 'a {
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
/// list's: lists hold only rules of their bucket's protocol.)
fn matches_all(e: &Entry) -> bool {
    let m = &e.matcher;
    m.family == 0
        && m.not_protocol.is_none()
        && m.icmp.is_none()
        && m.not_icmp.is_none()
        && m.src == SideMatch::default()
        && m.dst == SideMatch::default()
}

#[cfg(test)]
mod tests {
    use super::super::decision::Origin;
    use super::super::rules::{Match, PortList};
    use super::*;

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
        let empty = programs.add(&ProgramBuilder::default(), &rules);
        let id = programs.add(&b, &rules);
        let p = programs.build();
        assert_eq!(p.candidates(id, 6, 80), &[0, 2]);
        assert_eq!(p.candidates(id, 6, 81), &[2]);
        assert_eq!(p.candidates(id, 6, 1500), &[2, 3]);
        assert_eq!(p.candidates(id, 6, 2001), &[2]);
        assert_eq!(p.candidates(id, 17, 53), &[1, 2]);
        assert_eq!(p.candidates(id, 1, 0), &[2]);
        assert_eq!(p.candidates(id, 132, 80), &[2]);
        assert_eq!(p.rule_count(id), 4);
        assert!(p.candidates(empty, 6, 80).is_empty());
        assert!(p.candidates(99, 6, 80).is_empty());
    }

    #[test]
    fn unreachable_candidates_are_pruned() {
        let mut rules = RuleTableBuilder::default();
        let with = |action| Entry {
            action,
            ..entry(None, &[])
        };
        let a = rules.push(entry(Some(6), &[(80, 80)]));
        let pass = rules.push(with(EntryAction::Pass));
        let hidden = rules.push(entry(None, &[]));
        let deny = rules.push(with(EntryAction::Deny));
        let after = rules.push(entry(Some(6), &[(80, 80)]));
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
        let id = programs.add(&b, &rules);
        // A deny matching everything, with no Pass before it in its group, ends the list.
        let p = programs.build();
        // `pass` is followed by where the run resumes: `after`, at word 3.
        assert_eq!(p.candidates(id, 6, 80), &[a, pass, 3, after, deny]);
        let mut rules2 = RuleTableBuilder::default();
        let cp = rules2.push(Entry {
            action: EntryAction::Pass,
            ..entry(Some(6), &[(80, 80)])
        });
        let d = rules2.push(with(EntryAction::Deny));
        let x = rules2.push(entry(None, &[]));
        let mut b = ProgramBuilder::default();
        b.push(cp);
        b.push(d);
        b.push(x);
        b.end_group();
        b.push(x);
        let mut programs = ProgramsBuilder::default();
        let id = programs.add(&b, &rules2);
        let p = programs.build();
        // A conditional Pass before it: the next group stays reachable.
        assert_eq!(p.candidates(id, 6, 80), &[cp, 3, d, x]);
    }
}
