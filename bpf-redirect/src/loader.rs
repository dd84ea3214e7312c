//! Loading, attaching, pinning and taking over the redirect program on one interface.
//!
//! Contract: [`Redirect::attach`] leaves the program attached to the interface through a
//! `bpf_link` (driver mode, else skb mode with a warning), with the fallback action set; it
//! refuses to replace an XDP program it did not pin. Dropping a [`Redirect`] closes its fds: in
//! fail-open mode that detaches the program; in fail-closed mode the pinned link keeps it attached
//! (dropping frames that have no socket) until [`Redirect::detach`] or the next run takes it over.

use std::{os::fd::AsRawFd, path::PathBuf};

use aya::{
    Ebpf, EbpfLoader,
    maps::{Array, Map, MapData, XskMap},
    programs::{
        Xdp, XdpMode,
        links::{FdLink, PinnedLink},
    },
};

use crate::{
    BpfError, CONFIG_MAP, MAX_QUEUES, PROGRAM_NAME, REDIRECT_OBJECT, XSKS_MAP,
    pin::{self, DEFAULT_PIN_ROOT, PinLayout},
    sys::{RealSys, Sys},
};

/// What happens to traffic when the dataplane is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailureMode {
    /// Pin the link and maps: after a crash the program stays and drops frames with no socket.
    #[default]
    Closed,
    /// Pin nothing: a crash detaches the program and traffic takes the kernel path.
    Open,
}

/// The XDP action for a frame whose RX queue has no registered socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fallback {
    /// `XDP_DROP` (fail-closed).
    #[default]
    Drop,
    /// `XDP_PASS`: the kernel stack handles the frame (debugging only: it bypasses policy).
    Pass,
}

impl Fallback {
    /// The XDP action code stored in the configuration map.
    pub const fn action(self) -> u32 {
        match self {
            Self::Drop => 1,
            Self::Pass => 2,
        }
    }
}

/// The mode the program ended up attached in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// Native (driver) XDP.
    Driver,
    /// Generic (skb) XDP.
    Skb,
    /// Taken over from a pinned link: the mode chosen by the earlier run.
    Inherited,
}

/// Whether this run attached the program or took over an earlier run's pinned link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Loaded and attached by this run.
    Fresh,
    /// An earlier run's pinned link (and maps) were found attached and reused.
    TakenOver { prog_id: u32 },
}

/// How to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachOptions {
    /// Pin (fail-closed) or not (fail-open).
    pub failure_mode: FailureMode,
    /// Action for frames without a socket.
    pub fallback: Fallback,
    /// bpffs mount point used in fail-closed mode (mounted if absent).
    pub pin_root: PathBuf,
    /// Try skb mode only (skip the driver-mode attempt).
    pub skb_only: bool,
}

impl Default for AttachOptions {
    fn default() -> Self {
        Self {
            failure_mode: FailureMode::Closed,
            fallback: Fallback::Drop,
            pin_root: PathBuf::from(DEFAULT_PIN_ROOT),
            skb_only: false,
        }
    }
}

/// What to do given what is attached and what is pinned (pure; see the tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Nothing attached: load and attach.
    Fresh,
    /// Our pinned link is the attached program: reuse it.
    TakeOver { prog_id: u32 },
    /// Pins exist but do not match what is attached (interface recreated...): remove, then decide
    /// again without them.
    RemoveStalePins,
    /// Someone else's program is attached.
    Refuse { prog_id: u32 },
}

pub(crate) fn plan(attached: Option<u32>, pinned_link_prog: Option<u32>) -> Plan {
    match (attached, pinned_link_prog) {
        (Some(a), Some(p)) if a == p => Plan::TakeOver { prog_id: a },
        (_, Some(_)) => Plan::RemoveStalePins,
        (Some(a), None) => Plan::Refuse { prog_id: a },
        (None, None) => Plan::Fresh,
    }
}

#[derive(Debug)]
enum LinkHold {
    /// Closing the fd detaches the program.
    Owned(FdLink),
    /// Pinned: closing the fd leaves the program attached.
    Pinned(FdLink),
}

/// The redirect program attached to one interface, with its maps.
#[derive(Debug)]
pub struct Redirect {
    interface: String,
    ifindex: u32,
    mode: AttachMode,
    origin: Origin,
    layout: Option<PinLayout>,
    /// An `XSKMAP` (checked at construction); typed views are made on use.
    xsks: Map,
    /// A `u32` array (checked at construction).
    config: Map,
    link: Option<LinkHold>,
}

fn boxed<E: std::error::Error + Send + Sync + 'static>(
    e: E,
) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(e)
}

impl Redirect {
    /// Attaches (or takes over) the program on `interface` of the calling thread's network
    /// namespace.
    pub fn attach(interface: &str, opts: &AttachOptions) -> Result<Self, BpfError> {
        Self::attach_with(&RealSys, interface, opts)
    }

    /// [`Redirect::attach`] through an explicit [`Sys`].
    pub fn attach_with(
        sys: &dyn Sys,
        interface: &str,
        opts: &AttachOptions,
    ) -> Result<Self, BpfError> {
        pin::check_interface_name(interface)?;
        let ifindex =
            sys.if_nametoindex(interface)
                .map_err(|source| BpfError::UnknownInterface {
                    interface: interface.to_owned(),
                    source,
                })?;
        let attached = sys
            .xdp_prog_id(ifindex)
            .map_err(|source| BpfError::Netlink { ifindex, source })?;
        let netns = sys.netns_id().map_err(|source| BpfError::Fs {
            op: "reading the network namespace of",
            path: PathBuf::from("/proc/thread-self/ns/net"),
            source,
        })?;
        let layout = PinLayout::new(&opts.pin_root, netns, interface)?;
        // Pins can only exist where bpffs is mounted; mount it in fail-closed mode (we pin
        // anyway), look without mounting in fail-open mode.
        let pins_visible = match opts.failure_mode {
            FailureMode::Closed => {
                pin::prepare(sys, &layout)?;
                true
            }
            FailureMode::Open => sys.is_bpffs(layout.root()).unwrap_or(false),
        };
        let pinned = if pins_visible && sys.exists(&layout.link()) {
            Some(open_pinned_link(interface, &layout)?)
        } else {
            None
        };
        let pinned_prog = match &pinned {
            Some(link) => Some(link_prog_id(interface, link)?),
            None => None,
        };
        let mut this = match plan(attached, pinned_prog) {
            Plan::TakeOver { prog_id } => {
                tracing::warn!(
                    interface,
                    prog_id,
                    "taking over the XDP program pinned by an earlier run"
                );
                let link = pinned.ok_or(BpfError::NotALink {
                    interface: interface.to_owned(),
                })?;
                Self::take_over(interface, ifindex, prog_id, &layout, link)?
            }
            Plan::Refuse { prog_id } => {
                return Err(BpfError::AlreadyAttached {
                    interface: interface.to_owned(),
                    prog_id,
                });
            }
            Plan::RemoveStalePins => {
                tracing::warn!(interface, pinned = ?pinned_prog, ?attached, "removing stale pins of an earlier run");
                drop(pinned);
                pin::remove_pins(sys, &layout)?;
                if let Some(prog_id) = attached {
                    return Err(BpfError::AlreadyAttached {
                        interface: interface.to_owned(),
                        prog_id,
                    });
                }
                Self::fresh(interface, ifindex, opts)?
            }
            Plan::Fresh => Self::fresh(interface, ifindex, opts)?,
        };
        this.set_fallback(opts.fallback)?;
        match opts.failure_mode {
            FailureMode::Closed => this.pin(layout)?,
            FailureMode::Open => this.unpin(sys, layout)?,
        }
        Ok(this)
    }

    fn fresh(interface: &str, ifindex: u32, opts: &AttachOptions) -> Result<Self, BpfError> {
        let load_err = load_err(interface);
        let (mut ebpf, xsks, config) = load_object(interface)?;
        let program: &mut Xdp = ebpf
            .program_mut(PROGRAM_NAME)
            .ok_or_else(|| boxed(std::io::Error::other("program missing from the object")))
            .map_err(load_err("program lookup"))?
            .try_into()
            .map_err(boxed)
            .map_err(load_err("program type"))?;

        let driver = if opts.skb_only {
            Err("not tried (skb_only)".to_owned())
        } else {
            program
                .attach_to_if_index(ifindex, XdpMode::Driver)
                .map_err(|e| e.to_string())
        };
        let (link_id, mode) = match driver {
            Ok(id) => (id, AttachMode::Driver),
            Err(driver) => {
                if !opts.skb_only {
                    tracing::warn!(interface, error = %driver, "driver-mode XDP failed, falling back to skb mode");
                }
                let id = program
                    .attach_to_if_index(ifindex, XdpMode::Skb)
                    .map_err(|e| BpfError::Attach {
                        interface: interface.to_owned(),
                        driver,
                        skb: e.to_string(),
                    })?;
                (id, AttachMode::Skb)
            }
        };
        let link = program
            .take_link(link_id)
            .map_err(boxed)
            .map_err(load_err("take link"))?;
        let link = FdLink::try_from(link).map_err(|_| BpfError::NotALink {
            interface: interface.to_owned(),
        })?;
        tracing::info!(interface, ?mode, "XDP redirect program attached");
        Ok(Self {
            interface: interface.to_owned(),
            ifindex,
            mode,
            origin: Origin::Fresh,
            layout: None,
            xsks,
            config,
            link: Some(LinkHold::Owned(link)),
        })
    }

    fn take_over(
        interface: &str,
        ifindex: u32,
        prog_id: u32,
        layout: &PinLayout,
        link: FdLink,
    ) -> Result<Self, BpfError> {
        let open = |what: &'static str, path: PathBuf| {
            MapData::from_pin(&path)
                .map_err(boxed)
                .and_then(|d| Map::from_map_data(d).map_err(boxed))
                .map_err(|source| BpfError::Pin {
                    interface: interface.to_owned(),
                    what,
                    path,
                    source,
                })
        };
        let mut xsks = open(XSKS_MAP, layout.xsks_map())?;
        let mut config = open(CONFIG_MAP, layout.config())?;
        check_types(&mut xsks, &mut config).map_err(|source| BpfError::Pin {
            interface: interface.to_owned(),
            what: "maps (type check)",
            path: layout.dir().to_path_buf(),
            source,
        })?;
        Ok(Self {
            interface: interface.to_owned(),
            ifindex,
            mode: AttachMode::Inherited,
            origin: Origin::TakenOver { prog_id },
            layout: Some(layout.clone()),
            xsks,
            config,
            link: Some(LinkHold::Pinned(link)),
        })
    }

    /// Pins link and maps (fail-closed). Already pinned objects are left as they are.
    fn pin(&mut self, layout: PinLayout) -> Result<(), BpfError> {
        let pin_err = |what: &'static str, path: PathBuf| {
            let interface = self.interface.clone();
            move |e: aya::pin::PinError| BpfError::Pin {
                interface,
                what,
                path,
                source: boxed(e),
            }
        };
        if let Some(LinkHold::Owned(_)) = &self.link {
            self.xsks
                .pin(layout.xsks_map())
                .map_err(pin_err(XSKS_MAP, layout.xsks_map()))?;
            self.config
                .pin(layout.config())
                .map_err(pin_err(CONFIG_MAP, layout.config()))?;
            if let Some(LinkHold::Owned(link)) = self.link.take() {
                // On failure the link is dropped and the program detaches: nothing half-pinned
                // stays attached.
                let pinned: PinnedLink = link
                    .pin(layout.link())
                    .map_err(pin_err("link", layout.link()))?;
                self.link = Some(LinkHold::Pinned(pinned.into()));
            }
        }
        self.layout = Some(layout);
        Ok(())
    }

    /// Removes pins (fail-open): after this, closing our fds detaches the program.
    fn unpin(&mut self, sys: &dyn Sys, layout: PinLayout) -> Result<(), BpfError> {
        if let Some(LinkHold::Pinned(_)) = &self.link {
            pin::remove_pins(sys, &layout)?;
            if let Some(LinkHold::Pinned(link)) = self.link.take() {
                self.link = Some(LinkHold::Owned(link));
            }
        }
        self.layout = None;
        Ok(())
    }

    /// Registers the AF_XDP socket `fd` for RX queue `queue`.
    pub fn register_socket(&mut self, queue: u32, fd: impl AsRawFd) -> Result<(), BpfError> {
        self.check_queue(queue)?;
        let res =
            XskMap::try_from(&mut self.xsks).and_then(|mut m| m.set(queue, fd.as_raw_fd(), 0));
        res.map_err(|e| self.map_err(XSKS_MAP, e))
    }

    /// Removes the socket of RX queue `queue`: its frames get the fallback action again.
    pub fn unregister_socket(&mut self, queue: u32) -> Result<(), BpfError> {
        self.check_queue(queue)?;
        let res = XskMap::try_from(&mut self.xsks).and_then(|mut m| m.unset(queue));
        match res {
            Ok(()) => Ok(()),
            Err(aya::maps::MapError::KeyNotFound) => Ok(()),
            Err(e) => Err(self.map_err(XSKS_MAP, e)),
        }
    }

    /// Sets the action for frames whose queue has no socket.
    pub fn set_fallback(&mut self, fallback: Fallback) -> Result<(), BpfError> {
        let res = Array::<_, u32>::try_from(&mut self.config)
            .and_then(|mut m| m.set(0, fallback.action(), 0));
        res.map_err(|e| self.map_err(CONFIG_MAP, e))
    }

    fn check_queue(&self, queue: u32) -> Result<(), BpfError> {
        if queue >= MAX_QUEUES {
            return Err(BpfError::QueueOutOfRange {
                interface: self.interface.clone(),
                queue,
                max: MAX_QUEUES,
            });
        }
        Ok(())
    }

    fn map_err(&self, map: &'static str, e: aya::maps::MapError) -> BpfError {
        BpfError::MapUpdate {
            interface: self.interface.clone(),
            map,
            source: boxed(e),
        }
    }

    /// Detaches the program and removes its pins (clean uninstall; dropping does not detach in
    /// fail-closed mode).
    pub fn detach(mut self) -> Result<(), BpfError> {
        if let Some(layout) = self.layout.take() {
            pin::remove_pins(&RealSys, &layout)?;
        }
        // Closing the last fd of an unpinned link detaches the program.
        self.link = None;
        Ok(())
    }

    /// The interface name.
    pub fn interface(&self) -> &str {
        &self.interface
    }
    /// The interface index (in the namespace the program was attached from).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
    /// The attach mode.
    pub fn mode(&self) -> AttachMode {
        self.mode
    }
    /// Whether the program was attached by this run or taken over.
    pub fn origin(&self) -> Origin {
        self.origin
    }
    /// The directory holding this interface's pins (fail-closed), if pinned.
    pub fn pin_dir(&self) -> Option<&std::path::Path> {
        self.layout.as_ref().map(PinLayout::dir)
    }

    /// Whether the link is pinned (fail-closed).
    pub fn is_pinned(&self) -> bool {
        matches!(self.link, Some(LinkHold::Pinned(_)))
    }
}

fn load_err(
    interface: &str,
) -> impl Fn(&'static str) -> Box<dyn FnOnce(Box<dyn std::error::Error + Send + Sync>) -> BpfError> + '_
{
    move |step| {
        let interface = interface.to_owned();
        Box::new(move |source| BpfError::Load {
            interface,
            step,
            source,
        })
    }
}

/// Loads the embedded object and its program through the verifier; returns the object and the
/// (type-checked) XSKMAP and configuration map.
fn load_object(interface: &str) -> Result<(Ebpf, Map, Map), BpfError> {
    let load_err = load_err(interface);
    let mut ebpf: Ebpf = EbpfLoader::new()
        .load(REDIRECT_OBJECT)
        .map_err(boxed)
        .map_err(load_err("object"))?;
    let mut xsks = take_map(&mut ebpf, XSKS_MAP).map_err(load_err(XSKS_MAP))?;
    let mut config = take_map(&mut ebpf, CONFIG_MAP).map_err(load_err(CONFIG_MAP))?;
    check_types(&mut xsks, &mut config).map_err(load_err("map types"))?;
    let program: &mut Xdp = ebpf
        .program_mut(PROGRAM_NAME)
        .ok_or_else(|| boxed(std::io::Error::other("program missing from the object")))
        .map_err(load_err("program lookup"))?
        .try_into()
        .map_err(boxed)
        .map_err(load_err("program type"))?;
    program
        .load()
        .map_err(boxed)
        .map_err(load_err("verifier"))?;
    Ok((ebpf, xsks, config))
}

/// Loads without attaching (the availability probe).
pub(crate) fn load_only() -> Result<(), BpfError> {
    load_object("(probe)").map(drop)
}

/// Checks that the maps have the types the program declares.
fn check_types(
    xsks: &mut Map,
    config: &mut Map,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    XskMap::try_from(&mut *xsks).map_err(boxed)?;
    Array::<_, u32>::try_from(&mut *config).map_err(boxed)?;
    Ok(())
}

fn take_map(ebpf: &mut Ebpf, name: &str) -> Result<Map, Box<dyn std::error::Error + Send + Sync>> {
    ebpf.take_map(name).ok_or_else(|| {
        boxed(std::io::Error::other(format!(
            "map {name} missing from the object"
        )))
    })
}

fn open_pinned_link(interface: &str, layout: &PinLayout) -> Result<FdLink, BpfError> {
    PinnedLink::from_pin(layout.link())
        .map(FdLink::from)
        .map_err(|e| BpfError::Pin {
            interface: interface.to_owned(),
            what: "link (open)",
            path: layout.link(),
            source: boxed(e),
        })
}

fn link_prog_id(interface: &str, link: &FdLink) -> Result<u32, BpfError> {
    link.info()
        .map(|i| i.program_id())
        .map_err(|e| BpfError::Pin {
            interface: interface.to_owned(),
            what: "link (info)",
            path: PathBuf::new(),
            source: boxed(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::fake::FakeSys;

    #[test]
    fn plan_table() {
        assert_eq!(plan(None, None), Plan::Fresh);
        assert_eq!(plan(Some(7), Some(7)), Plan::TakeOver { prog_id: 7 });
        assert_eq!(plan(Some(7), None), Plan::Refuse { prog_id: 7 });
        assert_eq!(plan(Some(7), Some(8)), Plan::RemoveStalePins);
        assert_eq!(plan(None, Some(8)), Plan::RemoveStalePins);
    }

    #[test]
    fn fallback_actions_are_xdp_codes() {
        assert_eq!(Fallback::Drop.action(), 1);
        assert_eq!(Fallback::Pass.action(), 2);
        assert_eq!(Fallback::default(), Fallback::Drop);
        assert_eq!(FailureMode::default(), FailureMode::Closed);
    }

    #[test]
    fn unknown_interface_is_reported_before_any_bpf_call() {
        let sys = FakeSys::default();
        let err = Redirect::attach_with(&sys, "nope0", &AttachOptions::default())
            .expect_err("no such interface");
        assert!(
            matches!(err, BpfError::UnknownInterface { ref interface, .. } if interface == "nope0")
        );
    }

    #[test]
    fn foreign_program_is_refused_in_fail_open_mode() {
        let mut sys = FakeSys::default();
        sys.interfaces.insert("h1".into(), 4);
        sys.xdp.insert(4, 77);
        let opts = AttachOptions {
            failure_mode: FailureMode::Open,
            ..AttachOptions::default()
        };
        let err = Redirect::attach_with(&sys, "h1", &opts).expect_err("refused");
        assert!(
            matches!(err, BpfError::AlreadyAttached { prog_id: 77, .. }),
            "{err}"
        );
        // Fail-open looked for pins without mounting anything.
        assert!(!sys.calls.borrow().iter().any(|c| c.starts_with("mount")));
    }

    #[test]
    fn foreign_program_is_refused_in_fail_closed_mode_after_mounting() {
        let mut sys = FakeSys::default();
        sys.interfaces.insert("h1".into(), 4);
        sys.xdp.insert(4, 77);
        let opts = AttachOptions {
            pin_root: "/tmp/x-bpffs".into(),
            ..AttachOptions::default()
        };
        let err = Redirect::attach_with(&sys, "h1", &opts).expect_err("refused");
        assert!(
            matches!(err, BpfError::AlreadyAttached { prog_id: 77, .. }),
            "{err}"
        );
        assert!(sys.calls.borrow().iter().any(|c| c == "mount /tmp/x-bpffs"));
    }

    #[test]
    fn netlink_failure_is_reported() {
        let mut sys = FakeSys::default();
        sys.interfaces.insert("h1".into(), 4);
        sys.netlink_error = Some(libc::EPERM);
        let err = Redirect::attach_with(&sys, "h1", &AttachOptions::default()).expect_err("fails");
        assert!(matches!(err, BpfError::Netlink { ifindex: 4, .. }), "{err}");
    }
}
