//! A private bpffs mount point for tests that pin BPF objects.
//!
//! Contract: [`TempBpffs`] names a fresh directory `/tmp/pal-<pid>-<n>-bpffs`; whoever pins
//! (the loader mounts bpffs there when absent) gets its own bpffs instance, never the host's
//! `/sys/fs/bpf`. On drop the mount is detached (dropping every pin in it) and the directory
//! removed.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicUsize, Ordering},
};

use nix::mount::{MntFlags, umount2};

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A temporary bpffs mount point; unmounted and removed on drop.
#[derive(Debug)]
pub struct TempBpffs {
    path: PathBuf,
}

impl TempBpffs {
    /// Creates the directory (not mounted yet: the loader under test mounts it).
    pub fn new() -> std::io::Result<Self> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("pal-{}-{n}-bpffs", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempBpffs {
    fn drop(&mut self) {
        // Unmount every layer (a test may have mounted twice); EINVAL means "not a mount point".
        while umount2(&self.path, MntFlags::MNT_DETACH).is_ok() {}
        if let Err(e) = std::fs::remove_dir(&self.path) {
            eprintln!("bpffs: removing {} failed: {e}", self.path.display());
        }
    }
}
