//! How many frames each socket keeps in its fill ring (and RX ring): a floor every socket
//! always gets, and more, up to a ceiling, for a socket whose fill ring the kernel is emptying.
//!
//! Contract: [`FillShare::new`] splits a UMEM's frames between its sockets: the floor is half
//! the frames divided among the sockets (at most a ring), the ceiling a quarter of all frames
//! (at least the floor, at most a ring); the other half stays free for frames in flight (RX in
//! user space, TX) and for growth. [`FillShare::observe`] is told, before each refill that follows a
//! receive on the socket, how many fill entries the kernel has not consumed yet: when fewer than a quarter of the socket's
//! target remain, the target doubles (the socket is busy and would soon run dry, which loses
//! frames: `rx_dropped`); after [`CALM_REFILLS`] such refills in a row that found more than
//! half of it still there, the target halves, down to the floor (an idle socket keeps its
//! target: it takes no frames). Frames already in a fill ring cannot
//! be taken back from the kernel: a shrinking target only stops topping the ring up.
//!
//! With few sockets the floor is a full ring and nothing moves (every socket gets a full fill
//! ring, as with a fixed split); with many (a node with a hundred pods) a fixed budget of
//! frames still absorbs the bursts of the sockets that have traffic.

/// Refills in a row that must find the fill ring more than half full before a target halves.
pub(crate) const CALM_REFILLS: u32 = 4096;

/// The floor and ceiling of every socket's fill target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FillShare {
    pub floor: u32,
    pub ceiling: u32,
}

/// One socket's fill target and how long its ring has been calm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FillTarget {
    pub target: u32,
    calm: u32,
}

impl FillShare {
    /// The share for `frames` frames over `sockets` sockets with rings of `ring` entries.
    pub fn new(frames: u32, sockets: u32, ring: u32) -> Self {
        let ring = ring.max(1);
        let floor = (frames / (2 * sockets.max(1))).clamp(1, ring);
        let ceiling = (frames / 4).clamp(floor, ring);
        Self { floor, ceiling }
    }

    /// A socket's starting target: the floor.
    pub fn start(&self) -> FillTarget {
        FillTarget {
            target: self.floor,
            calm: 0,
        }
    }

    /// Adjusts `t` for a refill that found `unconsumed` entries in the socket's fill ring.
    pub fn observe(&self, t: &mut FillTarget, unconsumed: u32) {
        if unconsumed < t.target / 4 {
            t.target = (t.target.saturating_mul(2)).min(self.ceiling);
            t.calm = 0;
        } else if unconsumed > t.target / 2 && t.target > self.floor {
            t.calm += 1;
            if t.calm >= CALM_REFILLS {
                t.target = (t.target / 2).max(self.floor);
                t.calm = 0;
            }
        } else {
            t.calm = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_sockets_get_full_rings_and_never_move() {
        // Two sockets, rings of 1024, the default UMEM of 4096 frames.
        let share = FillShare::new(4096, 2, 1024);
        assert_eq!(
            share,
            FillShare {
                floor: 1024,
                ceiling: 1024
            }
        );
        let mut t = share.start();
        share.observe(&mut t, 0);
        assert_eq!(t.target, 1024);
    }

    #[test]
    fn a_busy_socket_grows_to_the_ceiling_and_an_idle_one_shrinks_back() {
        // 200 sockets sharing 8192 frames: a floor of 20, a ceiling of one ring.
        let share = FillShare::new(8192, 200, 1024);
        assert_eq!(
            share,
            FillShare {
                floor: 20,
                ceiling: 1024
            }
        );
        let mut t = share.start();
        share.observe(&mut t, 10);
        assert_eq!(t.target, 20, "half left: no change");
        let mut steps = 0;
        while t.target < share.ceiling {
            share.observe(&mut t, 0);
            steps += 1;
        }
        assert_eq!((t.target, steps), (1024, 6), "20 -> 40 -> .. -> 1024");
        for _ in 0..CALM_REFILLS - 1 {
            share.observe(&mut t, 1000);
        }
        assert_eq!(t.target, 1024, "not calm for long enough yet");
        share.observe(&mut t, 1000);
        assert_eq!(t.target, 512);
        for _ in 0..CALM_REFILLS - 1 {
            share.observe(&mut t, 400);
        }
        share.observe(&mut t, 200);
        share.observe(&mut t, 400);
        assert_eq!(t.target, 512, "a busier refill restarts the calm count");
        for _ in 0..20 * CALM_REFILLS {
            share.observe(&mut t, 1000);
        }
        assert_eq!(t.target, share.floor, "never below the floor");
    }

    #[test]
    fn degenerate_sizes_stay_usable() {
        assert_eq!(
            FillShare::new(1, 8, 16),
            FillShare {
                floor: 1,
                ceiling: 1
            }
        );
        assert_eq!(
            FillShare::new(64, 0, 0),
            FillShare {
                floor: 1,
                ceiling: 1
            }
        );
    }
}
