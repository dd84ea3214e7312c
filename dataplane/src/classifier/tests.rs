//! Unit and differential tests: the tree classifier must agree with the linear scan.

use proptest::prelude::*;

use super::*;

fn rule4(
    src: (u32, u32),
    dst: (u32, u32),
    sport: (u16, u16),
    dport: (u16, u16),
    proto: Option<u8>,
) -> RuleSpec<u32> {
    RuleSpec {
        src: src.0..=src.1,
        dst: dst.0..=dst.1,
        sport: sport.0..=sport.1,
        dport: dport.0..=dport.1,
        proto,
    }
}

fn hdr4(src: u32, dst: u32, sport: u16, dport: u16, proto: u8) -> PacketHeader<u32> {
    PacketHeader {
        src,
        dst,
        sport,
        dport,
        proto,
    }
}

const ANY16: (u16, u16) = (0, u16::MAX);
const ANY32: (u32, u32) = (0, u32::MAX);

/// Options that force deep trees, continuations and big leaves.
fn option_sets() -> Vec<BuildOptions> {
    vec![
        BuildOptions::default(),
        BuildOptions {
            leaf_size: 1,
            spfac: 2.0,
            max_cut_bits: 2,
            partition_bits: 0,
        },
        BuildOptions {
            leaf_size: 2,
            spfac: 8.0,
            max_cut_bits: 5,
            partition_bits: 24,
        },
    ]
}

fn assert_agrees<A: Addr>(rules: &[RuleSpec<A>], headers: &[PacketHeader<A>]) {
    let reference = LinearClassifier::new(rules);
    for opts in option_sets() {
        let c = Classifier::build_with(rules, opts).expect("build");
        let mut batch = vec![Some(u32::MAX); headers.len()];
        c.lookup_batch(headers, &mut batch);
        for (h, b) in headers.iter().zip(&batch) {
            let want = reference.lookup(h);
            assert_eq!(c.lookup(h), want, "lookup {h:?} opts {opts:?}");
            assert_eq!(*b, want, "lookup_batch {h:?} opts {opts:?}");
            for m in 0..=rules.len() as u32 + 1 {
                assert_eq!(
                    c.lookup_from(h, m),
                    reference.lookup_from(h, m),
                    "lookup_from {h:?} {m} opts {opts:?}"
                );
            }
        }
    }
}

#[test]
fn first_match_wins_and_ranges_are_inclusive() {
    let rules = vec![
        rule4((10, 20), ANY32, ANY16, (80, 80), Some(6)),
        rule4((15, 15), ANY32, ANY16, ANY16, None),
        rule4(ANY32, ANY32, ANY16, ANY16, None),
    ];
    let c = Classifier::build(&rules).unwrap();
    assert_eq!(c.lookup(&hdr4(10, 0, 1, 80, 6)), Some(0));
    assert_eq!(c.lookup(&hdr4(20, 0, 1, 80, 6)), Some(0));
    assert_eq!(c.lookup(&hdr4(15, 0, 1, 80, 17)), Some(1));
    assert_eq!(c.lookup(&hdr4(21, 0, 1, 80, 6)), Some(2));
    assert_eq!(c.lookup_from(&hdr4(15, 0, 1, 80, 6), 1), Some(1));
    assert_eq!(c.lookup_from(&hdr4(15, 0, 1, 80, 6), 2), Some(2));
    assert_eq!(c.lookup_from(&hdr4(15, 0, 1, 80, 6), 3), None);
    assert_eq!(c.len(), 3);
}

#[test]
fn no_rules_and_empty_ranges_match_nothing() {
    let c = Classifier::<u32>::build(&[]).unwrap();
    assert!(c.is_empty());
    assert_eq!(c.lookup(&hdr4(1, 2, 3, 4, 5)), None);
    #[allow(clippy::reversed_empty_ranges)]
    let rules = vec![
        rule4((5, 4), ANY32, ANY16, ANY16, None),
        rule4(ANY32, ANY32, (9, 1), ANY16, None),
    ];
    let c = Classifier::build(&rules).unwrap();
    assert_eq!(c.lookup(&hdr4(4, 0, 5, 0, 0)), None);
    assert_eq!(c.lookup_from(&hdr4(4, 0, 5, 0, 0), 1), None);
}

#[test]
fn continuations_serve_lookup_from_behind_covering_rules() {
    // Many identical catch-all rules: each covers everything, so each later one sits in a
    // continuation of the one before.
    let mut rules = vec![rule4((0, 0), ANY32, ANY16, ANY16, Some(6))];
    rules.extend((0..50).map(|_| RuleSpec::any()));
    rules.push(rule4((7, 7), (7, 7), (7, 7), (7, 7), Some(7)));
    let c = Classifier::build(&rules).unwrap();
    let h = hdr4(7, 7, 7, 7, 7);
    assert_eq!(c.lookup(&h), Some(1));
    assert_eq!(c.lookup_from(&h, 30), Some(30));
    assert_eq!(c.lookup_from(&h, 51), Some(51));
    assert_eq!(c.lookup_from(&h, 52), None);
    assert_eq!(c.lookup_from(&hdr4(0, 1, 1, 1, 6), 0), Some(0));
}

#[test]
fn ipv6_full_width_ranges() {
    let p = |a: u128, l| RuleSpec::<u128>::prefix(a, l).unwrap();
    let rules = vec![
        RuleSpec {
            src: p(0xfd00 << 112, 64),
            ..RuleSpec::any()
        },
        RuleSpec {
            dst: p(1, 128),
            proto: Some(17),
            ..RuleSpec::any()
        },
        RuleSpec {
            src: u128::MAX - 5..=u128::MAX,
            ..RuleSpec::any()
        },
        RuleSpec::any(),
    ];
    let h = |src: u128, dst: u128, proto| PacketHeader {
        src,
        dst,
        sport: 0,
        dport: 0,
        proto,
    };
    let headers = vec![
        h(0xfd00 << 112, 1, 17),
        h((0xfd00 << 112) | u128::from(u64::MAX), 0, 0),
        h((0xfd00 << 112) + (1 << 64), 1, 17),
        h(u128::MAX, 1, 6),
        h(u128::MAX - 6, 2, 6),
        h(0, 0, 0),
    ];
    let want = [Some(0), Some(0), Some(1), Some(2), Some(3), Some(3)];
    let c = Classifier6::build(&rules).unwrap();
    for (hd, w) in headers.iter().zip(want) {
        assert_eq!(c.lookup(hd), w, "{hd:?}");
    }
    assert_agrees(&rules, &headers);
}

#[test]
fn prefix_helper() {
    assert_eq!(
        RuleSpec::<u32>::prefix(0x0a01_0203, 8),
        Some(0x0a00_0000..=0x0aff_ffff)
    );
    assert_eq!(RuleSpec::<u32>::prefix(5, 0), Some(0..=u32::MAX));
    assert_eq!(RuleSpec::<u32>::prefix(5, 32), Some(5..=5));
    assert_eq!(RuleSpec::<u32>::prefix(5, 33), None);
    assert_eq!(RuleSpec::<u128>::prefix(5, 0), Some(0..=u128::MAX));
}

#[test]
fn classifier_is_send_sync() {
    fn check<T: Send + Sync>() {}
    check::<Classifier4>();
    check::<Classifier6>();
}

// ---- property tests -------------------------------------------------------------------------

/// Values clustered near a few anchors and the ends of the range, so ranges overlap often.
fn value32() -> impl Strategy<Value = u32> {
    prop_oneof![
        Just(0u32),
        Just(u32::MAX),
        (0u32..4, 0u32..64).prop_map(|(a, o)| (a << 30) + o),
        any::<u32>(),
    ]
}

fn range32() -> impl Strategy<Value = (u32, u32)> {
    prop_oneof![
        Just(ANY32),
        (value32(), 0u32..=32).prop_map(|(a, l)| {
            let r = RuleSpec::<u32>::prefix(a, l).unwrap_or(0..=u32::MAX);
            (*r.start(), *r.end())
        }),
        (value32(), value32()).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

fn range16() -> impl Strategy<Value = (u16, u16)> {
    prop_oneof![
        Just(ANY16),
        (0u16..8).prop_map(|p| (p, p)),
        (0u16..10, 0u16..10).prop_map(|(a, b)| (a.min(b), a.max(b))),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| (a.min(b), a.max(b))),
    ]
}

fn rule_strategy() -> impl Strategy<Value = RuleSpec<u32>> {
    (
        range32(),
        range32(),
        range16(),
        range16(),
        prop::option::of(0u8..4),
    )
        .prop_map(|(s, d, sp, dp, p)| rule4(s, d, sp, dp, p))
}

/// Headers at rule boundaries (lo - 1, lo, hi, hi + 1) and random ones.
fn headers_for(
    rules: &[RuleSpec<u32>],
    seeds: &[(u32, u32, u16, u16, u8)],
) -> Vec<PacketHeader<u32>> {
    let mut out: Vec<PacketHeader<u32>> = seeds
        .iter()
        .map(|&(s, d, sp, dp, p)| hdr4(s, d, sp, dp, p % 5))
        .collect();
    for (i, r) in rules.iter().enumerate() {
        let pick = |lo: u32, hi: u32, k: usize| match k % 4 {
            0 => lo.wrapping_sub(1),
            1 => lo,
            2 => hi,
            _ => hi.wrapping_add(1),
        };
        let pick16 = |lo: u16, hi: u16, k: usize| match k % 4 {
            0 => lo.wrapping_sub(1),
            1 => lo,
            2 => hi,
            _ => hi.wrapping_add(1),
        };
        for k in 0..4 {
            out.push(hdr4(
                pick(*r.src.start(), *r.src.end(), k + i),
                pick(*r.dst.start(), *r.dst.end(), k * 3 + i),
                pick16(*r.sport.start(), *r.sport.end(), k * 7 + i),
                pick16(*r.dport.start(), *r.dport.end(), k + 2 * i),
                r.proto.unwrap_or(k as u8),
            ));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn tree_agrees_with_linear_scan(
        rules in prop::collection::vec(rule_strategy(), 0..40),
        seeds in prop::collection::vec(seed(), 0..16),
    ) {
        let headers = headers_for(&rules, &seeds);
        assert_agrees(&rules, &headers);
    }

    /// The same shapes at IPv6 width: each IPv4 value becomes the top 32 bits of an address
    /// (range ends extend over the low 96 bits), so cuts happen above bit 96 and below it.
    #[test]
    fn ipv6_tree_agrees_with_linear_scan(
        rules in prop::collection::vec(rule_strategy(), 0..24),
        seeds in prop::collection::vec(seed(), 0..8),
    ) {
        let low = (1u128 << 96) - 1;
        let widen = |r: &std::ops::RangeInclusive<u32>| {
            (u128::from(*r.start()) << 96)..=((u128::from(*r.end()) << 96) | low)
        };
        let rules6: Vec<RuleSpec<u128>> = rules
            .iter()
            .map(|r| RuleSpec {
                src: widen(&r.src),
                dst: widen(&r.dst),
                sport: r.sport.clone(),
                dport: r.dport.clone(),
                proto: r.proto,
            })
            .collect();
        let headers: Vec<PacketHeader<u128>> = headers_for(&rules, &seeds)
            .iter()
            .enumerate()
            .map(|(i, h)| PacketHeader {
                src: (u128::from(h.src) << 96) | if i % 2 == 0 { 0 } else { low },
                dst: (u128::from(h.dst) << 96) | (i as u128 * 0x1234_5678_9abc) & low,
                sport: h.sport,
                dport: h.dport,
                proto: h.proto,
            })
            .collect();
        assert_agrees(&rules6, &headers);
    }
}

fn seed() -> impl Strategy<Value = (u32, u32, u16, u16, u8)> {
    (
        value32(),
        value32(),
        any::<u16>(),
        any::<u16>(),
        any::<u8>(),
    )
}

/// Duplicates and staggered overlapping ranges cannot be separated by any cut; the builder must
/// stop (big leaves) instead of cutting down to single points, and stay correct.
#[test]
fn degenerate_sets_stay_small_and_correct() {
    let mut rules: Vec<RuleSpec<u32>> = (0..300)
        .map(|_| rule4((10, 1000), (5, 5), (1, 9), ANY16, Some(6)))
        .collect();
    rules.extend((0..300u32).map(|i| {
        rule4(
            (i * 7, i * 7 + 5000),
            (i, u32::MAX - i),
            ANY16,
            (i as u16, 60000),
            None,
        )
    }));
    let c = Classifier::build(&rules).unwrap();
    assert!(c.heap_bytes() < 4 << 20, "{} bytes", c.heap_bytes());
    let headers: Vec<_> = (0..200u32)
        .map(|i| {
            hdr4(
                i * 37 % 4000,
                (i * 13) % 400,
                (i % 11) as u16,
                (i * 301) as u16,
                6,
            )
        })
        .collect();
    let reference = LinearClassifier::new(&rules);
    for h in &headers {
        assert_eq!(c.lookup(h), reference.lookup(h), "{h:?}");
        assert_eq!(
            c.lookup_from(h, 150),
            reference.lookup_from(h, 150),
            "{h:?}"
        );
        assert_eq!(
            c.lookup_from(h, 450),
            reference.lookup_from(h, 450),
            "{h:?}"
        );
    }
}
