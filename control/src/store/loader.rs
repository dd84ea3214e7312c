//! Loading the same store directory again and again (reloads), parsing only what changed.
//!
//! Contract: `StoreLoader::load_dir` returns exactly what `Store::load_dir` would return for
//! the directory as it is now (same store, same warnings, same first error). It re-reads
//! every file, but a file whose text is byte-for-byte the one parsed last time is not parsed
//! again: its objects come from the cache. Comparing the whole text (not size and mtime)
//! means an edit that keeps size and timestamp is still seen. Files that disappeared leave
//! the cache; a file that failed to parse is not cached. The cache holds each file's text and
//! objects, about twice the store's size in memory.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use super::load::{Loaded, read_dir_texts};
use super::objects::Store;
use super::parallel::load_files_each;
use crate::error::StoreError;

/// A store loader that keeps each file's parsed objects between loads.
#[derive(Debug, Default)]
pub struct StoreLoader {
    cache: HashMap<PathBuf, CachedFile>,
    last_parsed: usize,
}

#[derive(Debug)]
struct CachedFile {
    text: String,
    loaded: Loaded,
}

impl StoreLoader {
    /// A loader with an empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Load, validate and resolve every manifest below `dir`, parsing only changed files.
    pub fn load_dir(&mut self, dir: &Path) -> Result<Store, StoreError> {
        Store::from_loaded(self.load_objects(dir)?)
    }

    /// The parsed objects of every manifest below `dir` (what `store::load_dir` returns),
    /// parsing only changed files.
    pub fn load_objects(&mut self, dir: &Path) -> Result<Loaded, StoreError> {
        let texts = read_dir_texts(dir)?;
        let present: HashSet<&Path> = texts.iter().map(|(file, _)| file.as_path()).collect();
        self.cache
            .retain(|path, _| present.contains(path.as_path()));
        let changed: Vec<(&Path, &str)> = texts
            .iter()
            .filter(|(file, text)| self.cache.get(file).is_none_or(|c| c.text != *text))
            .map(|(file, text)| (file.as_path(), text.as_str()))
            .collect();
        self.last_parsed = changed.len();
        let parsed = load_files_each(&changed)?;
        for ((file, text), loaded) in changed.iter().zip(parsed) {
            self.cache.insert(
                file.to_path_buf(),
                CachedFile {
                    text: (*text).to_string(),
                    loaded,
                },
            );
        }
        let mut out = Loaded::default();
        for (file, _) in &texts {
            if let Some(cached) = self.cache.get(file) {
                out.objects.extend(cached.loaded.objects.iter().cloned());
                out.skipped.extend(cached.loaded.skipped.iter().cloned());
            }
        }
        Ok(out)
    }

    /// How many files the last load had to parse (the others came from the cache).
    pub fn last_parsed(&self) -> usize {
        self.last_parsed
    }
}

#[cfg(test)]
mod tests;
