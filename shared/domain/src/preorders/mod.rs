//! Pre-orders: the rules a subscription's tier sets on them. The price of a pre-order (the
//! tier's discount, rounded once), the pre-order month its limits are counted in, and the
//! limits themselves (count before value). The pre-order itself, its reservation and its
//! charge at release build on these.

pub mod allocation;
pub mod fulfilment;
pub mod placing;
pub mod preorder;
mod repo;
pub use repo::{
    BackorderAllocation, Cancellation, Placement, PlacementRefusal, PreorderCharge, PreorderRepo,
    ProductQueue,
};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::catalogue::{Limit, Tier, TierLimits};
use crate::kernel::money::{Money, MoneyError};
use crate::kernel::period::{Interval, Period};

/// What a pre-order costs: `subtotal = unit price × quantity`; `discount = subtotal × the tier's
/// discount per cent`, rounded once to the minor unit (half away from zero, the repo's rule);
/// `total = subtotal − discount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreorderPrice {
    pub unit_price: Money,
    pub quantity: u32,
    pub discount_percent: Decimal,
    pub subtotal: Money,
    pub discount: Money,
    pub total: Money,
}

impl PreorderPrice {
    pub fn quote(
        unit_price: Money,
        quantity: u32,
        discount_percent: Decimal,
    ) -> Result<PreorderPrice, MoneyError> {
        let subtotal = unit_price
            .amount()
            .checked_mul(Decimal::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        // Exact: a price at the minor unit times a whole number stays at the minor unit.
        let subtotal = Money::new(subtotal, unit_price.currency())?;
        let discount = subtotal.percent(discount_percent)?;
        let total = subtotal.checked_sub(&discount)?;
        Ok(PreorderPrice {
            unit_price,
            quantity,
            discount_percent,
            subtotal,
            discount,
            total,
        })
    }
}

/// The pre-order month that contains `at`: monthly windows from the subscription's billing
/// anchor, whatever its interval. For a monthly plan that is the billing period itself; a
/// quarterly or annual period has three or twelve; a weekly plan's months run from its anchor
/// too. A window that starts on the 29th–31st ends on the same day of the next month, or on its
/// last day when it is shorter (the billing periods' rule). `None` before the anchor, or past
/// the dates the calendar holds.
pub fn preorder_month(anchor: DateTime<Utc>, at: DateTime<Utc>) -> Option<Period> {
    if at < anchor {
        return None;
    }
    // Every month is at least 28 days: start the search at or before the window holding `at`.
    let days = (at - anchor).num_days();
    let mut n = u32::try_from(days / 31).ok()?;
    loop {
        let start = if n == 0 {
            anchor
        } else {
            Interval::Month.nth_period_end(anchor, n)?
        };
        let end = Interval::Month.nth_period_end(anchor, n.checked_add(1)?)?;
        if at < end {
            return (start <= at).then_some(Period { start, end });
        }
        n = n.checked_add(1)?;
    }
}

/// What a subscription has pre-ordered in one pre-order month (pre-orders not canceled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreorderUsage {
    pub count: u32,
    /// The pre-orders' totals (after the tier's discount).
    pub value: Money,
}

/// A tier limit a new pre-order would pass, with what the month has used and when it resets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PreorderLimitError {
    #[error("the month's {limit} pre-orders are used ({used})")]
    CountReached {
        limit: u32,
        used: u32,
        resets_at: DateTime<Utc>,
    },
    #[error("the month's pre-order value limit of {} is used ({})", limit.amount(), used.amount())]
    ValueReached {
        limit: Money,
        used: Money,
        resets_at: DateTime<Utc>,
    },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

impl PreorderLimitError {
    /// The stable `code` of the problem the API answers.
    pub fn code(&self) -> &'static str {
        match self {
            PreorderLimitError::CountReached { .. } => "preorder_limit_reached",
            PreorderLimitError::ValueReached { .. } => "preorder_value_limit_reached",
            PreorderLimitError::Money(_) => "currency_mismatch",
        }
    }
}

/// Whether one more pre-order of `total` fits the tier's limits for the month `window`, given
/// what it has used. The count is checked before the value; a limit is reached when the new
/// pre-order would go past it (reaching it exactly is allowed).
pub fn check_limits(
    limits: &TierLimits,
    used: &PreorderUsage,
    total: &Money,
    window: &Period,
) -> Result<(), PreorderLimitError> {
    if let Limit::Limited(limit) = limits.monthly_preorder_limit {
        if used.count >= limit {
            return Err(PreorderLimitError::CountReached {
                limit,
                used: used.count,
                resets_at: window.end,
            });
        }
    }
    if let Limit::Limited(limit) = limits.monthly_preorder_value_limit {
        let over = used.value.checked_add(total)?.checked_sub(&limit)?;
        if over.amount() > Decimal::ZERO {
            return Err(PreorderLimitError::ValueReached {
                limit,
                used: used.value,
                resets_at: window.end,
            });
        }
    }
    Ok(())
}

/// The month's use as whole per cents of the tier's limits, rounded down (`None`: unlimited,
/// or a limit of zero).
pub fn usage_percentages(limits: &TierLimits, used: &PreorderUsage) -> (Option<u32>, Option<u32>) {
    let percent = |used: Decimal, limit: Decimal| -> Option<u32> {
        if limit.is_zero() {
            return None;
        }
        let share = used.checked_mul(Decimal::ONE_HUNDRED)?.checked_div(limit)?;
        u32::try_from(share.floor().mantissa()).ok()
    };
    let orders = limits
        .monthly_preorder_limit
        .as_option()
        .and_then(|limit| percent(Decimal::from(used.count), Decimal::from(*limit)));
    let value = limits
        .monthly_preorder_value_limit
        .as_option()
        .filter(|limit| limit.currency() == used.value.currency())
        .and_then(|limit| percent(used.value.amount(), limit.amount()));
    (orders, value)
}

/// A product's pre-order window, as its operator set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreorderWindow {
    pub opens_at: DateTime<Utc>,
    pub closes_at: DateTime<Utc>,
}

/// Why the window is shut to a tier at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// Not yet open to this tier: it opens at `opens_at` (the tier's early access applied).
    #[error("pre-orders open at {opens_at} for this tier")]
    NotOpen { opens_at: DateTime<Utc> },
    #[error("pre-orders closed at {closes_at}")]
    Closed { closes_at: DateTime<Utc> },
}

impl WindowError {
    /// The stable `code` of the problem the API answers.
    pub fn code(&self) -> &'static str {
        match self {
            WindowError::NotOpen { .. } => "preorder_window_not_open",
            WindowError::Closed { .. } => "preorder_window_closed",
        }
    }
}

impl PreorderWindow {
    /// When the window opens to a tier with `early_access_days`: that many days before
    /// `opens_at` (0 for the free tier).
    pub fn opens_for(&self, early_access_days: u32) -> DateTime<Utc> {
        self.opens_at
            .checked_sub_signed(chrono::Duration::days(i64::from(early_access_days)))
            .unwrap_or(self.opens_at)
    }

    /// Whether a subscriber of a tier with `early_access_days` may pre-order at `now`: from
    /// [`PreorderWindow::opens_for`] (inclusive) until `closes_at` (exclusive).
    pub fn check(&self, early_access_days: u32, now: DateTime<Utc>) -> Result<(), WindowError> {
        let opens_at = self.opens_for(early_access_days);
        if now < opens_at {
            return Err(WindowError::NotOpen { opens_at });
        }
        if now >= self.closes_at {
            return Err(WindowError::Closed {
                closes_at: self.closes_at,
            });
        }
        Ok(())
    }
}

/// The order backordered pre-orders are allocated in when stock arrives: `priority_level` (1
/// first), then the tier (Enterprise, Premium, Basic, Free), then the oldest first; the id
/// breaks what is left, so the order is total.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AllocationRank {
    priority_level: u8,
    tier_rank: u8,
    created_at: DateTime<Utc>,
    id: String,
}

impl AllocationRank {
    pub fn new(priority_level: u8, tier: Tier, created_at: DateTime<Utc>, id: &str) -> Self {
        let tier_rank = match tier {
            Tier::Enterprise => 0,
            Tier::Premium => 1,
            Tier::Basic => 2,
            Tier::Free => 3,
        };
        AllocationRank {
            priority_level,
            tier_rank,
            created_at,
            id: id.to_owned(),
        }
    }

    /// The rank as text that sorts as the rank does (fixed-width fields), for a store to keep
    /// backorders in allocation order.
    pub fn sort_key(&self) -> String {
        format!(
            "{}#{}#{}#{}",
            self.priority_level,
            self.tier_rank,
            self.created_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            self.id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Tier;
    use crate::kernel::money::Currency;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn usd(amount: Decimal) -> Money {
        Money::new(amount, Currency::Usd).expect("money")
    }

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 9, 30, 0)
            .single()
            .expect("time")
    }

    proptest! {
        #[test]
        fn the_sort_key_sorts_as_the_rank_does(
            a in (1u8..=5, 0usize..4, 0i64..1_000_000, "[a-z0-9]{4}"),
            b in (1u8..=5, 0usize..4, 0i64..1_000_000, "[a-z0-9]{4}"),
        ) {
            let rank = |(p, t, s, id): &(u8, usize, i64, String)| {
                AllocationRank::new(*p, Tier::ALL[*t], at(2027, 1, 1) + chrono::Duration::seconds(*s), &format!("po_{id}"))
            };
            let (ra, rb) = (rank(&a), rank(&b));
            prop_assert_eq!(ra.cmp(&rb), ra.sort_key().cmp(&rb.sort_key()));
        }
    }

    #[test]
    fn the_tier_discount_is_taken_off_the_subtotal_and_rounded_once() {
        // Basic: 2.5% off. 3 × 33.33 = 99.99; 2.49975 rounds to 2.50.
        let basic = Tier::Basic.standard_limits();
        let price = PreorderPrice::quote(usd(dec!(33.33)), 3, basic.preorder_discount_percent)
            .expect("price");
        assert_eq!(price.subtotal, usd(dec!(99.99)));
        assert_eq!(price.discount, usd(dec!(2.50)));
        assert_eq!(price.total, usd(dec!(97.49)));
        // Premium: 5% off 3 × 19.99 = 59.97 → 2.9985 → 3.00 (the example).
        let premium = Tier::Premium.standard_limits();
        let price = PreorderPrice::quote(usd(dec!(19.99)), 3, premium.preorder_discount_percent)
            .expect("price");
        assert_eq!(
            (price.subtotal, price.discount, price.total),
            (usd(dec!(59.97)), usd(dec!(3.00)), usd(dec!(56.97)))
        );
        // Enterprise: 7.5% off 10 × 19.99 = 199.90 → 14.9925 → 14.99.
        let enterprise = Tier::Enterprise.standard_limits();
        let price =
            PreorderPrice::quote(usd(dec!(19.99)), 10, enterprise.preorder_discount_percent)
                .expect("price");
        assert_eq!(
            (price.discount, price.total),
            (usd(dec!(14.99)), usd(dec!(184.91)))
        );
    }

    #[test]
    fn the_count_is_checked_before_the_value_and_reaching_a_limit_exactly_is_allowed() {
        let basic = Tier::Basic.standard_limits(); // 10 pre-orders, $5,000 a month
        let window = Period {
            start: at(2027, 1, 15),
            end: at(2027, 2, 15),
        };
        let used = PreorderUsage {
            count: 9,
            value: usd(dec!(4900)),
        };
        assert_eq!(
            check_limits(&basic, &used, &usd(dec!(100)), &window),
            Ok(())
        );
        let over = check_limits(&basic, &used, &usd(dec!(100.01)), &window).expect_err("value");
        assert_eq!(over.code(), "preorder_value_limit_reached");
        assert_eq!(
            over,
            PreorderLimitError::ValueReached {
                limit: usd(dec!(5000)),
                used: usd(dec!(4900)),
                resets_at: window.end
            }
        );
        let full = PreorderUsage {
            count: 10,
            value: usd(dec!(5000)),
        };
        let both = check_limits(&basic, &full, &usd(dec!(1)), &window).expect_err("both");
        assert_eq!(
            both.code(),
            "preorder_limit_reached",
            "the count comes first"
        );
        let enterprise = Tier::Enterprise.standard_limits();
        let huge = PreorderUsage {
            count: 10_000,
            value: usd(dec!(9999999)),
        };
        assert_eq!(
            check_limits(&enterprise, &huge, &usd(dec!(1)), &window),
            Ok(())
        );
    }

    #[test]
    fn usage_is_shown_in_whole_per_cents_rounded_down_and_unlimited_tiers_show_none() {
        let basic = Tier::Basic.standard_limits();
        let used = PreorderUsage {
            count: 8,
            value: usd(dec!(2500)),
        };
        assert_eq!(usage_percentages(&basic, &used), (Some(80), Some(50)));
        let almost = PreorderUsage {
            count: 9,
            value: usd(dec!(4999.99)),
        };
        assert_eq!(usage_percentages(&basic, &almost), (Some(90), Some(99)));
        let enterprise = Tier::Enterprise.standard_limits();
        assert_eq!(usage_percentages(&enterprise, &used), (None, None));
    }

    #[test]
    fn pre_order_months_run_from_the_anchor_and_clamp_like_billing_periods() {
        let anchor = at(2027, 1, 31);
        assert_eq!(
            preorder_month(anchor, at(2027, 2, 10)),
            Some(Period {
                start: anchor,
                end: at(2027, 2, 28)
            })
        );
        assert_eq!(
            preorder_month(anchor, at(2027, 3, 1)),
            Some(Period {
                start: at(2027, 2, 28),
                end: at(2027, 3, 31)
            })
        );
        // The boundary belongs to the next month.
        assert_eq!(
            preorder_month(anchor, at(2027, 3, 31)).map(|p| p.start),
            Some(at(2027, 3, 31))
        );
        assert_eq!(preorder_month(anchor, at(2027, 1, 30)), None);
    }

    #[test]
    fn the_window_opens_earlier_for_higher_tiers_and_closes_for_all_at_once() {
        let window = PreorderWindow {
            opens_at: at(2027, 3, 15),
            closes_at: at(2027, 4, 1),
        };
        let now = at(2027, 3, 10);
        // Enterprise (14 days) and Premium (7) are in; Basic (3) and Free (0) are not yet.
        assert_eq!(
            window.check(Tier::Enterprise.standard_limits().early_access_days, now),
            Ok(())
        );
        assert_eq!(
            window.check(Tier::Premium.standard_limits().early_access_days, now),
            Ok(())
        );
        let basic = window
            .check(Tier::Basic.standard_limits().early_access_days, now)
            .expect_err("not yet");
        assert_eq!(
            basic,
            WindowError::NotOpen {
                opens_at: at(2027, 3, 12)
            }
        );
        assert_eq!(basic.code(), "preorder_window_not_open");
        assert_eq!(
            window.check(0, at(2027, 3, 15)),
            Ok(()),
            "opening time is inside"
        );
        let closed = window.check(14, at(2027, 4, 1)).expect_err("closed");
        assert_eq!(closed.code(), "preorder_window_closed");
    }

    #[test]
    fn backorders_are_allocated_by_priority_then_tier_then_age() {
        let early = at(2027, 1, 1);
        let late = at(2027, 1, 2);
        let mut ranks = [
            AllocationRank::new(3, Tier::Enterprise, early, "po_e3"),
            AllocationRank::new(1, Tier::Free, late, "po_f1"),
            AllocationRank::new(3, Tier::Basic, early, "po_b3_early"),
            AllocationRank::new(3, Tier::Basic, late, "po_b3_late"),
            AllocationRank::new(3, Tier::Premium, late, "po_p3"),
        ];
        ranks.sort();
        let order: Vec<&str> = ranks.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            order,
            ["po_f1", "po_e3", "po_p3", "po_b3_early", "po_b3_late"]
        );
    }

    proptest! {
        /// Any time after the anchor lies in exactly one pre-order month, which starts at or
        /// before it, ends after it, and is 28 to 31 days long.
        #[test]
        fn every_time_after_the_anchor_has_one_month_of_28_to_31_days(
            anchor_day in 0i64..3_650, offset_minutes in 0i64..(60 * 24 * 3_650)
        ) {
            let anchor = at(2026, 1, 1) + chrono::Duration::days(anchor_day);
            let time = anchor + chrono::Duration::minutes(offset_minutes);
            let window = preorder_month(anchor, time).expect("a month");
            prop_assert!(window.start <= time && time < window.end);
            let days = (window.end - window.start).num_days();
            prop_assert!((28..=31).contains(&days), "{} days", days);
        }

        /// The total never exceeds the subtotal, the discount is within a cent of the exact
        /// share, and the parts add up.
        #[test]
        fn a_quote_adds_up(cents in 1i64..100_000, quantity in 1u32..500, tenths in 0u32..=1000) {
            let unit = Money::from_minor_units(cents, Currency::Usd);
            let percent = Decimal::new(i64::from(tenths), 1);
            let price = PreorderPrice::quote(unit, quantity, percent).expect("price");
            prop_assert_eq!(price.subtotal.checked_sub(&price.discount).expect("same currency"), price.total);
            let exact = price.subtotal.amount() * percent / Decimal::ONE_HUNDRED;
            prop_assert!((price.discount.amount() - exact).abs() <= dec!(0.005));
            prop_assert!(!price.total.is_negative());
        }
    }
}
