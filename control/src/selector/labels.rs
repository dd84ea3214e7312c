//! Label sources a selector can be evaluated against.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::BuildHasher;

/// A read-only label set: `get` returns the value of a label, or `None` if the label is absent.
///
/// An empty value (`Some("")`) is a present label: `has(k)` is true for it.
pub trait Labels {
    fn get(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }
}

impl<S: BuildHasher> Labels for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
}

impl Labels for BTreeMap<&str, &str> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).copied()
    }
}

/// A slice of pairs; the first pair with the key wins.
impl Labels for [(&str, &str)] {
    fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// A slice of owned pairs; the first pair with the key wins.
impl Labels for [(String, String)] {
    fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

impl<T: Labels + ?Sized> Labels for &T {
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }
}

/// The empty label set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NoLabels;

impl Labels for NoLabels {
    fn get(&self, _key: &str) -> Option<&str> {
        None
    }
}

/// Several label sets seen as one: the first layer that has the key wins.
///
/// The reference evaluator uses this to put an endpoint's own labels in front of the labels its
/// profiles apply (`LabelLayers(&[&pod_labels, &ns_profile_labels, &sa_profile_labels])`).
#[derive(Clone, Copy)]
pub struct LabelLayers<'a>(pub &'a [&'a dyn Labels]);

impl Labels for LabelLayers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find_map(|layer| layer.get(key))
    }
}

impl fmt::Debug for LabelLayers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabelLayers")
            .field("layers", &self.0.len())
            .finish()
    }
}
