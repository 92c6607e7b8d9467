//! Usage records: what one record takes from a period (promotional, included, overage), the
//! guard its write carries so that concurrent records never take more than there is, and the
//! alert thresholds it crosses.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::kernel::error::{Refusal, RefusalKind};
use crate::kernel::ids::{CustomerId, SubscriptionId, UnitGrantId, UsageRecordId};
use crate::usage::period::AllowancePeriod;
use crate::usage::{AllowanceLimit, Unit};

/// Percentages of a period's included units at which `usage.threshold_reached` is announced,
/// each once per period, in this order.
pub const ALERT_THRESHOLDS: [u8; 3] = [80, 90, 100];

/// A request to record usage.
#[derive(Debug, Clone)]
pub struct UsageRequest {
    pub unit: Unit,
    pub units: Decimal,
    pub description: Option<String>,
    /// When the usage happened; `None`: now.
    pub occurred_at: Option<DateTime<Utc>>,
    /// The caller's idempotency key, already scoped to the caller and hashed, and the
    /// fingerprint of the request it came with.
    pub idempotency: Option<(String, String)>,
}

/// Where a record's units came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Breakdown {
    pub promotional: Decimal,
    pub included: Decimal,
    pub overage: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageRecordStatus {
    Recorded,
    /// Given back by an operator (`void`).
    Voided,
}

impl UsageRecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UsageRecordStatus::Recorded => "recorded",
            UsageRecordStatus::Voided => "voided",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "recorded" => Some(UsageRecordStatus::Recorded),
            "voided" => Some(UsageRecordStatus::Voided),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    pub id: UsageRecordId,
    pub subscription_id: SubscriptionId,
    pub customer_id: CustomerId,
    pub unit: Unit,
    pub units: Decimal,
    pub description: Option<String>,
    pub occurred_at: DateTime<Utc>,
    /// The allowance period it counts in.
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub breakdown: Breakdown,
    /// The promotional units, by grant.
    pub grants_taken: Vec<(UnitGrantId, Decimal)>,
    /// Whether the period's plan includes the unit (it has counters for it); a unit only
    /// granted has none.
    pub in_plan: bool,
    /// Included and promotional units of the unit left after this record, as it saw them.
    pub remaining: Decimal,
    pub status: UsageRecordStatus,
    /// The request's fingerprint when it came with an idempotency key.
    pub fingerprint: Option<String>,
    pub created_at: DateTime<Utc>,
    pub voided_at: Option<DateTime<Utc>>,
}

/// The condition on the period's included units left that makes a record's write exact: it
/// holds only if the units it takes are there and, when the record would cross no alert
/// threshold as read, it still crosses none; a record that crosses one is written only on the
/// exact balance it was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncludedGuard {
    /// `included_left >= at_least`.
    pub at_least: Decimal,
    /// `included_left > above`, when set.
    pub above: Option<Decimal>,
    /// `included_left = exactly`, when set (with `alerted` unchanged).
    pub exactly: Option<Decimal>,
}

/// A record with what its write changes in the period, in one conditional write.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumption {
    pub record: UsageRecord,
    pub guard: IncludedGuard,
    /// Alert thresholds the record crosses, ascending; `alerted_before` is the level it was
    /// computed from.
    pub thresholds: Vec<u8>,
    pub alerted_before: u8,
    /// The day (UTC) the usage counts on in the history and the reports.
    pub day: NaiveDate,
}

fn exhausted(unit: Unit, remaining: Decimal) -> Refusal {
    Refusal::conflict(
        "allowance_exhausted",
        format!("not enough {unit} left in this period"),
    )
    .at("units")
    .with("remaining", remaining.normalize().to_string())
}

/// The thresholds between `before` and `after` included units used of `allocated`.
fn crossed(allocated: Decimal, alerted: u8, after_used: Decimal) -> Vec<u8> {
    if allocated <= Decimal::ZERO {
        return Vec::new();
    }
    ALERT_THRESHOLDS
        .into_iter()
        .filter(|t| {
            *t > alerted && after_used * Decimal::ONE_HUNDRED >= allocated * Decimal::from(*t)
        })
        .collect()
}

impl AllowancePeriod {
    /// What recording `units` of `unit` at `at` takes from this period as read: promotional
    /// units first (soonest to expire first) when `promotional_first`, else after the included
    /// ones; past both, overage under a soft limit, or `allowance_exhausted` under a hard one.
    pub fn consume(
        &self,
        record: UsageRecord,
        promotional_first: bool,
        at: DateTime<Utc>,
    ) -> Result<Consumption, Refusal> {
        let unit = record.unit;
        let units = record.units;
        let balance = self.units.get(&unit);
        let mut grants: Vec<(&UnitGrantId, Decimal, DateTime<Utc>)> = self
            .grants
            .iter()
            .filter(|(_, g)| g.unit == unit && g.is_live(at) && g.left > Decimal::ZERO)
            .map(|(id, g)| (id, g.left, g.expires_at))
            .collect();
        if balance.is_none() && grants.is_empty() {
            return Err(Refusal::new(
                RefusalKind::Unprocessable,
                "unit_not_included",
                format!("this subscription includes no {unit}"),
            )
            .at("unit"));
        }
        grants.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(b.0)));
        let included_left = balance.map_or(Decimal::ZERO, |b| b.included_left);
        let promotional_left: Decimal = grants.iter().map(|g| g.1).sum();
        let mut wanted = units;
        let take_included = |wanted: &mut Decimal| {
            let take = (*wanted).min(included_left);
            *wanted -= take;
            take
        };
        let mut grants_taken = Vec::new();
        let mut take_promotional = |wanted: &mut Decimal| {
            let mut taken = Decimal::ZERO;
            for (id, left, _) in &grants {
                if wanted.is_zero() {
                    break;
                }
                let take = (*wanted).min(*left);
                *wanted -= take;
                taken += take;
                grants_taken.push(((*id).clone(), take));
            }
            taken
        };
        let (promotional, included) = if promotional_first {
            let p = take_promotional(&mut wanted);
            (p, take_included(&mut wanted))
        } else {
            let i = take_included(&mut wanted);
            (take_promotional(&mut wanted), i)
        };
        let limit = balance.map_or(AllowanceLimit::Hard, |b| b.limit);
        let overage = match limit {
            AllowanceLimit::Hard if !wanted.is_zero() => {
                return Err(exhausted(unit, included_left + promotional_left))
            }
            AllowanceLimit::Hard => Decimal::ZERO,
            AllowanceLimit::Soft => wanted,
        };
        let allocated = balance.map_or(Decimal::ZERO, |b| b.allocated);
        let alerted = balance.map_or(0, |b| b.alerted);
        let left_after = included_left - included;
        let thresholds = if included.is_zero() && overage.is_zero() {
            Vec::new()
        } else {
            crossed(allocated, alerted, allocated - left_after)
        };
        let guard = if !thresholds.is_empty() {
            IncludedGuard {
                at_least: included,
                above: None,
                exactly: Some(included_left),
            }
        } else {
            // The next threshold must stay uncrossed: left after the record above its boundary.
            let next = ALERT_THRESHOLDS.into_iter().find(|t| *t > alerted);
            let above = match next {
                Some(t) if !included.is_zero() && allocated > Decimal::ZERO => {
                    Some(allocated - allocated * Decimal::from(t) / Decimal::ONE_HUNDRED + included)
                }
                _ => None,
            };
            IncludedGuard {
                at_least: included,
                above,
                exactly: None,
            }
        };
        let day = record.occurred_at.date_naive();
        Ok(Consumption {
            record: UsageRecord {
                period_start: self.start,
                period_end: self.end,
                breakdown: Breakdown {
                    promotional,
                    included,
                    overage,
                },
                grants_taken,
                in_plan: balance.is_some(),
                remaining: included_left + promotional_left - included - promotional,
                ..record
            },
            guard,
            thresholds,
            alerted_before: alerted,
            day,
        })
    }

    /// The period as `consumption`'s write leaves it (the store's write does the same to the
    /// stored counters).
    pub fn apply(&mut self, c: &Consumption) {
        let r = &c.record;
        if let Some(b) = self.units.get_mut(&r.unit) {
            b.included_left -= r.breakdown.included;
            b.promotional_used += r.breakdown.promotional;
            b.overage += r.breakdown.overage;
            if let Some(t) = c.thresholds.last() {
                b.alerted = *t;
            }
        }
        for (id, take) in &r.grants_taken {
            if let Some(g) = self.grants.get_mut(id) {
                g.left -= *take;
            }
        }
    }

    /// Whether the stored counters of this period (as read now) satisfy `c`'s guards: what the
    /// store's conditional write checks.
    pub fn admits(&self, c: &Consumption) -> bool {
        let r = &c.record;
        let left = self
            .units
            .get(&r.unit)
            .map_or(Decimal::ZERO, |b| b.included_left);
        let alerted = self.units.get(&r.unit).map_or(0, |b| b.alerted);
        !self.closed
            && left >= c.guard.at_least
            && c.guard.above.is_none_or(|a| left > a)
            && c.guard
                .exactly
                .is_none_or(|e| left == e && alerted == c.alerted_before)
            && r.grants_taken
                .iter()
                .all(|(id, take)| self.grants.get(id).is_some_and(|g| g.left >= *take))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::period::Period;
    use crate::kernel::testing::{monthly_plan, t0};
    use crate::usage::period::GrantBalance;
    use crate::usage::Allowance;
    use chrono::Duration;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn period_of(included: Decimal, limit: AllowanceLimit) -> AllowancePeriod {
        let mut plan = monthly_plan();
        plan.allowances = vec![Allowance {
            unit: Unit::Pages,
            included,
            limit,
            overage_unit_price: match limit {
                AllowanceLimit::Soft => Some(dec!(0.01)),
                AllowanceLimit::Hard => None,
            },
            rollover_max: None,
            top_up_unit_price: None,
        }];
        AllowancePeriod::allocate(
            &"sub_1".parse().expect("id"),
            &"cus_1".parse().expect("id"),
            &plan,
            Period {
                start: t0(),
                end: t0() + Duration::days(30),
            },
            None,
        )
        .expect("units")
    }

    fn grant(p: &mut AllowancePeriod, id: &str, units: Decimal, expires_days: i64) {
        p.grants.insert(
            id.parse().expect("id"),
            GrantBalance {
                unit: Unit::Pages,
                units,
                left: units,
                expires_at: t0() + Duration::days(expires_days),
                description: None,
                granted_at: t0(),
            },
        );
    }

    fn record(units: Decimal) -> UsageRecord {
        UsageRecord {
            id: "ur_1".parse().expect("id"),
            subscription_id: "sub_1".parse().expect("id"),
            customer_id: "cus_1".parse().expect("id"),
            unit: Unit::Pages,
            units,
            description: None,
            occurred_at: t0() + Duration::days(1),
            period_start: t0(),
            period_end: t0(),
            breakdown: Breakdown::default(),
            grants_taken: Vec::new(),
            in_plan: true,
            remaining: Decimal::ZERO,
            status: UsageRecordStatus::Recorded,
            fingerprint: None,
            created_at: t0(),
            voided_at: None,
        }
    }

    fn at() -> DateTime<Utc> {
        t0() + Duration::days(1)
    }

    #[test]
    fn promotional_units_go_first_unless_the_subscription_says_otherwise() {
        let mut p = period_of(dec!(1000), AllowanceLimit::Hard);
        grant(&mut p, "ugr_a", dec!(100), 60);
        let c = p.consume(record(dec!(150)), true, at()).expect("taken");
        assert_eq!(
            c.record.breakdown,
            Breakdown {
                promotional: dec!(100),
                included: dec!(50),
                overage: dec!(0)
            }
        );
        assert_eq!(c.record.remaining, dec!(950));
        let c = p.consume(record(dec!(150)), false, at()).expect("taken");
        assert_eq!(c.record.breakdown.included, dec!(150));
        assert_eq!(c.record.breakdown.promotional, dec!(0));
        assert_eq!(c.record.remaining, dec!(950));
    }

    #[test]
    fn grants_that_expire_sooner_are_spent_first_and_expired_ones_not_at_all() {
        let mut p = period_of(dec!(0), AllowanceLimit::Hard);
        grant(&mut p, "ugr_late", dec!(10), 50);
        grant(&mut p, "ugr_soon", dec!(10), 20);
        grant(&mut p, "ugr_gone", dec!(10), 0);
        let c = p.consume(record(dec!(15)), true, at()).expect("taken");
        assert_eq!(
            c.record.grants_taken,
            vec![
                ("ugr_soon".parse().expect("id"), dec!(10)),
                ("ugr_late".parse().expect("id"), dec!(5))
            ]
        );
        let refused = p.consume(record(dec!(21)), true, at()).expect_err("short");
        assert_eq!(refused.code, "allowance_exhausted");
        assert_eq!(refused.details["remaining"], "20");
    }

    #[test]
    fn a_soft_limit_counts_overage() {
        let p = period_of(dec!(10000), AllowanceLimit::Soft);
        let c = p.consume(record(dec!(10500)), true, at()).expect("taken");
        assert_eq!(c.record.breakdown.included, dec!(10000));
        assert_eq!(c.record.breakdown.overage, dec!(500));
        assert_eq!(c.record.remaining, dec!(0));
    }

    #[test]
    fn one_record_from_70_to_100_percent_crosses_three_thresholds_in_order() {
        let mut p = period_of(dec!(100), AllowanceLimit::Hard);
        let c = p.consume(record(dec!(70)), true, at()).expect("taken");
        assert!(c.thresholds.is_empty());
        assert_eq!(c.guard.above, Some(dec!(90)));
        p.apply(&c);
        let c = p.consume(record(dec!(30)), true, at()).expect("taken");
        assert_eq!(c.thresholds, vec![80, 90, 100]);
        assert_eq!(c.guard.exactly, Some(dec!(30)));
        p.apply(&c);
        assert_eq!(p.units[&Unit::Pages].alerted, 100);
    }

    #[test]
    fn unknown_units_are_refused() {
        let p = period_of(dec!(10), AllowanceLimit::Hard);
        let mut r = record(dec!(1));
        r.unit = Unit::Tokens;
        assert_eq!(
            p.consume(r, true, at()).expect_err("none").code,
            "unit_not_included"
        );
    }

    proptest! {
        /// Records applied one after another (each computed on the period as it stands, as the
        /// conditional write makes happen) never take more than the balance under a hard limit,
        /// every threshold is announced once and in order, and allocated + promotional − used
        /// = remaining holds throughout.
        #[test]
        fn counters_stay_exact(
            included in 0u32..200,
            promo in 0u32..50,
            records in proptest::collection::vec((1u32..40, any::<bool>()), 1..30),
            soft in any::<bool>(),
        ) {
            let limit = if soft { AllowanceLimit::Soft } else { AllowanceLimit::Hard };
            let mut p = period_of(Decimal::from(included), limit);
            if promo > 0 {
                grant(&mut p, "ugr_a", Decimal::from(promo), 60);
            }
            let mut accepted = Decimal::ZERO;
            let mut announced = Vec::new();
            for (units, first) in records {
                match p.consume(record(Decimal::from(units)), first, at()) {
                    Ok(c) => {
                        prop_assert!(p.admits(&c));
                        accepted += c.record.units;
                        let b = c.record.breakdown;
                        prop_assert_eq!(b.promotional + b.included + b.overage, c.record.units);
                        announced.extend(c.thresholds.iter().copied());
                        p.apply(&c);
                    }
                    Err(r) => prop_assert_eq!(r.code, "allowance_exhausted"),
                }
                let u = &p.usage(at())[0];
                prop_assert_eq!(u.allocated + u.promotional_allocated - u.used, u.remaining);
                prop_assert!(u.remaining >= Decimal::ZERO);
                prop_assert_eq!(u.used + u.overage_units, accepted);
                if !soft {
                    prop_assert_eq!(u.overage_units, Decimal::ZERO);
                }
            }
            let mut sorted = announced.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(sorted, announced);
        }
    }
}
