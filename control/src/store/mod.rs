//! The policy store: manifests loaded from a directory, validated, indexed by kind.
//!
//! Contract: `Store::load_dir` either returns a store in which every object passed validation
//! and every cross-object reference resolves (tiers, duplicate addresses), or the first error,
//! naming file, document and field. Unknown kinds are skipped with a warning. `StoreLoader`
//! gives the same result on reloads while parsing only the files that changed.

mod load;
mod loader;
mod objects;
mod parallel;
mod strict;
mod typed;

pub use load::{Loaded, LoadedObject, load_dir, load_text};
pub use loader::StoreLoader;
pub use objects::{Store, Warning};
