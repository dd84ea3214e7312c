//! `Selector::matches` must not allocate: evaluation runs per packet-path decision in the
//! reference evaluator and per endpoint in the compiler.

#![allow(clippy::unwrap_used)]
#![allow(unsafe_code)] // a counting global allocator needs `unsafe impl GlobalAlloc`

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

use palisade_control::selector::{LabelLayers, Labels, Selector};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers every call to `System` unchanged; only counts allocations on this thread.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn matches_does_not_allocate() {
    let selectors: Vec<Selector> = [
        "",
        "global()",
        "app == 'web' && tier in {'a', 'b', 'c'} && !has(debug)",
        "a != 'x' || b not in {'y'} || c contains 'z' || d starts with 'p' || e ends with 's'",
        "!(!(has(a) && (b == '1' || c == '2')))",
        "pcns.projectcalico.org/name == 'default' && projectcalico.org/namespace == 'default'",
    ]
    .iter()
    .map(|s| s.parse().expect("valid selector"))
    .collect();
    let btree: BTreeMap<String, String> =
        [("app", "web"), ("tier", "b"), ("c", "xzy"), ("d", "pq")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let hash: HashMap<String, String> = btree.clone().into_iter().collect();
    let ns: BTreeMap<String, String> = [(
        "pcns.projectcalico.org/name".to_string(),
        "default".to_string(),
    )]
    .into();
    let layers = [&btree as &dyn Labels, &ns];
    let pairs: &[(&str, &str)] = &[("a", "1"), ("e", "fs")];

    // The counter works.
    assert!(allocations_during(|| drop(std::hint::black_box(String::from("probe")))) > 0);

    let mut hits = 0usize;
    let n = allocations_during(|| {
        for s in &selectors {
            hits += usize::from(s.matches(&btree));
            hits += usize::from(s.matches(&hash));
            hits += usize::from(s.matches(&LabelLayers(&layers)));
            hits += usize::from(s.matches(pairs));
        }
    });
    assert_eq!(n, 0, "matches() allocated {n} times");
    assert!(hits > 0);
}
