//! Transparent huge pages for large, long-lived tables (the conntrack index and slots): one safe
//! call around `madvise(MADV_HUGEPAGE)`, kept out of the dataplane crate, which forbids
//! `unsafe`.
//!
//! Contract: `advise(mem)` asks the kernel to back the 2 MiB-aligned part of `mem` with huge
//! pages (effective when `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` or
//! `always`). It changes no byte of `mem`, no permission and no lifetime: only the page size
//! that backs the memory. Call it on memory not yet touched (a `Vec`'s spare capacity), so the
//! first touch faults huge pages in directly instead of waiting for khugepaged.
//!
//! Why: a table of a million entries spans 64 MB; with 4 KiB pages nearly every random access
//! also misses the TLB and walks the page table, which caps how many misses a batch overlaps.
//! Measured in `ctbench` (bench/README.md, "Connection tracking").

#![allow(unsafe_code)]

/// The huge page size this crate aligns to (x86-64 and aarch64 with 4 KiB base pages).
pub const HUGE_PAGE: usize = 2 << 20;

/// The 2 MiB-aligned sub-range `[start, end)` of the `len` bytes at `addr`, if not empty.
fn aligned_interior(addr: usize, len: usize) -> Option<(usize, usize)> {
    let start = addr.checked_next_multiple_of(HUGE_PAGE)?;
    let end = addr.checked_add(len)? / HUGE_PAGE * HUGE_PAGE;
    (start < end).then_some((start, end))
}

/// Advises the kernel to back `mem`'s whole 2 MiB pages with huge pages. Returns the number of
/// bytes advised: 0 if `mem` holds no whole aligned huge page or the kernel refused (no THP).
pub fn advise<T>(mem: &[T]) -> usize {
    let Some((start, end)) = aligned_interior(mem.as_ptr() as usize, std::mem::size_of_val(mem))
    else {
        return 0;
    };
    // SAFETY: [start, end) lies inside `mem`, memory this process owns for the whole borrow.
    // MADV_HUGEPAGE only marks the mapping as eligible for huge pages: the kernel keeps every
    // byte and every permission, so nothing any reference can observe changes.
    let r = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
    if r == 0 { end - start } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interior_is_aligned_and_inside() {
        assert_eq!(aligned_interior(0, HUGE_PAGE), Some((0, HUGE_PAGE)));
        assert_eq!(aligned_interior(1, HUGE_PAGE), None);
        assert_eq!(
            aligned_interior(HUGE_PAGE - 16, 3 * HUGE_PAGE),
            Some((HUGE_PAGE, 3 * HUGE_PAGE))
        );
        assert_eq!(aligned_interior(usize::MAX - 5, 10), None);
    }

    #[test]
    fn small_slices_are_left_alone() {
        assert_eq!(advise(&[0u64; 16]), 0);
    }

    #[test]
    fn advice_keeps_contents_and_covers_the_interior() {
        let n = 3 * HUGE_PAGE / 8;
        let v: Vec<u64> = (0..n as u64).map(|i| i.wrapping_mul(0x9E37_79B9)).collect();
        let advised = advise(&v);
        let expect = aligned_interior(v.as_ptr() as usize, n * 8).map_or(0, |(s, e)| e - s);
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").is_ok();
        if thp {
            assert_eq!(advised, expect);
            assert!(advised >= HUGE_PAGE);
        } else {
            eprintln!("no transparent huge pages in this kernel: advice refused");
            assert_eq!(advised, 0);
        }
        assert!(
            v.iter()
                .enumerate()
                .all(|(i, &x)| x == (i as u64).wrapping_mul(0x9E37_79B9))
        );
    }
}
