//! Inventory: a product's stock and the ledger of its moves.
//!
//! Stock is counted in whole units: `on_hand` (in the warehouse), `reserved` (held for pre-orders
//! and not yet shipped), `available = on_hand - reserved`. Every change is a [`StockChange`]
//! applied to the stock as read, answering the new stock and the [`StockMove`] that explains it;
//! the store writes both in one conditional write, so no level ever goes negative and
//! `reserved` never exceeds `on_hand`, whatever the concurrency. The moves' signed deltas add up
//! to the current stock exactly: stock on hand can be explained line by line.

pub mod forecast;
pub mod openings;
pub mod product;
pub mod products;
pub mod purchasing;
pub mod recurring;
mod repo;
pub mod tracking;
pub use repo::{ProductFilter, ProductRepo};

use chrono::{DateTime, Utc};

use crate::kernel::error::{BillingError, Refusal, RefusalKind};

/// A product's stock levels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stock {
    /// Units in the warehouse.
    pub on_hand: u64,
    /// Units held for pre-orders, not yet shipped; never more than `on_hand`.
    pub reserved: u64,
}

impl Stock {
    /// Units that can still be reserved: `on_hand - reserved`, never negative.
    pub fn available(&self) -> u64 {
        self.on_hand.saturating_sub(self.reserved)
    }
}

/// What a move did, as `GET /products/{id}/stock-moves` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockMoveKind {
    /// Stock received from a supplier.
    Receipt,
    /// A correction, up or down (a count, damage, loss).
    Adjustment,
    /// Units held for a pre-order.
    Reservation,
    /// A reservation given back (a canceled pre-order).
    Release,
    /// Reserved units shipped: they leave the warehouse and the reservation.
    Shipment,
    /// Units received held for a backordered pre-order.
    Allocation,
}

impl StockMoveKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StockMoveKind::Receipt => "receipt",
            StockMoveKind::Adjustment => "adjustment",
            StockMoveKind::Reservation => "reservation",
            StockMoveKind::Release => "release",
            StockMoveKind::Shipment => "shipment",
            StockMoveKind::Allocation => "allocation",
        }
    }
}

/// A change an operator or a pre-order asks of the stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockChange {
    /// `quantity` units received (positive).
    Receipt { quantity: u64 },
    /// `on_hand` moves by `delta` (signed, not zero).
    Adjustment { delta: i64 },
    /// `on_hand` becomes `quantity` (a stock count), if it still is `expected_on_hand` when
    /// given: a count taken against a level that changed meanwhile is refused.
    SetOnHand {
        quantity: u64,
        expected_on_hand: Option<u64>,
    },
    /// Hold `quantity` units of what is available.
    Reserve { quantity: u64 },
    /// Give back `quantity` reserved units.
    Release { quantity: u64 },
    /// Ship `quantity` reserved units.
    Ship { quantity: u64 },
    /// Ship `quantity` units straight from what is available (a subscription's recurring item).
    ShipAvailable { quantity: u64 },
}

/// One line of a product's stock ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockMove {
    pub kind: StockMoveKind,
    /// Signed change of `on_hand`.
    pub on_hand_delta: i64,
    /// Signed change of `reserved`.
    pub reserved_delta: i64,
    pub on_hand_after: u64,
    pub available_after: u64,
    pub reason: Option<String>,
    /// What the move belongs to: a pre-order, a subscription period, a purchase order.
    pub reference: Option<String>,
    pub at: DateTime<Utc>,
    /// Its place among the product's moves (the product's version once the move is stored);
    /// 0 until then.
    pub sequence: u64,
}

/// A stock move's id, `smv_<product>_<sequence>`: which product's ledger, and where in it.
pub fn stock_move_id(product: &crate::kernel::ids::ProductId, sequence: u64) -> String {
    let suffix = product
        .as_str()
        .strip_prefix(crate::kernel::ids::ProductId::PREFIX)
        .unwrap_or(product.as_str());
    format!("smv_{suffix}_{sequence}")
}

/// The product and sequence a stock move's id names, if it names one.
pub fn parse_stock_move_id(id: &str) -> Option<(crate::kernel::ids::ProductId, u64)> {
    let (suffix, sequence) = id.strip_prefix("smv_")?.rsplit_once('_')?;
    let product = format!("{}{suffix}", crate::kernel::ids::ProductId::PREFIX)
        .parse()
        .ok()?;
    Some((product, sequence.parse().ok()?))
}

/// Why a change was refused; nothing changes then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StockError {
    /// `set_on_hand` was given an `expected_on_hand` that is not the current level.
    #[error("on hand is {current_on_hand}, not the expected {expected_on_hand}")]
    StaleQuantity {
        current_on_hand: u64,
        expected_on_hand: u64,
    },
    /// The change would take `on_hand` below what is reserved, or reserve, release or ship
    /// more than there is.
    #[error("{requested} requested, {available} available")]
    InsufficientStock { requested: u64, available: u64 },
    /// A quantity of zero where units must move, or one too large to count.
    #[error("{0}")]
    InvalidQuantity(&'static str),
}

impl StockError {
    /// The stable `code` of the problem the API answers.
    pub fn code(&self) -> &'static str {
        match self {
            StockError::StaleQuantity { .. } => "stale_quantity",
            StockError::InsufficientStock { .. } => "insufficient_stock",
            StockError::InvalidQuantity(_) => "invalid_quantity",
        }
    }
}

impl From<StockError> for Refusal {
    fn from(e: StockError) -> Self {
        match e {
            StockError::StaleQuantity {
                current_on_hand,
                expected_on_hand,
            } => Refusal::conflict(e.code(), e.to_string())
                .at("expected_on_hand")
                .with("current_on_hand", current_on_hand)
                .with("expected_on_hand", expected_on_hand),
            StockError::InsufficientStock {
                requested,
                available,
            } => Refusal::conflict(e.code(), e.to_string())
                .at("quantity")
                .with("requested", requested)
                .with("available", available),
            StockError::InvalidQuantity(_) => {
                Refusal::new(RefusalKind::Unprocessable, e.code(), e.to_string()).at("quantity")
            }
        }
    }
}

impl From<StockError> for BillingError {
    fn from(e: StockError) -> Self {
        BillingError::Refused(e.into())
    }
}

/// The largest level a product's stock may reach (so every delta fits an `i64`).
pub const MAX_UNITS: u64 = i64::MAX as u64;

fn signed(n: u64) -> Result<i64, StockError> {
    i64::try_from(n).map_err(|_| StockError::InvalidQuantity("the quantity is too large"))
}

fn positive(quantity: u64) -> Result<u64, StockError> {
    match quantity {
        0 => Err(StockError::InvalidQuantity(
            "the quantity must be at least 1",
        )),
        q if q > MAX_UNITS => Err(StockError::InvalidQuantity("the quantity is too large")),
        q => Ok(q),
    }
}

/// `on_hand` raised by `by` units, at most [`MAX_UNITS`].
fn raised(on_hand: u64, by: u64) -> Result<u64, StockError> {
    on_hand
        .checked_add(by)
        .filter(|n| *n <= MAX_UNITS)
        .ok_or(StockError::InvalidQuantity("the quantity is too large"))
}

impl Stock {
    /// Applies `change` to this stock as read: the new stock and the move that explains it, or
    /// why it is refused.
    pub fn apply(
        &self,
        change: StockChange,
        reason: Option<String>,
        reference: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<(Stock, StockMove), StockError> {
        let short = |requested: u64, available: u64| StockError::InsufficientStock {
            requested,
            available,
        };
        let (kind, on_hand, reserved) = match change {
            StockChange::Receipt { quantity } => {
                let on_hand = raised(self.on_hand, positive(quantity)?)?;
                (StockMoveKind::Receipt, on_hand, self.reserved)
            }
            StockChange::Adjustment { delta } => {
                if delta == 0 {
                    return Err(StockError::InvalidQuantity("the adjustment must not be 0"));
                }
                let on_hand = if delta > 0 {
                    raised(self.on_hand, delta.unsigned_abs())?
                } else {
                    let down = delta.unsigned_abs();
                    if down > self.available() {
                        return Err(short(down, self.available()));
                    }
                    self.on_hand - down
                };
                (StockMoveKind::Adjustment, on_hand, self.reserved)
            }
            StockChange::SetOnHand {
                quantity,
                expected_on_hand,
            } => {
                if let Some(expected) = expected_on_hand {
                    if expected != self.on_hand {
                        return Err(StockError::StaleQuantity {
                            current_on_hand: self.on_hand,
                            expected_on_hand: expected,
                        });
                    }
                }
                if quantity > MAX_UNITS {
                    return Err(StockError::InvalidQuantity("the quantity is too large"));
                }
                if quantity < self.reserved {
                    return Err(short(
                        self.on_hand.saturating_sub(quantity),
                        self.available(),
                    ));
                }
                (StockMoveKind::Adjustment, quantity, self.reserved)
            }
            StockChange::Reserve { quantity } => {
                let quantity = positive(quantity)?;
                if quantity > self.available() {
                    return Err(short(quantity, self.available()));
                }
                (
                    StockMoveKind::Reservation,
                    self.on_hand,
                    self.reserved + quantity,
                )
            }
            StockChange::Release { quantity } => {
                let quantity = positive(quantity)?;
                if quantity > self.reserved {
                    return Err(short(quantity, self.reserved));
                }
                (
                    StockMoveKind::Release,
                    self.on_hand,
                    self.reserved - quantity,
                )
            }
            StockChange::Ship { quantity } => {
                let quantity = positive(quantity)?;
                if quantity > self.reserved {
                    return Err(short(quantity, self.reserved));
                }
                (
                    StockMoveKind::Shipment,
                    self.on_hand - quantity,
                    self.reserved - quantity,
                )
            }
            StockChange::ShipAvailable { quantity } => {
                let quantity = positive(quantity)?;
                if quantity > self.available() {
                    return Err(short(quantity, self.available()));
                }
                (
                    StockMoveKind::Shipment,
                    self.on_hand - quantity,
                    self.reserved,
                )
            }
        };
        let after = Stock { on_hand, reserved };
        let stock_move = StockMove {
            kind,
            on_hand_delta: signed(on_hand)? - signed(self.on_hand)?,
            reserved_delta: signed(reserved)? - signed(self.reserved)?,
            on_hand_after: after.on_hand,
            available_after: after.available(),
            reason,
            reference,
            at,
            sequence: 0,
        };
        Ok((after, stock_move))
    }
}

/// The low-stock alert of a product: it goes off once when `available` falls to or below the
/// product's `low_stock_threshold`, and is armed again only when `available` rises above it, so
/// a level that hovers at the threshold alerts once per crossing, not once per move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowStockAlarm {
    pub armed: bool,
}

impl LowStockAlarm {
    /// For a product whose stock is `available` now: armed when it is above the threshold (a
    /// product created with no stock does not alert before it had any).
    pub fn new(available: u64, threshold: u64) -> Self {
        LowStockAlarm {
            armed: available > threshold,
        }
    }

    /// After a move leaves `available`: whether the alert goes off now.
    pub fn observe(&mut self, available: u64, threshold: u64) -> bool {
        if available > threshold {
            self.armed = true;
            return false;
        }
        std::mem::replace(&mut self.armed, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 4, 9, 0, 0)
            .single()
            .expect("time")
    }

    fn apply(stock: Stock, change: StockChange) -> Result<(Stock, StockMove), StockError> {
        stock.apply(change, None, None, at())
    }

    #[test]
    fn a_stock_move_id_names_its_product_and_place_in_the_ledger() {
        let product: crate::kernel::ids::ProductId = "prod_ab_cd".parse().expect("id");
        let id = stock_move_id(&product, 42);
        assert_eq!(id, "smv_ab_cd_42");
        assert_eq!(parse_stock_move_id(&id), Some((product, 42)));
        assert_eq!(parse_stock_move_id("smv_ab_x"), None);
        assert_eq!(parse_stock_move_id("prod_ab_1"), None);
    }

    #[test]
    fn receiving_reserving_and_shipping_move_the_levels_and_explain_each_step() {
        let (stock, receipt) =
            apply(Stock::default(), StockChange::Receipt { quantity: 20 }).expect("received");
        assert_eq!(
            (stock.on_hand, stock.reserved, stock.available()),
            (20, 0, 20)
        );
        assert_eq!((receipt.on_hand_delta, receipt.reserved_delta), (20, 0));
        let (stock, reservation) =
            apply(stock, StockChange::Reserve { quantity: 8 }).expect("reserved");
        assert_eq!(stock.available(), 12);
        assert_eq!(reservation.kind.as_str(), "reservation");
        assert_eq!(
            (reservation.on_hand_delta, reservation.reserved_delta),
            (0, 8)
        );
        let (stock, shipment) = apply(stock, StockChange::Ship { quantity: 5 }).expect("shipped");
        assert_eq!(
            (stock.on_hand, stock.reserved, stock.available()),
            (15, 3, 12)
        );
        assert_eq!((shipment.on_hand_delta, shipment.reserved_delta), (-5, -5));
        assert_eq!((shipment.on_hand_after, shipment.available_after), (15, 12));
    }

    #[test]
    fn nothing_reserved_can_be_adjusted_or_counted_away() {
        let stock = Stock {
            on_hand: 10,
            reserved: 7,
        };
        assert_eq!(
            apply(stock, StockChange::Adjustment { delta: -4 }),
            Err(StockError::InsufficientStock {
                requested: 4,
                available: 3
            })
        );
        let refused = apply(
            stock,
            StockChange::SetOnHand {
                quantity: 6,
                expected_on_hand: None,
            },
        )
        .expect_err("below what is reserved");
        assert_eq!(refused.code(), "insufficient_stock");
        assert_eq!(
            apply(stock, StockChange::Reserve { quantity: 4 }).map(|(s, _)| s),
            Err(StockError::InsufficientStock {
                requested: 4,
                available: 3
            })
        );
        let (down, _) = apply(stock, StockChange::Adjustment { delta: -3 }).expect("the rest");
        assert_eq!((down.on_hand, down.available()), (7, 0));
    }

    #[test]
    fn a_count_taken_against_a_level_that_changed_is_refused_with_the_current_level() {
        let stock = Stock {
            on_hand: 12,
            reserved: 2,
        };
        let stale = apply(
            stock,
            StockChange::SetOnHand {
                quantity: 9,
                expected_on_hand: Some(10),
            },
        );
        assert_eq!(
            stale.map(|(s, _)| s),
            Err(StockError::StaleQuantity {
                current_on_hand: 12,
                expected_on_hand: 10
            })
        );
        let (counted, adjustment) = apply(
            stock,
            StockChange::SetOnHand {
                quantity: 9,
                expected_on_hand: Some(12),
            },
        )
        .expect("counted");
        assert_eq!(counted.on_hand, 9);
        assert_eq!(adjustment.kind, StockMoveKind::Adjustment);
        assert_eq!(adjustment.on_hand_delta, -3);
    }

    #[test]
    fn zero_and_overflowing_quantities_are_refused() {
        let stock = Stock {
            on_hand: MAX_UNITS - 1,
            reserved: 0,
        };
        for change in [
            StockChange::Receipt { quantity: 0 },
            StockChange::Reserve { quantity: 0 },
            StockChange::Adjustment { delta: 0 },
            StockChange::Receipt { quantity: 2 },
            StockChange::Adjustment { delta: 2 },
            StockChange::Receipt { quantity: u64::MAX },
        ] {
            assert_eq!(
                apply(stock, change)
                    .map(|(_, m)| m.kind)
                    .map_err(|e| e.code()),
                Err("invalid_quantity"),
                "{change:?}"
            );
        }
    }

    #[test]
    fn low_stock_alerts_once_per_crossing_and_rearms_above_the_threshold() {
        let threshold = 5;
        let mut alarm = LowStockAlarm::new(20, threshold);
        let alerts: Vec<bool> = [12, 5, 3, 0, 4, 6, 5, 9, 2]
            .into_iter()
            .map(|available| alarm.observe(available, threshold))
            .collect();
        assert_eq!(
            alerts,
            [false, true, false, false, false, false, true, false, true]
        );
        // A product created with nothing in stock does not alert until it had some.
        let mut empty = LowStockAlarm::new(0, threshold);
        assert!(!empty.observe(0, threshold));
        assert!(!empty.observe(10, threshold));
        assert!(empty.observe(1, threshold));
    }

    fn any_change() -> impl Strategy<Value = StockChange> {
        prop_oneof![
            (0u64..50).prop_map(|quantity| StockChange::Receipt { quantity }),
            (-50i64..50).prop_map(|delta| StockChange::Adjustment { delta }),
            ((0u64..60), proptest::option::of(0u64..60)).prop_map(|(quantity, expected)| {
                StockChange::SetOnHand {
                    quantity,
                    expected_on_hand: expected,
                }
            }),
            (0u64..30).prop_map(|quantity| StockChange::Reserve { quantity }),
            (0u64..30).prop_map(|quantity| StockChange::Release { quantity }),
            (0u64..30).prop_map(|quantity| StockChange::Ship { quantity }),
        ]
    }

    proptest! {
        /// Whatever is asked, in whatever order: no level goes negative, nothing reserved exceeds
        /// what is on hand, a refused change changes nothing, and the ledger's deltas add up to
        /// the stock exactly.
        #[test]
        fn the_ledger_adds_up_to_the_stock_and_nothing_goes_negative(
            changes in proptest::collection::vec(any_change(), 0..60)
        ) {
            let mut stock = Stock::default();
            let mut ledger = Vec::new();
            for change in changes {
                // A refused change leaves `stock` as it was.
                if let Ok((after, stock_move)) = apply(stock, change) {
                    prop_assert!(after.reserved <= after.on_hand);
                    prop_assert_eq!(stock_move.on_hand_after, after.on_hand);
                    prop_assert_eq!(stock_move.available_after, after.available());
                    stock = after;
                    ledger.push(stock_move);
                }
            }
            let on_hand: i64 = ledger.iter().map(|m| m.on_hand_delta).sum();
            let reserved: i64 = ledger.iter().map(|m| m.reserved_delta).sum();
            prop_assert_eq!(on_hand, stock.on_hand as i64);
            prop_assert_eq!(reserved, stock.reserved as i64);
        }
    }
}
