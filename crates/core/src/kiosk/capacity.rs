//! Timed-entry capacity that kiosks cannot oversell, even offline.
//!
//! The hub owns each slot's capacity. A kiosk sells a slot's seats only from a lease the hub
//! granted it: so it keeps selling with the hub out of reach, until its lease runs out, and
//! never more than the hub set aside for it. The rules:
//!
//! - The hub grants at most what is left: capacity, less what is sold (by the hub itself and by
//!   every kiosk), less every kiosk's leased seats not yet sold. So sold and leased together
//!   never pass capacity, whatever the order of grants, sales and returns.
//! - A kiosk's free seats are its lease less what it sold and what its visitors hold on screen;
//!   a visitor holds seats only from those free seats.
//! - A kiosk asks for more when its free seats fall below a low-water mark, and gives back what
//!   is left once the slot's sales close.

use serde::{Deserialize, Serialize};

/// The hub's count of one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SlotCount {
    pub capacity: u32,
    /// Seats sold, by the hub and by every kiosk whose orders it has.
    pub sold: u32,
    /// Seats leased to kiosks and not (yet known to be) sold.
    pub leased_unsold: u32,
}

impl SlotCount {
    /// Seats neither sold nor leased.
    pub fn available(&self) -> u32 {
        self.capacity
            .saturating_sub(self.sold.saturating_add(self.leased_unsold))
    }
}

/// How many of `asked` seats the hub grants a kiosk that already holds `unsold` leased seats
/// of the slot, when it lets one kiosk hold at most `max_per_kiosk` unsold: none once the
/// slot's sales have closed.
pub fn grant(slot: &SlotCount, open: bool, unsold: u32, asked: u32, max_per_kiosk: u32) -> u32 {
    if !open {
        return 0;
    }
    asked
        .min(slot.available())
        .min(max_per_kiosk.saturating_sub(unsold))
}

/// A kiosk's seats in one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KioskLease {
    /// Seats the hub leased to this kiosk, in all.
    pub leased: u32,
    /// Seats this kiosk sold from them.
    pub sold: u32,
    /// Seats held by visitors on screen (and by payments under way).
    pub held: u32,
}

/// The visitor asked for more seats than the kiosk has free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("only {free} seats free at this kiosk")]
pub struct Full {
    pub free: u32,
}

impl KioskLease {
    pub fn free(&self) -> u32 {
        self.leased
            .saturating_sub(self.sold.saturating_add(self.held))
    }

    /// Holds `seats` more for a visitor.
    pub fn hold(&mut self, seats: u32) -> Result<(), Full> {
        if seats > self.free() {
            return Err(Full { free: self.free() });
        }
        self.held += seats;
        Ok(())
    }

    /// Gives back `seats` a visitor held (cancelled, timed out, or a payment declined).
    pub fn release(&mut self, seats: u32) {
        self.held = self.held.saturating_sub(seats);
    }

    /// Turns `seats` held into seats sold (the order committed).
    pub fn sell(&mut self, seats: u32) {
        let seats = seats.min(self.held);
        self.held -= seats;
        self.sold += seats;
    }
}

/// When a kiosk asks for seats and how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeasePolicy {
    /// Seats asked for at a time.
    pub batch: u32,
    /// Ask for more when fewer than this many are free.
    pub low_water: u32,
}

impl Default for LeasePolicy {
    fn default() -> Self {
        Self {
            batch: 10,
            low_water: 4,
        }
    }
}

/// What a kiosk should ask of the hub for one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseAction {
    Request(u32),
    Return(u32),
}

/// The kiosk's next step for a slot: every free seat back once its sales have closed; as many
/// free seats as the hub recalls (`recall`) while they are open; otherwise more seats when few
/// are free. Seats visitors hold are never given back.
pub fn plan(
    policy: &LeasePolicy,
    lease: &KioskLease,
    open: bool,
    recall: u32,
) -> Option<LeaseAction> {
    let free = lease.free();
    if !open {
        return (free > 0).then_some(LeaseAction::Return(free));
    }
    if recall > 0 {
        return (free > 0).then_some(LeaseAction::Return(recall.min(free)));
    }
    (free < policy.low_water && policy.batch > 0).then_some(LeaseAction::Request(policy.batch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hub_grants_at_most_what_is_neither_sold_nor_leased() {
        let slot = |capacity, sold, leased_unsold| SlotCount {
            capacity,
            sold,
            leased_unsold,
        };
        // (slot, open, this kiosk's unsold, asked, per-kiosk cap) → granted
        let cases = [
            (slot(150, 0, 0), true, 0, 10, 40, 10),
            (slot(150, 140, 5), true, 0, 10, 40, 5),
            (slot(150, 150, 0), true, 0, 10, 40, 0),
            (slot(150, 100, 60), true, 0, 10, 40, 0),
            (slot(150, 0, 0), true, 35, 10, 40, 5),
            (slot(150, 0, 0), false, 0, 10, 40, 0),
            (slot(0, 0, 0), true, 0, 1, 40, 0),
        ];
        for (s, open, unsold, asked, cap, want) in cases {
            assert_eq!(
                grant(&s, open, unsold, asked, cap),
                want,
                "{s:?} {open} {unsold} {asked}"
            );
        }
    }

    #[test]
    fn a_visitor_holds_only_seats_the_kiosk_has_free() {
        let mut lease = KioskLease {
            leased: 10,
            sold: 4,
            held: 0,
        };
        lease.hold(4).unwrap();
        assert_eq!(lease.hold(3), Err(Full { free: 2 }));
        assert_eq!(lease.free(), 2);
        lease.release(4);
        assert_eq!(lease.free(), 6);
        lease.hold(6).unwrap();
        lease.sell(6);
        assert_eq!((lease.sold, lease.held, lease.free()), (10, 0, 0));
    }

    #[test]
    fn a_kiosk_asks_below_low_water_gives_back_when_recalled_and_after_sales_close() {
        let policy = LeasePolicy::default();
        let lease = |leased, sold, held| KioskLease { leased, sold, held };
        // (lease, open, recall) → action
        let cases = [
            (lease(0, 0, 0), true, 0, Some(LeaseAction::Request(10))),
            (lease(10, 7, 0), true, 0, Some(LeaseAction::Request(10))),
            (lease(10, 6, 0), true, 0, None),
            (lease(10, 6, 0), false, 0, Some(LeaseAction::Return(4))),
            (lease(10, 6, 2), false, 0, Some(LeaseAction::Return(2))),
            (lease(10, 10, 0), false, 0, None),
            (lease(10, 2, 0), true, 5, Some(LeaseAction::Return(5))),
            (lease(10, 2, 6), true, 5, Some(LeaseAction::Return(2))),
            (lease(10, 4, 6), true, 5, None),
            (lease(10, 4, 6), false, 5, None),
        ];
        for (l, open, recall, want) in cases {
            assert_eq!(
                plan(&policy, &l, open, recall),
                want,
                "{l:?} {open} {recall}"
            );
        }
    }

    /// Any interleaving of hub sales, grants, kiosk sales (online or not) and returns keeps
    /// sold plus leased within capacity, and no kiosk sells a seat it was not leased.
    #[derive(Debug, Clone)]
    enum Step {
        HubSells(u32),
        Ask { kiosk: usize, seats: u32 },
        KioskSells { kiosk: usize, seats: u32 },
        Return { kiosk: usize },
        Upload { kiosk: usize },
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (0u32..20).prop_map(Step::HubSells),
            (0usize..3, 0u32..30).prop_map(|(kiosk, seats)| Step::Ask { kiosk, seats }),
            (0usize..3, 0u32..8).prop_map(|(kiosk, seats)| Step::KioskSells { kiosk, seats }),
            (0usize..3).prop_map(|kiosk| Step::Return { kiosk }),
            (0usize..3).prop_map(|kiosk| Step::Upload { kiosk }),
        ]
    }

    proptest::proptest! {
        #[test]
        fn no_interleaving_oversells_a_slot(capacity in 0u32..120, steps in proptest::collection::vec(step(), 0..80)) {
            let mut hub = SlotCount { capacity, ..SlotCount::default() };
            // Per kiosk: its lease as the kiosk sees it, and the seats it sold that the hub
            // has not heard of yet (offline).
            let mut kiosks = [(KioskLease::default(), 0u32); 3];
            let mut hub_unsold = [0u32; 3];
            let mut sold_by_hub = 0;
            for s in steps {
                match s {
                    Step::HubSells(n) => {
                        let n = n.min(hub.available());
                        hub.sold += n;
                        sold_by_hub += n;
                    }
                    Step::Ask { kiosk, seats } => {
                        let g = grant(&hub, true, hub_unsold[kiosk], seats, 40);
                        hub.leased_unsold += g;
                        hub_unsold[kiosk] += g;
                        kiosks[kiosk].0.leased += g;
                    }
                    Step::KioskSells { kiosk, seats } => {
                        let (lease, offline) = &mut kiosks[kiosk];
                        if lease.hold(seats).is_ok() {
                            lease.sell(seats);
                            *offline += seats;
                        }
                    }
                    Step::Upload { kiosk } => {
                        let sold = std::mem::take(&mut kiosks[kiosk].1);
                        hub.sold += sold;
                        hub.leased_unsold -= sold;
                        hub_unsold[kiosk] -= sold;
                    }
                    Step::Return { kiosk } => {
                        let (lease, _) = &mut kiosks[kiosk];
                        let free = lease.free();
                        lease.leased -= free;
                        hub.leased_unsold -= free;
                        hub_unsold[kiosk] -= free;
                    }
                }
                let kiosk_sold: u32 = kiosks.iter().map(|(l, _)| l.sold).sum();
                proptest::prop_assert!(hub.sold + hub.leased_unsold <= capacity);
                // What was really sold, whether the hub has heard of it or not.
                proptest::prop_assert!(sold_by_hub + kiosk_sold <= capacity);
                for (l, _) in &kiosks {
                    proptest::prop_assert!(l.sold <= l.leased);
                }
            }
        }
    }
}
