//! An allowance period: one subscription period's counters for each unit its plan includes,
//! and the promotional grants usable in it. Usage records change the counters; nothing in the
//! period grows with the number of records.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::catalogue::Plan;
use crate::invoicing::{InvoiceLine, LineKind};
use crate::kernel::error::BillingError;
use crate::kernel::ids::{CustomerId, PlanId, SubscriptionId, UnitGrantId};
use crate::kernel::money::{Currency, Money};
use crate::kernel::period::Period;
use crate::usage::ledger::LedgerEntry;
use crate::usage::{AllowanceLimit, Unit};

#[derive(Debug, Clone, PartialEq)]
pub struct AllowancePeriod {
    pub subscription_id: SubscriptionId,
    pub customer_id: CustomerId,
    /// The plan whose allowances were allocated.
    pub plan_id: PlanId,
    pub currency: Currency,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub units: BTreeMap<Unit, UnitBalance>,
    /// Promotional units usable in this period (carried from the period before while unexpired).
    pub grants: BTreeMap<UnitGrantId, GrantBalance>,
    /// Set by the renewal that invoices the period: no usage is recorded or voided after.
    pub closed: bool,
    /// Ledger entries to store with the period's allocation (the previous period's grants that
    /// lapsed by its start); never read back.
    pub ledger: Vec<LedgerEntry>,
}

/// One unit's counters in a period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitBalance {
    pub limit: AllowanceLimit,
    pub overage_unit_price: Option<Decimal>,
    pub rollover_max: Option<Decimal>,
    /// Included units of the period, rollover included.
    pub allocated: Decimal,
    /// Of `allocated`, what the period before left over.
    pub rolled_over: Decimal,
    /// Included units not yet used.
    pub included_left: Decimal,
    pub promotional_used: Decimal,
    /// Units used past the balance (soft limits).
    pub overage: Decimal,
    /// The highest alert threshold announced this period (0: none yet).
    pub alerted: u8,
}

impl UnitBalance {
    pub fn included_used(&self) -> Decimal {
        self.allocated - self.included_left
    }
}

/// A grant of promotional units as it stands in one period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantBalance {
    pub unit: Unit,
    /// Units usable in this period: the grant's units, or what the period before left of them.
    pub units: Decimal,
    pub left: Decimal,
    pub expires_at: DateTime<Utc>,
    pub description: Option<String>,
    pub granted_at: DateTime<Utc>,
}

impl GrantBalance {
    pub fn is_live(&self, at: DateTime<Utc>) -> bool {
        self.expires_at > at
    }

    /// Units counted as allocated in this period at `at`: all of them while the grant lasts; once
    /// it expired, only what was used (the rest lapsed).
    pub fn counted(&self, at: DateTime<Utc>) -> Decimal {
        if self.is_live(at) {
            self.units
        } else {
            self.units - self.left
        }
    }
}

/// One unit of a period as readers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitUsage {
    pub unit: Unit,
    pub limit: AllowanceLimit,
    pub allocated: Decimal,
    pub rolled_over: Decimal,
    pub promotional_allocated: Decimal,
    /// Included and promotional units used (overage apart).
    pub used: Decimal,
    pub promotional_used: Decimal,
    pub overage_units: Decimal,
    /// `allocated + promotional_allocated − used`.
    pub remaining: Decimal,
}

impl AllowancePeriod {
    /// The allocation of `period` on `plan`: its included units, plus the unused included units
    /// of `previous` up to each allowance's rollover maximum, and the promotional grants of
    /// `previous` still live at the period's start with what they have left. `None` when the
    /// plan includes no units.
    pub fn allocate(
        subscription_id: &SubscriptionId,
        customer_id: &CustomerId,
        plan: &Plan,
        period: Period,
        previous: Option<&AllowancePeriod>,
    ) -> Option<AllowancePeriod> {
        let carried_grants: BTreeMap<UnitGrantId, GrantBalance> = previous
            .map(|p| {
                p.grants
                    .iter()
                    .filter(|(_, g)| g.is_live(period.start) && g.left > Decimal::ZERO)
                    .map(|(id, g)| {
                        let carried = GrantBalance {
                            units: g.left,
                            ..g.clone()
                        };
                        (id.clone(), carried)
                    })
                    .collect()
            })
            .unwrap_or_default();
        if plan.allowances.is_empty() && carried_grants.is_empty() {
            return None;
        }
        let units = plan
            .allowances
            .iter()
            .map(|a| {
                let rolled_over =
                    match (a.rollover_max, previous.and_then(|p| p.units.get(&a.unit))) {
                        (Some(max), Some(before)) => {
                            before.included_left.min(max).max(Decimal::ZERO)
                        }
                        _ => Decimal::ZERO,
                    };
                let allocated = a.included + rolled_over;
                (
                    a.unit,
                    UnitBalance {
                        limit: a.limit,
                        overage_unit_price: a.overage_unit_price,
                        rollover_max: a.rollover_max,
                        allocated,
                        rolled_over,
                        included_left: allocated,
                        promotional_used: Decimal::ZERO,
                        overage: Decimal::ZERO,
                        alerted: 0,
                    },
                )
            })
            .collect();
        Some(AllowancePeriod {
            subscription_id: subscription_id.clone(),
            customer_id: customer_id.clone(),
            plan_id: plan.id.clone(),
            currency: plan.price.currency(),
            start: period.start,
            end: period.end,
            units,
            grants: carried_grants,
            closed: false,
            ledger: previous
                .map(|p| p.lapsed_by(period.start))
                .unwrap_or_default(),
        })
    }

    /// Promotional units of `unit` usable at `at`.
    pub fn promotional_left(&self, unit: Unit, at: DateTime<Utc>) -> Decimal {
        self.grants
            .values()
            .filter(|g| g.unit == unit && g.is_live(at))
            .map(|g| g.left)
            .sum()
    }

    /// Included and promotional units of `unit` left at `at`.
    pub fn remaining(&self, unit: Unit, at: DateTime<Utc>) -> Decimal {
        self.units
            .get(&unit)
            .map_or(Decimal::ZERO, |b| b.included_left)
            + self.promotional_left(unit, at)
    }

    /// Every unit counted in this period (the plan's and those only granted), as at `at`.
    pub fn usage(&self, at: DateTime<Utc>) -> Vec<UnitUsage> {
        let mut units: Vec<Unit> = self.units.keys().copied().collect();
        for g in self.grants.values() {
            if !units.contains(&g.unit) {
                units.push(g.unit);
            }
        }
        units.sort();
        units
            .into_iter()
            .map(|unit| {
                let balance = self.units.get(&unit);
                let promotional_allocated: Decimal = self
                    .grants
                    .values()
                    .filter(|g| g.unit == unit)
                    .map(|g| g.counted(at))
                    .sum();
                let allocated = balance.map_or(Decimal::ZERO, |b| b.allocated);
                let promotional_used = balance.map_or(Decimal::ZERO, |b| b.promotional_used);
                let used = balance.map_or(Decimal::ZERO, |b| b.included_used()) + promotional_used;
                UnitUsage {
                    unit,
                    limit: balance.map_or(AllowanceLimit::Hard, |b| b.limit),
                    allocated,
                    rolled_over: balance.map_or(Decimal::ZERO, |b| b.rolled_over),
                    promotional_allocated,
                    used,
                    promotional_used,
                    overage_units: balance.map_or(Decimal::ZERO, |b| b.overage),
                    remaining: allocated + promotional_allocated - used,
                }
            })
            .collect()
    }

    /// The `usage` lines this period's overage puts on the invoice of `billed` (the next
    /// period's): overage units × the unit price, rounded once to the currency's minor unit
    /// (half away from zero). Overage without a price, or that rounds to nothing, adds no line.
    pub fn overage_lines(&self, billed: Period) -> Result<Vec<InvoiceLine>, BillingError> {
        let mut lines = Vec::new();
        for (unit, b) in &self.units {
            let Some(price) = b.overage_unit_price else {
                continue;
            };
            if b.overage <= Decimal::ZERO {
                continue;
            }
            let amount = Money::round(
                b.overage
                    .checked_mul(price)
                    .ok_or_else(|| BillingError::Conflict("the overage amount overflows".into()))?,
                self.currency,
            );
            if amount.amount().is_zero() {
                continue;
            }
            lines.push(InvoiceLine {
                kind: LineKind::Usage,
                description: format!(
                    "{} {unit} over the allowance × {} ({} to {})",
                    b.overage.normalize(),
                    price.normalize(),
                    self.start.format("%Y-%m-%d"),
                    self.end.format("%Y-%m-%d")
                ),
                amount,
                period: billed,
            });
        }
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::testing::{monthly_plan, t0};
    use crate::usage::Allowance;
    use chrono::Duration;
    use rust_decimal_macros::dec;

    fn words_plan(rollover: Option<Decimal>) -> Plan {
        let mut p = monthly_plan();
        p.allowances = vec![Allowance {
            unit: Unit::Words,
            included: dec!(10000),
            limit: AllowanceLimit::Soft,
            overage_unit_price: Some(dec!(0.002)),
            rollover_max: rollover,
            top_up_unit_price: None,
        }];
        p
    }

    fn period(days: i64) -> Period {
        Period {
            start: t0() + Duration::days(days),
            end: t0() + Duration::days(days + 30),
        }
    }

    fn first(p: &Plan) -> AllowancePeriod {
        AllowancePeriod::allocate(
            &"sub_1".parse().expect("id"),
            &"cus_1".parse().expect("id"),
            p,
            period(0),
            None,
        )
        .expect("units")
    }

    #[test]
    fn a_plan_without_units_allocates_nothing() {
        let p = monthly_plan();
        assert!(AllowancePeriod::allocate(
            &"sub_1".parse().expect("id"),
            &"cus_1".parse().expect("id"),
            &p,
            period(0),
            None
        )
        .is_none());
    }

    #[test]
    fn rollover_carries_unused_included_units_up_to_the_maximum() {
        let p = words_plan(Some(dec!(5000)));
        let mut before = first(&p);
        let words = before.units.get_mut(&Unit::Words).expect("words");
        words.included_left = dec!(7000);
        let next = AllowancePeriod::allocate(
            &before.subscription_id.clone(),
            &before.customer_id.clone(),
            &p,
            period(30),
            Some(&before),
        )
        .expect("units");
        let words = &next.units[&Unit::Words];
        assert_eq!(words.rolled_over, dec!(5000));
        assert_eq!(words.allocated, dec!(15000));
        assert_eq!(words.included_left, dec!(15000));

        let no_rollover = AllowancePeriod::allocate(
            &before.subscription_id.clone(),
            &before.customer_id.clone(),
            &words_plan(None),
            period(30),
            Some(&before),
        )
        .expect("units");
        assert_eq!(no_rollover.units[&Unit::Words].allocated, dec!(10000));
    }

    #[test]
    fn live_grants_carry_what_they_have_left_and_expired_ones_lapse() {
        let p = words_plan(None);
        let mut before = first(&p);
        let grant = |left, expires_days| GrantBalance {
            unit: Unit::Words,
            units: dec!(100),
            left,
            expires_at: t0() + Duration::days(expires_days),
            description: None,
            granted_at: t0(),
        };
        before
            .grants
            .insert("ugr_live".parse().expect("id"), grant(dec!(40), 45));
        before
            .grants
            .insert("ugr_gone".parse().expect("id"), grant(dec!(40), 20));
        let next = AllowancePeriod::allocate(
            &before.subscription_id.clone(),
            &before.customer_id.clone(),
            &p,
            period(30),
            Some(&before),
        )
        .expect("units");
        assert_eq!(next.grants.len(), 1);
        assert_eq!(next.grants.values().next().map(|g| g.units), Some(dec!(40)));
        // In the period before, the expired grant counts only what was used of it.
        let usage = before.usage(t0() + Duration::days(25));
        assert_eq!(usage[0].promotional_allocated, dec!(160));
    }

    #[test]
    fn overage_is_billed_once_rounded_to_the_cent() {
        let p = words_plan(None);
        let mut used = first(&p);
        let words = used.units.get_mut(&Unit::Words).expect("words");
        words.included_left = Decimal::ZERO;
        words.overage = dec!(500);
        let lines = used.overage_lines(period(30)).expect("lines");
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].amount.amount(), dec!(1.00));
        assert_eq!(lines[0].kind, LineKind::Usage);

        let words = used.units.get_mut(&Unit::Words).expect("words");
        words.overage = dec!(1);
        // 0.002 rounds to nothing: no line.
        assert!(used.overage_lines(period(30)).expect("lines").is_empty());
        let words = used.units.get_mut(&Unit::Words).expect("words");
        words.overage = dec!(3);
        assert_eq!(
            used.overage_lines(period(30)).expect("lines")[0]
                .amount
                .amount(),
            dec!(0.01)
        );
    }
}
