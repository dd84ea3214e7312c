//! Parsing a store's files on several threads.
//!
//! Contract: `load_files` appends exactly what `load_text_sequential` would append for each
//! file in turn (same objects, same order, same origins) and fails with exactly the error the
//! sequential loader reports first. How: every YAML file is cut into batches of whole
//! documents at document-start markers (`---` at the start of a line, which YAML forbids
//! inside any scalar or collection, so a marker always starts a document); the batches are
//! parsed by a pool of scoped threads and their documents renumbered from the counts of the
//! batches before them. A file holding directives (`%`) or document-end markers (`...`) is
//! one batch. Whenever any batch of a file fails, that file is parsed again sequentially and
//! its result taken: the error message and numbering never depend on the cut.
//!
//! `map_in_parallel` is the same idea for per-object work after parsing (policy translation):
//! contiguous slices on scoped threads, results in item order.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::load::{Loaded, load_text_sequential};
use crate::error::StoreError;

/// Below this many objects, per-object work is not worth a thread.
pub(super) const PARALLEL_MIN_OBJECTS: usize = 512;
/// Below this many bytes in all, threads cost more than they save.
const MIN_PARALLEL_BYTES: usize = 256 * 1024;
/// The smallest batch worth a parser of its own.
const MIN_BATCH_BYTES: usize = 64 * 1024;
/// Batches per worker, so that a slow batch does not leave the other workers idle.
const BATCHES_PER_WORKER: usize = 4;

/// One unit of parsing work: a piece of one file's text.
struct Batch<'a> {
    file: usize,
    text: &'a str,
}

/// What parsing a batch gave: the objects (documents numbered from 1 within the batch) and
/// the number of documents the batch held.
type BatchResult = Result<(Loaded, usize), StoreError>;

/// Parse `files` (path, text) into `loaded`, in order, using the machine's cores for large
/// stores.
pub(super) fn load_files(files: &[(&Path, &str)], loaded: &mut Loaded) -> Result<(), StoreError> {
    for part in load_files_each(files)? {
        loaded.objects.extend(part.objects);
        loaded.skipped.extend(part.skipped);
    }
    Ok(())
}

/// Parse `files` (path, text), one `Loaded` per file; on failure the error the sequential
/// loader meets first.
pub(super) fn load_files_each(files: &[(&Path, &str)]) -> Result<Vec<Loaded>, StoreError> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let total: usize = files.iter().map(|(_, text)| text.len()).sum();
    if workers < 2 || total < MIN_PARALLEL_BYTES {
        return files
            .iter()
            .map(|(file, text)| {
                let mut part = Loaded::default();
                load_text_sequential(file, text, &mut part).map(|_| part)
            })
            .collect();
    }
    let target = (total / (workers * BATCHES_PER_WORKER)).max(MIN_BATCH_BYTES);
    load_files_with(files, workers, target)
}

/// `load_files_each` with the thread count and batch size given.
fn load_files_with(
    files: &[(&Path, &str)],
    workers: usize,
    target: usize,
) -> Result<Vec<Loaded>, StoreError> {
    let mut batches = Vec::new();
    for (index, (file, text)) in files.iter().enumerate() {
        let is_json = file.extension().and_then(|e| e.to_str()) == Some("json");
        let pieces = if is_json {
            vec![*text]
        } else {
            split_batches(text, target)
        };
        batches.extend(pieces.into_iter().map(|text| Batch { file: index, text }));
    }
    let mut results = parse_batches(files, &batches, workers);
    let mut out = Vec::with_capacity(files.len());
    let mut next = 0;
    for (index, (file, text)) in files.iter().enumerate() {
        let end = batches[next..]
            .iter()
            .position(|b| b.file != index)
            .map_or(batches.len(), |n| next + n);
        let file_results: Vec<BatchResult> = results
            .drain(..end - next)
            .map(|r| r.unwrap_or_else(missing_batch))
            .collect();
        next = end;
        let mut loaded = Loaded::default();
        if file_results.iter().any(Result::is_err) {
            // The sequential parse names the first error exactly as it always has.
            load_text_sequential(file, text, &mut loaded)?;
            out.push(loaded);
            continue;
        }
        let mut offset = 0;
        for result in file_results {
            let (part, count) = result?;
            for mut object in part.objects {
                object.origin.document += offset;
                loaded.objects.push(object);
            }
            for (mut origin, kind) in part.skipped {
                origin.document += offset;
                loaded.skipped.push((origin, kind));
            }
            offset += count;
        }
        out.push(loaded);
    }
    Ok(out)
}

/// A batch without a result (every batch gets one: a worker that panics takes the loader
/// down with it); reported as a failure so the file is parsed again sequentially.
fn missing_batch() -> BatchResult {
    Err(StoreError::Io {
        path: "<store>".into(),
        source: std::io::Error::other("a parser thread did not finish"),
    })
}

/// `f` applied to every item, on the machine's cores when there are many items; results in
/// item order.
pub(super) fn map_in_parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers < 2 || items.len() < PARALLEL_MIN_OBJECTS {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let f = &f;
        let mut chunks = items.chunks(chunk);
        let first = chunks.next().unwrap_or_default();
        let handles: Vec<_> = chunks
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = first.iter().map(f).collect();
        out.reserve(items.len() - out.len());
        for handle in handles {
            match handle.join() {
                Ok(part) => out.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        out
    })
}

/// Parse every batch on up to `workers` threads; results in batch order.
fn parse_batches(
    files: &[(&Path, &str)],
    batches: &[Batch<'_>],
    workers: usize,
) -> Vec<Option<BatchResult>> {
    let next = AtomicUsize::new(0);
    let parse = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(batch) = batches.get(i) else {
                return done;
            };
            let mut part = Loaded::default();
            let result = load_text_sequential(files[batch.file].0, batch.text, &mut part)
                .map(|count| (part, count));
            done.push((i, result));
        }
    };
    let mut results: Vec<Option<BatchResult>> = batches.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..workers.min(batches.len()))
            .map(|_| scope.spawn(parse))
            .collect();
        let mut all = parse();
        for handle in handles {
            match handle.join() {
                Ok(done) => all.extend(done),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        for (i, result) in all {
            results[i] = Some(result);
        }
    });
    results
}

/// Cut a YAML stream into pieces of about `target` bytes, each starting at a document-start
/// marker (except the first, which starts at 0). One piece when the stream uses directives or
/// document-end markers, or has no marker after its first document.
fn split_batches(text: &str, target: usize) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut cuts = Vec::new();
    let mut last_cut = 0;
    let mut seen_content = false;
    let mut line = 0;
    while line < bytes.len() {
        let rest = &bytes[line..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |n| line + n + 1);
        if rest.starts_with(b"%") || is_marker(rest, b"...") {
            return vec![text];
        }
        if is_marker(rest, b"---") {
            // A cut needs a document before it: a piece of only comments would parse as one
            // empty document that the whole stream does not have.
            if seen_content && line - last_cut >= target {
                cuts.push(line);
                last_cut = line;
            }
            seen_content = true;
        } else if !seen_content {
            let line_text = &rest[..end - line];
            let line_text = line_text
                .strip_prefix("\u{feff}".as_bytes())
                .unwrap_or(line_text);
            let trimmed = line_text.trim_ascii_start();
            seen_content = !(trimmed.is_empty() || trimmed.starts_with(b"#"));
        }
        line = end;
    }
    let mut pieces = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts {
        pieces.push(&text[start..cut]);
        start = cut;
    }
    pieces.push(&text[start..]);
    pieces
}

/// True if the line `rest` starts with the three-character marker followed by a blank or the
/// end of the line.
fn is_marker(rest: &[u8], marker: &[u8]) -> bool {
    rest.starts_with(marker) && matches!(rest.get(3), None | Some(b' ' | b'\t' | b'\r' | b'\n'))
}

#[cfg(test)]
mod tests;
