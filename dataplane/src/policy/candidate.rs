//! Candidate words: how a candidate list names each rule, together with what the matcher may
//! know without reading the rule's entry (a 64-byte line, most often a cache miss).
//!
//! Contract: a list is a sequence of entries; an entry is a rule word, then the rule's filter
//! set if the word has [`FILTERED`], then, for a Pass rule ([`PASS`]), the word index at which
//! the run resumes after the rule's group. A filter set is a necessary condition of the rule:
//! the flow's peer address (source or destination, [`FILTER_DST`]) must belong to it for the
//! rule to match, so a candidate whose filter fails is skipped without loading its entry.
//! [`PORTS_CHECKED`]: the list's destination-port interval lies inside the rule's (numeric)
//! destination ports. [`COMPLETE`]: the filter (if any) is the rule's only remaining
//! condition for flows reaching the list, and the word's [`ACTION`] bits (or [`PASS`]) are its
//! action, so a complete rule is decided without its entry. Rule ids are below [`RULE_LIMIT`].

use super::peer_split::Peer;
use super::rules::{Entry, EntryAction, RuleId, RuleTableBuilder, SideMatch};
use super::sets::SetId;

/// The rule's destination ports hold every flow reaching this list.
pub(crate) const PORTS_CHECKED: u32 = 1 << 31;
/// A filter set word follows.
pub(crate) const FILTERED: u32 = 1 << 30;
/// The filter applies to the destination address (else the source).
pub(crate) const FILTER_DST: u32 = 1 << 29;
/// The rule is a Pass: its resume index follows (after the filter word, if any).
pub(crate) const PASS: u32 = 1 << 28;
/// The word says all the rule requires of a flow reaching this list: it matches exactly when
/// its filter (if any) holds, and its action is in [`ACTION`] (or it is a [`PASS`]), so its
/// entry is never loaded.
pub(crate) const COMPLETE: u32 = 1 << 27;
/// A complete rule's action: [`ACT_ALLOW`], [`ACT_DENY`] or [`ACT_LOG`] (a Pass has [`PASS`]).
pub(crate) const ACTION: u32 = 3 << 25;
pub(crate) const ACT_ALLOW: u32 = 0;
pub(crate) const ACT_DENY: u32 = 1 << 25;
pub(crate) const ACT_LOG: u32 = 2 << 25;
/// Rule ids must be below this (33 million rules, 2 GB of entries: no real limit).
pub const RULE_LIMIT: u32 = 1 << 25;

/// One decoded entry of a candidate list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub(crate) rule: RuleId,
    pub(crate) ports_checked: bool,
    /// (on the destination side, set).
    pub(crate) filter: Option<(bool, SetId)>,
    /// For a Pass: where the run resumes when it matches.
    pub(crate) resume: Option<usize>,
    /// For a [`COMPLETE`] rule, its action: it matches when its filter holds.
    pub(crate) complete: Option<EntryAction>,
    /// Index of the next entry.
    pub(crate) next: usize,
}

/// The entry at word `i` of `words`, if there is a whole one.
#[inline]
pub(crate) fn decode(words: &[u32], i: usize) -> Option<Candidate> {
    let word = *words.get(i)?;
    let mut next = i + 1;
    let filter = if word & FILTERED != 0 {
        let set = *words.get(next)?;
        next += 1;
        Some((word & FILTER_DST != 0, set))
    } else {
        None
    };
    let resume = if word & PASS != 0 {
        let at = *words.get(next)? as usize;
        next += 1;
        Some(at.max(next))
    } else {
        None
    };
    let complete = (word & COMPLETE != 0).then(|| complete_action(word));
    Some(Candidate {
        rule: word & (RULE_LIMIT - 1),
        ports_checked: word & PORTS_CHECKED != 0,
        filter,
        resume,
        complete,
        next,
    })
}

/// The action of a [`COMPLETE`] rule's word.
#[inline(always)]
pub(crate) fn complete_action(word: u32) -> EntryAction {
    if word & PASS != 0 {
        return EntryAction::Pass;
    }
    match word & ACTION {
        ACT_ALLOW => EntryAction::Allow,
        ACT_DENY => EntryAction::Deny,
        _ => EntryAction::Log,
    }
}

/// The rule ids of a candidate list, in order (for tests and statistics).
pub fn rule_ids(words: &[u32]) -> Vec<RuleId> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = decode(words, i) {
        out.push(c.rule);
        i = c.next;
    }
    out
}

/// A necessary set of the rule's peer: its CIDR set, else its selector set, on the side that is
/// the peer for programs of `peer`.
fn filter_of(e: &Entry, peer: Peer) -> Option<(bool, SetId)> {
    let side = peer.side(e);
    let on_dst = peer == Peer::Destination;
    side.nets.or(side.selector).map(|set| (on_dst, set))
}

/// Does a flow reaching a list (of its protocol bucket; with `by_port`, of a port interval
/// inside the rule's numeric destination ports) match `e` exactly when its filter holds?
/// The bucket already implies the rule's protocol and not-protocol; what remains must be at
/// most one peer set (the filter) and destination ports the interval satisfies.
fn complete(e: &Entry, peer: Peer, by_port: bool) -> bool {
    let m = &e.matcher;
    let peer_side = peer.side(e);
    let own = match peer {
        Peer::Source => &m.dst,
        Peer::Destination => &m.src,
    };
    let dst_ports_hold = m.dst.ports.is_empty() || (by_port && e.numeric_dst_ports().is_some());
    let no_sets = |s: &SideMatch| {
        s.nets.is_none() && s.selector.is_none() && s.not_nets.is_none() && s.not_selector.is_none()
    };
    m.family == 0
        && m.icmp.is_none()
        && m.not_icmp.is_none()
        && !(peer_side.nets.is_some() && peer_side.selector.is_some())
        && peer_side.not_nets.is_none()
        && peer_side.not_selector.is_none()
        && no_sets(own)
        && m.src.ports.is_empty()
        && m.src.not_ports.is_empty()
        && dst_ports_hold
        && m.dst.not_ports.is_empty()
}

/// The rule word of `r` and its filter set, if any.
fn head(r: RuleId, rules: &RuleTableBuilder, peer: Peer, by_port: bool) -> (u32, Option<SetId>) {
    let Some(e) = rules.get(r) else {
        return (r, None);
    };
    let mut word = r;
    if by_port && e.numeric_dst_ports().is_some() {
        word |= PORTS_CHECKED;
    }
    let filter = filter_of(e, peer);
    if let Some((on_dst, _)) = filter {
        word |= FILTERED | if on_dst { FILTER_DST } else { 0 };
    }
    if e.action == EntryAction::Pass {
        word |= PASS;
    }
    if complete(e, peer, by_port) {
        word |= COMPLETE
            | match e.action {
                EntryAction::Allow | EntryAction::Pass => ACT_ALLOW,
                EntryAction::Deny => ACT_DENY,
                EntryAction::Log => ACT_LOG,
            };
    }
    (word, filter.map(|(_, set)| set))
}

/// Encode `list` (rules and their groups, in order) for programs whose peer is `peer`;
/// `by_port`: the list is a destination-port interval's.
pub(crate) fn encode(
    list: &[(RuleId, u32)],
    rules: &RuleTableBuilder,
    peer: Peer,
    by_port: bool,
) -> Vec<u32> {
    let heads: Vec<(u32, Option<SetId>)> = list
        .iter()
        .map(|(r, _)| head(*r, rules, peer, by_port))
        .collect();
    let len = |(word, filter): &(u32, Option<SetId>)| {
        1 + usize::from(filter.is_some()) + usize::from(word & PASS != 0)
    };
    // Word index of each entry (and of the list's end).
    let mut at = Vec::with_capacity(list.len() + 1);
    let mut n = 0usize;
    for h in &heads {
        at.push(n);
        n += len(h);
    }
    at.push(n);
    let mut words = Vec::with_capacity(n);
    for (k, &(word, filter)) in heads.iter().enumerate() {
        words.push(word);
        words.extend(filter);
        if word & PASS != 0 {
            let group = list[k].1;
            let next = list[k..]
                .iter()
                .position(|&(_, g)| g > group)
                .map_or(list.len(), |d| k + d);
            words.push(at[next] as u32);
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::super::decision::Origin;
    use super::super::rules::Match;
    use super::*;

    fn rule(action: EntryAction, src_set: Option<SetId>) -> Entry {
        let mut matcher = Match::default();
        matcher.src.selector = src_set;
        Entry {
            action,
            origin: Origin::Profile,
            matcher,
        }
    }

    #[test]
    fn entries_round_trip_with_filters_and_resume_indexes() {
        let mut rules = RuleTableBuilder::default();
        let a = rules.push(rule(EntryAction::Allow, Some(7)));
        let pass = rules.push(rule(EntryAction::Pass, Some(9)));
        let b = rules.push(rule(EntryAction::Deny, None));
        let c = rules.push(rule(EntryAction::Allow, None));
        let list = [(a, 0), (pass, 0), (b, 0), (c, 1)];
        let words = encode(&list, &rules, Peer::Source, false);
        assert_eq!(rule_ids(&words), vec![a, pass, b, c]);
        let first = decode(&words, 0).unwrap();
        assert_eq!(first.filter, Some((false, 7)));
        assert_eq!(first.resume, None);
        let second = decode(&words, first.next).unwrap();
        assert_eq!(second.filter, Some((false, 9)));
        // The Pass resumes at c, the first entry of the next group.
        let third = decode(&words, second.next).unwrap();
        let fourth = decode(&words, third.next).unwrap();
        assert_eq!(fourth.rule, c);
        assert_eq!(second.resume, Some(third.next));
        assert_eq!(decode(&words, fourth.next), None);
        // For egress programs the source side is not the peer: no filter.
        let words = encode(&list, &rules, Peer::Destination, false);
        assert_eq!(decode(&words, 0).unwrap().filter, None);
    }

    #[test]
    fn complete_words_carry_the_action_and_spare_the_entry() {
        let mut rules = RuleTableBuilder::default();
        let deny = rules.push(rule(EntryAction::Deny, Some(7)));
        let log = rules.push(rule(EntryAction::Log, None));
        let pass = rules.push(rule(EntryAction::Pass, Some(3)));
        let mut negated = rule(EntryAction::Allow, Some(7));
        negated.matcher.src.not_selector = Some(8);
        let negated = rules.push(negated);
        let mut named = rule(EntryAction::Allow, Some(7));
        named.matcher.dst.ports.named = Box::new([(None, 1)]);
        let named = rules.push(named);
        let mut ranged = rule(EntryAction::Allow, Some(7));
        ranged.matcher.dst.ports.ranges = Box::new([(80, 90)]);
        let ranged = rules.push(ranged);
        let list = [deny, log, pass, negated, named, ranged].map(|r| (r, 0));
        let decoded = |peer, by_port| {
            let words = encode(&list, &rules, peer, by_port);
            let mut out = Vec::new();
            let mut i = 0;
            while let Some(c) = decode(&words, i) {
                out.push(c.complete);
                i = c.next;
            }
            out
        };
        use EntryAction::*;
        // Ports hold only in a port interval's list.
        assert_eq!(
            decoded(Peer::Source, true),
            [Some(Deny), Some(Log), Some(Pass), None, None, Some(Allow)]
        );
        assert_eq!(
            decoded(Peer::Source, false),
            [Some(Deny), Some(Log), Some(Pass), None, None, None]
        );
        // For an egress program the source set constrains the endpoint itself: not a filter.
        assert_eq!(
            decoded(Peer::Destination, true),
            [None, Some(Log), None, None, None, None]
        );
    }

    #[test]
    fn truncated_lists_decode_to_nothing() {
        assert_eq!(decode(&[FILTERED], 0), None);
        assert_eq!(decode(&[PASS], 0), None);
        assert_eq!(decode(&[], 0), None);
    }
}
