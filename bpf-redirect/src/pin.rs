//! Where pinned objects live on bpffs, and making sure bpffs is mounted there.
//!
//! Layout: `<root>/palisade/net-<netns inode>/<interface>/{link,xsks_map,palisade_cfg}`: keyed
//! by network namespace so node namespaces sharing a bpffs never see each other's pins (the
//! inode is stable for the namespace's life; a host's root namespace keeps it until reboot, which
//! clears bpffs anyway). `root` is normally
//! `/sys/fs/bpf`; `ip netns exec` remounts `/sys`, so bpffs is often absent there and
//! [`prepare`] mounts it. Interface names are checked so they cannot escape the directory.

use std::path::{Path, PathBuf};

use crate::{BpfError, CONFIG_MAP, XSKS_MAP, sys::Sys};

/// Default bpffs mount point.
pub const DEFAULT_PIN_ROOT: &str = "/sys/fs/bpf";

/// The pin paths of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinLayout {
    root: PathBuf,
    dir: PathBuf,
}

/// Checks that `name` can be an interface name (`IFNAMSIZ` - 1 bytes, no `/`, NUL or whitespace).
pub fn check_interface_name(name: &str) -> Result<(), BpfError> {
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > 15 {
        Some("longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("`.` and `..` are not interface names")
    } else if name
        .bytes()
        .any(|b| b == b'/' || b == 0 || b.is_ascii_whitespace() || b == b':')
    {
        Some("contains `/`, `:`, NUL or whitespace")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(BpfError::InvalidInterfaceName {
            interface: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

impl PinLayout {
    /// The layout for `interface` of network namespace `netns` under the bpffs mount `root`.
    pub fn new(root: &Path, netns: u64, interface: &str) -> Result<Self, BpfError> {
        check_interface_name(interface)?;
        Ok(Self {
            root: root.to_path_buf(),
            dir: root
                .join("palisade")
                .join(format!("net-{netns}"))
                .join(interface),
        })
    }
    /// The bpffs mount point.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// The interface's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The pinned `bpf_link`.
    pub fn link(&self) -> PathBuf {
        self.dir.join("link")
    }
    /// The pinned XSKMAP.
    pub fn xsks_map(&self) -> PathBuf {
        self.dir.join(XSKS_MAP)
    }
    /// The pinned configuration map.
    pub fn config(&self) -> PathBuf {
        self.dir.join(CONFIG_MAP)
    }
    /// All pin files, link first.
    pub fn files(&self) -> [PathBuf; 3] {
        [self.link(), self.xsks_map(), self.config()]
    }
}

/// Mounts bpffs at the layout's root if it is not bpffs yet, and creates the interface
/// directory. Returns whether it mounted.
pub fn prepare(sys: &dyn Sys, layout: &PinLayout) -> Result<bool, BpfError> {
    let root = layout.root();
    if !sys.exists(root) {
        sys.create_dir_all(root).map_err(|source| BpfError::Fs {
            op: "creating",
            path: root.to_path_buf(),
            source,
        })?;
    }
    let is_bpffs = sys.is_bpffs(root).map_err(|source| BpfError::Fs {
        op: "statfs of",
        path: root.to_path_buf(),
        source,
    })?;
    let mounted = !is_bpffs;
    if mounted {
        tracing::info!(path = %root.display(), "bpffs absent, mounting it");
        sys.mount_bpffs(root)
            .map_err(|source| BpfError::MountBpffs {
                path: root.to_path_buf(),
                source,
            })?;
        if sys.private_mount_ns() {
            tracing::warn!(
                path = %root.display(),
                "mounted bpffs inside a private mount namespace (ip netns exec?): the pins die \
                 with this process, so fail-closed does not survive a crash; mount bpffs at the \
                 pin root in the host's mount namespace before starting"
            );
        }
    }
    sys.create_dir_all(layout.dir())
        .map_err(|source| BpfError::Fs {
            op: "creating",
            path: layout.dir().to_path_buf(),
            source,
        })?;
    Ok(mounted)
}

/// Removes the interface's pin files (the link first, so the program detaches before its maps
/// lose their names). Missing files are fine.
pub fn remove_pins(sys: &dyn Sys, layout: &PinLayout) -> Result<(), BpfError> {
    for path in layout.files() {
        sys.remove_file(&path).map_err(|source| BpfError::Fs {
            op: "removing",
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::FakeSys;

    #[test]
    fn layout_paths() {
        let l = PinLayout::new(Path::new("/sys/fs/bpf"), 7, "veth0").expect("valid");
        assert_eq!(l.link(), Path::new("/sys/fs/bpf/palisade/net-7/veth0/link"));
        assert_eq!(
            l.xsks_map(),
            Path::new("/sys/fs/bpf/palisade/net-7/veth0/xsks_map")
        );
        assert_eq!(
            l.config(),
            Path::new("/sys/fs/bpf/palisade/net-7/veth0/palisade_cfg")
        );
    }

    #[test]
    fn bad_interface_names_are_rejected() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "sixteen-chars-xx",
            "a b",
            "a\0",
        ] {
            let err = PinLayout::new(Path::new("/x"), 7, bad).expect_err(bad);
            assert!(
                matches!(err, BpfError::InvalidInterfaceName { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn mounts_when_absent_and_not_when_present() {
        let sys = FakeSys::default();
        sys.files.borrow_mut().insert("/sys/fs/bpf".into());
        let l = PinLayout::new(Path::new("/sys/fs/bpf"), 7, "h1").expect("valid");
        assert!(prepare(&sys, &l).expect("mounts"));
        assert!(!prepare(&sys, &l).expect("already mounted"));
        let mounts = sys
            .calls
            .borrow()
            .iter()
            .filter(|c| c.starts_with("mount"))
            .count();
        assert_eq!(mounts, 1);
    }

    #[test]
    fn mount_failure_is_reported_with_path() {
        let sys = FakeSys {
            mount_error: Some(libc::EPERM),
            ..FakeSys::default()
        };
        let l = PinLayout::new(Path::new("/tmp/pal"), 7, "h1").expect("valid");
        let err = prepare(&sys, &l).expect_err("mount fails");
        match err {
            BpfError::MountBpffs { path, source } => {
                assert_eq!(path, Path::new("/tmp/pal"));
                assert_eq!(source.raw_os_error(), Some(libc::EPERM));
            }
            other => panic!("unexpected {other}"),
        }
        // The root did not exist, so it was created first.
        assert_eq!(sys.calls.borrow()[0], "mkdir /tmp/pal");
    }

    #[test]
    fn mkdir_failure_is_reported() {
        let sys = FakeSys {
            mkdir_error: Some(libc::EROFS),
            ..FakeSys::default()
        };
        let l = PinLayout::new(Path::new("/ro"), 7, "h1").expect("valid");
        assert!(matches!(
            prepare(&sys, &l),
            Err(BpfError::Fs { op: "creating", .. })
        ));
    }

    #[test]
    fn remove_pins_removes_link_first() {
        let sys = FakeSys::default();
        let l = PinLayout::new(Path::new("/b"), 7, "h1").expect("valid");
        for f in l.files() {
            sys.files.borrow_mut().insert(f);
        }
        remove_pins(&sys, &l).expect("removes");
        assert!(sys.files.borrow().is_empty());
        assert_eq!(sys.calls.borrow()[0], "rm /b/palisade/net-7/h1/link");
    }
}
