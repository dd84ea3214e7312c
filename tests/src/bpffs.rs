//! A private bpffs mount point for tests that pin BPF objects.
//!
//! Contract: [`TempBpffs`] names a fresh directory `/tmp/pal-<pid>-<n>-bpffs`; whoever pins
//! (the loader mounts bpffs there when absent) gets its own bpffs instance, never the host's
//! `/sys/fs/bpf`. On drop the mount is detached (dropping every pin in it) and the directory
//! removed.

use std::{
    path::{Path, PathBuf},
    sync::{
        Once,
        atomic::{AtomicUsize, Ordering},
    },
};

use nix::mount::{MntFlags, umount2};

static COUNTER: AtomicUsize = AtomicUsize::new(0);
static SWEEP: Once = Once::new();

/// Unmounts and removes `pal-<pid>-*-bpffs` directories of processes that no longer exist (a
/// test killed by SIGKILL cannot run its guards).
pub fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("pal-")
            .filter(|_| name.ends_with("-bpffs"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            eprintln!("bpffs: removing stale {name} of dead process {pid}");
            drop(TempBpffs { path: entry.path() });
        }
    }
}

/// A temporary bpffs mount point; unmounted and removed on drop.
#[derive(Debug)]
pub struct TempBpffs {
    path: PathBuf,
}

impl TempBpffs {
    /// Creates the directory (not mounted yet: the loader under test mounts it).
    pub fn new() -> std::io::Result<Self> {
        SWEEP.call_once(sweep_stale);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("pal-{}-{n}-bpffs", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(Self { path })
    }

    /// Mounts bpffs here now, in the caller's mount namespace (so processes started later in a
    /// private copy of it, like `ip netns exec`, pin into an instance that outlives them).
    pub fn mount(&self) -> std::io::Result<()> {
        nix::mount::mount(
            Some("bpf"),
            &self.path,
            Some("bpf"),
            nix::mount::MsFlags::empty(),
            Some("mode=0700"),
        )
        .map_err(|e| std::io::Error::from_raw_os_error(e as i32))
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
