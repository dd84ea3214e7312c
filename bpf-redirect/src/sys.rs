//! The chokepoint for every file-system, mount and netlink call the loader makes.
//!
//! [`Sys`] is implemented by [`RealSys`] (nix wrappers over the real syscalls) and, in tests, by a
//! fake that records calls and injects errors, so the error paths of [`crate::pin`] and the
//! loader's leftover detection are tested without root. aya's own `bpf()` calls stay inside aya.

use std::{io, path::Path};

use crate::netlink;

/// The system calls the loader needs besides `bpf()`.
pub trait Sys {
    /// `if_nametoindex(3)` in the calling thread's network namespace.
    fn if_nametoindex(&self, name: &str) -> io::Result<u32>;
    /// Whether `path` is the root of (or inside) a bpffs mount.
    fn is_bpffs(&self, path: &Path) -> io::Result<bool>;
    /// `mount -t bpf bpf <path>`.
    fn mount_bpffs(&self, path: &Path) -> io::Result<()>;
    /// `mkdir -p`.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Whether a file exists.
    fn exists(&self, path: &Path) -> bool;
    /// `unlink(2)`; a missing file is not an error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// The id of the XDP program attached to `ifindex`, if any (netlink `RTM_GETLINK`).
    fn xdp_prog_id(&self, ifindex: u32) -> io::Result<Option<u32>>;
    /// The inode of the calling thread's network namespace (keys the pin directory).
    fn netns_id(&self) -> io::Result<u64>;
    /// Whether this process runs in another mount namespace than PID 1 (e.g. `ip netns exec`),
    /// where a bpffs it mounts dies with it.
    fn private_mount_ns(&self) -> bool;
}

/// The real system calls.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealSys;

fn nix_err(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl Sys for RealSys {
    fn if_nametoindex(&self, name: &str) -> io::Result<u32> {
        nix::net::if_::if_nametoindex(name).map_err(nix_err)
    }

    fn is_bpffs(&self, path: &Path) -> io::Result<bool> {
        let st = nix::sys::statfs::statfs(path).map_err(nix_err)?;
        Ok(st.filesystem_type() == nix::sys::statfs::BPF_FS_MAGIC)
    }

    fn mount_bpffs(&self, path: &Path) -> io::Result<()> {
        nix::mount::mount(
            Some("bpf"),
            path,
            Some("bpf"),
            nix::mount::MsFlags::empty(),
            Some("mode=0700"),
        )
        .map_err(nix_err)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn xdp_prog_id(&self, ifindex: u32) -> io::Result<Option<u32>> {
        netlink::query_xdp_prog_id(ifindex)
    }

    fn netns_id(&self) -> io::Result<u64> {
        use std::os::unix::fs::MetadataExt as _;
        std::fs::metadata("/proc/thread-self/ns/net").map(|m| m.ino())
    }

    fn private_mount_ns(&self) -> bool {
        match (
            std::fs::read_link("/proc/self/ns/mnt"),
            std::fs::read_link("/proc/1/ns/mnt"),
        ) {
            (Ok(me), Ok(init)) => me != init,
            _ => false,
        }
    }
}

#[cfg(test)]
pub(crate) mod fake {
    //! A scripted [`Sys`] for unit tests: in-memory files and mounts, injectable errors.

    use std::{
        cell::RefCell,
        collections::{BTreeSet, HashMap},
        io,
        path::{Path, PathBuf},
    };

    use super::Sys;

    #[derive(Debug, Default)]
    pub(crate) struct FakeSys {
        pub(crate) interfaces: HashMap<String, u32>,
        pub(crate) bpffs: RefCell<BTreeSet<PathBuf>>,
        pub(crate) files: RefCell<BTreeSet<PathBuf>>,
        pub(crate) xdp: HashMap<u32, u32>,
        pub(crate) mount_error: Option<i32>,
        pub(crate) mkdir_error: Option<i32>,
        pub(crate) netlink_error: Option<i32>,
        pub(crate) private_mount_ns: bool,
        pub(crate) calls: RefCell<Vec<String>>,
    }

    impl Sys for FakeSys {
        fn if_nametoindex(&self, name: &str) -> io::Result<u32> {
            self.calls
                .borrow_mut()
                .push(format!("if_nametoindex {name}"));
            self.interfaces
                .get(name)
                .copied()
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ENODEV))
        }
        fn is_bpffs(&self, path: &Path) -> io::Result<bool> {
            self.calls
                .borrow_mut()
                .push(format!("statfs {}", path.display()));
            Ok(self.bpffs.borrow().iter().any(|m| path.starts_with(m)))
        }
        fn mount_bpffs(&self, path: &Path) -> io::Result<()> {
            self.calls
                .borrow_mut()
                .push(format!("mount {}", path.display()));
            if let Some(e) = self.mount_error {
                return Err(io::Error::from_raw_os_error(e));
            }
            self.bpffs.borrow_mut().insert(path.to_path_buf());
            Ok(())
        }
        fn create_dir_all(&self, path: &Path) -> io::Result<()> {
            self.calls
                .borrow_mut()
                .push(format!("mkdir {}", path.display()));
            match self.mkdir_error {
                Some(e) => Err(io::Error::from_raw_os_error(e)),
                None => Ok(()),
            }
        }
        fn exists(&self, path: &Path) -> bool {
            self.files.borrow().contains(path)
        }
        fn remove_file(&self, path: &Path) -> io::Result<()> {
            self.calls
                .borrow_mut()
                .push(format!("rm {}", path.display()));
            self.files.borrow_mut().remove(path);
            Ok(())
        }
        fn xdp_prog_id(&self, ifindex: u32) -> io::Result<Option<u32>> {
            if let Some(e) = self.netlink_error {
                return Err(io::Error::from_raw_os_error(e));
            }
            Ok(self.xdp.get(&ifindex).copied())
        }
        fn netns_id(&self) -> io::Result<u64> {
            Ok(7)
        }
        fn private_mount_ns(&self) -> bool {
            self.calls.borrow_mut().push("private_mount_ns".into());
            self.private_mount_ns
        }
    }
}
