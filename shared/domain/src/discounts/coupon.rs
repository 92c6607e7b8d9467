//! Coupons, promotion codes and the discounts they put on subscriptions, as Stripe has them.
//!
//! - A **coupon** (operators create it) says how much comes off: a percentage or a fixed amount
//!   in one currency, for how long (`once`, `repeating` for N periods, `forever`), until when it
//!   can be redeemed, how often in all and per customer, and on which plans.
//! - A **promotion code** is a code customers type (`SPRING25`) that redeems a coupon, with its
//!   own expiry and redemption limit.
//! - A **discount** is a coupon applied to a subscription: it keeps the coupon's terms and the
//!   window `[start, end)` of period starts it applies to, so invoicing needs nothing else.
//!
//! Rules, written once here and tested below:
//! - A period invoice is discounted when its period starts within the window. `once` covers the
//!   first billed period, `repeating` N periods of the plan's interval from the first billed
//!   period, `forever` has no end.
//! - The discount is taken from the invoice's subtotal (its other lines, credits included) and
//!   never exceeds it: percent-off is `subtotal × percent / 100` rounded once with
//!   [`crate::kernel::money::ROUNDING`]; amount-off is `min(amount_off, subtotal)`. A subtotal of zero
//!   or less is not discounted.
//! - An invoice for an immediate plan change is discounted by a percent-off coupon whose window
//!   holds the change (credit and charge are then both at the discounted price); amount-off
//!   coupons are taken once per billed period, never from a plan change.
//! - Every limit (overall, per customer, per promotion code) is counted by a conditional write
//!   in the same transaction that stores the discounted subscription, so concurrent redemptions
//!   never exceed it and a failed write counts nothing.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::catalogue::Plan;
use crate::invoicing::{InvoiceLine, LineKind};
use crate::kernel::error::BillingError;
use crate::kernel::ids::{CouponId, CustomerId, PlanId, PromotionCodeId};
use crate::kernel::money::Money;
use crate::kernel::period::{Interval, Period};
use crate::kernel::validation::{self, FieldError, Validator};

/// How much a coupon takes off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponValue {
    /// A percentage of the subtotal, more than 0 and at most 100.
    PercentOff(Decimal),
    /// A fixed amount per billed period, in the plan's currency.
    AmountOff(Money),
}

/// For how many billed periods a coupon's discount lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponDuration {
    Once,
    Repeating { periods: u32 },
    Forever,
}

impl CouponDuration {
    pub fn as_str(self) -> &'static str {
        match self {
            CouponDuration::Once => "once",
            CouponDuration::Repeating { .. } => "repeating",
            CouponDuration::Forever => "forever",
        }
    }

    pub fn periods(self) -> Option<u32> {
        match self {
            CouponDuration::Once => Some(1),
            CouponDuration::Repeating { periods } => Some(periods),
            CouponDuration::Forever => None,
        }
    }
}

impl fmt::Display for CouponDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The longest `repeating` duration (10 years of monthly periods).
pub const MAX_REPEATING_PERIODS: u32 = 120;

/// What a discount needs of its coupon: kept on the subscription, so a coupon archived later
/// still applies to the subscriptions that redeemed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CouponTerms {
    pub id: CouponId,
    pub name: String,
    pub value: CouponValue,
    pub duration: CouponDuration,
    /// Empty: every plan.
    pub applies_to_plans: BTreeSet<PlanId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon {
    pub terms: CouponTerms,
    /// The last moment it can be redeemed.
    pub redeem_by: Option<DateTime<Utc>>,
    pub max_redemptions: Option<u32>,
    pub max_redemptions_per_customer: Option<u32>,
    pub times_redeemed: u32,
    /// Archived coupons are not redeemed any more; existing discounts continue.
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// An operator's request to create a coupon.
#[derive(Debug, Clone)]
pub struct NewCoupon {
    /// Chosen by the operator (`coupon_spring25`) or generated.
    pub id: Option<CouponId>,
    pub name: String,
    pub value: CouponValue,
    pub duration: CouponDuration,
    pub redeem_by: Option<DateTime<Utc>>,
    pub max_redemptions: Option<u32>,
    pub max_redemptions_per_customer: Option<u32>,
    pub applies_to_plans: BTreeSet<PlanId>,
}

fn at_least_one(field: &str, value: Option<u32>) -> Result<(), FieldError> {
    match value {
        Some(0) => Err(FieldError::new(field, "must be at least 1")),
        _ => Ok(()),
    }
}

impl Coupon {
    pub fn create(new: NewCoupon, now: DateTime<Utc>) -> Result<Coupon, BillingError> {
        let mut v = Validator::new();
        let name = v.check(validation::text("name", &new.name, 100));
        match new.value {
            CouponValue::PercentOff(p) => {
                if p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED {
                    v.push(FieldError::new(
                        "percent_off",
                        "must be more than 0 and at most 100",
                    ));
                } else if p.normalize().scale() > 2 {
                    v.push(FieldError::new(
                        "percent_off",
                        "must have at most 2 decimal places",
                    ));
                }
            }
            CouponValue::AmountOff(m) => {
                if m.is_negative() || m.amount().is_zero() {
                    v.push(FieldError::new("amount_off", "must be more than zero"));
                }
            }
        }
        if let CouponDuration::Repeating { periods } = new.duration {
            if !(1..=MAX_REPEATING_PERIODS).contains(&periods) {
                v.push(FieldError::new(
                    "duration_in_periods",
                    format!("must be from 1 to {MAX_REPEATING_PERIODS}"),
                ));
            }
        }
        if let Some(at) = new.redeem_by {
            v.check(crate::kernel::validation::future_time("redeem_by", at, now));
        }
        v.check(at_least_one("max_redemptions", new.max_redemptions));
        v.check(at_least_one(
            "max_redemptions_per_customer",
            new.max_redemptions_per_customer,
        ));
        v.finish()?;
        Ok(Coupon {
            terms: CouponTerms {
                id: new.id.unwrap_or_else(CouponId::generate),
                name: name.unwrap_or_default(),
                value: new.value,
                duration: new.duration,
                applies_to_plans: new.applies_to_plans,
            },
            redeem_by: new.redeem_by,
            max_redemptions: new.max_redemptions,
            max_redemptions_per_customer: new.max_redemptions_per_customer,
            times_redeemed: 0,
            active: true,
            created_at: now,
            updated_at: now,
            version: 0,
        })
    }

    pub fn id(&self) -> &CouponId {
        &self.terms.id
    }

    /// Whether `plan` may get this coupon at `now`. The counts are checked again by the
    /// conditional write that redeems it; this answers the common case with a clear message.
    pub fn check_redeemable(
        &self,
        field: &str,
        plan: &Plan,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        if !self.active {
            return Err(BillingError::field(field, "the coupon is no longer valid"));
        }
        if self.redeem_by.is_some_and(|t| now > t) {
            return Err(BillingError::field(field, "the coupon has expired"));
        }
        if self
            .max_redemptions
            .is_some_and(|max| self.times_redeemed >= max)
        {
            return Err(BillingError::field(
                field,
                "the coupon has been fully redeemed",
            ));
        }
        if !self.terms.applies_to_plans.is_empty()
            && !self.terms.applies_to_plans.contains(&plan.id)
        {
            return Err(BillingError::field(
                field,
                format!("the coupon does not apply to {}", plan.id),
            ));
        }
        if let CouponValue::AmountOff(m) = self.terms.value {
            if m.currency() != plan.price.currency() {
                return Err(BillingError::field(
                    field,
                    format!(
                        "the coupon is in {}; the plan bills in {}",
                        m.currency(),
                        plan.price.currency()
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn archive(&mut self, now: DateTime<Utc>) {
        self.active = false;
        self.updated_at = now;
    }
}

/// A code customers type that redeems a coupon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionCode {
    pub id: PromotionCodeId,
    /// Upper case; unique among promotion codes; matched case-insensitively.
    pub code: String,
    pub coupon_id: CouponId,
    pub active: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_redemptions: Option<u32>,
    pub times_redeemed: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

#[derive(Debug, Clone)]
pub struct NewPromotionCode {
    pub code: String,
    pub coupon_id: CouponId,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_redemptions: Option<u32>,
}

/// A promotion code as stored and looked up: trimmed and upper case. Letters, digits, `-` and
/// `_`, 3 to 40 characters.
pub fn normalize_code(field: &str, code: &str) -> Result<String, FieldError> {
    let code = code.trim().to_ascii_uppercase();
    let valid = (3..=40).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(code)
    } else {
        Err(FieldError::new(
            field,
            "must be 3 to 40 letters, digits, - or _",
        ))
    }
}

impl PromotionCode {
    pub fn create(
        new: NewPromotionCode,
        coupon: &Coupon,
        now: DateTime<Utc>,
    ) -> Result<PromotionCode, BillingError> {
        let mut v = Validator::new();
        let code = v.check(normalize_code("code", &new.code));
        if !coupon.active {
            v.push(FieldError::new("coupon_id", "the coupon is archived"));
        }
        if let Some(at) = new.expires_at {
            v.check(crate::kernel::validation::future_time(
                "expires_at",
                at,
                now,
            ));
        }
        v.check(at_least_one("max_redemptions", new.max_redemptions));
        v.finish()?;
        Ok(PromotionCode {
            id: PromotionCodeId::generate(),
            code: code.unwrap_or_default(),
            coupon_id: new.coupon_id,
            active: true,
            expires_at: new.expires_at,
            max_redemptions: new.max_redemptions,
            times_redeemed: 0,
            created_at: now,
            updated_at: now,
            version: 0,
        })
    }

    pub fn check_redeemable(&self, field: &str, now: DateTime<Utc>) -> Result<(), BillingError> {
        if !self.active {
            return Err(BillingError::field(field, "the code is no longer valid"));
        }
        if self.expires_at.is_some_and(|t| now > t) {
            return Err(BillingError::field(field, "the code has expired"));
        }
        if self
            .max_redemptions
            .is_some_and(|max| self.times_redeemed >= max)
        {
            return Err(BillingError::field(
                field,
                "the code has been fully redeemed",
            ));
        }
        Ok(())
    }
}

/// What a caller asks to redeem: a coupon by id (operators) or a promotion code (anyone).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscountRequest {
    pub coupon_id: Option<CouponId>,
    pub promotion_code: Option<String>,
}

impl DiscountRequest {
    pub fn is_empty(&self) -> bool {
        self.coupon_id.is_none() && self.promotion_code.is_none()
    }
}

/// One redemption, counted against every limit in the write that stores the discount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    pub coupon_id: CouponId,
    pub max_redemptions: Option<u32>,
    pub customer_id: CustomerId,
    pub max_redemptions_per_customer: Option<u32>,
    /// The promotion code used, and its own limit.
    pub promotion_code: Option<(PromotionCodeId, Option<u32>)>,
}

impl Redemption {
    pub fn new(coupon: &Coupon, code: Option<&PromotionCode>, customer_id: CustomerId) -> Self {
        Redemption {
            coupon_id: coupon.id().clone(),
            max_redemptions: coupon.max_redemptions,
            customer_id,
            max_redemptions_per_customer: coupon.max_redemptions_per_customer,
            promotion_code: code.map(|c| (c.id.clone(), c.max_redemptions)),
        }
    }
}

/// Which limit refused a redemption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedemptionLimit {
    /// The coupon's overall limit, or it was archived meanwhile.
    Coupon,
    PromotionCode,
    Customer,
}

/// A coupon applied to a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discount {
    pub coupon: CouponTerms,
    /// The code that redeemed it, if any.
    pub promotion_code: Option<String>,
    /// The first billed period it applies to starts here.
    pub start: DateTime<Utc>,
    /// Periods starting at or after this are not discounted; `None`: forever.
    pub end: Option<DateTime<Utc>>,
}

impl Discount {
    /// Applies `coupon` from the billed period starting at `first_period_start`, periods
    /// being of `interval`.
    pub fn new(
        coupon: &Coupon,
        promotion_code: Option<&PromotionCode>,
        first_period_start: DateTime<Utc>,
        interval: Interval,
    ) -> Result<Discount, BillingError> {
        let end = match coupon.terms.duration.periods() {
            None => None,
            Some(n) => Some(
                interval
                    .nth_period_end(first_period_start, n)
                    .ok_or_else(|| BillingError::field("coupon", "date out of range"))?,
            ),
        };
        Ok(Discount {
            coupon: coupon.terms.clone(),
            promotion_code: promotion_code.map(|c| c.code.clone()),
            start: first_period_start,
            end,
        })
    }

    /// Whether an invoice for a period starting (or a change made) at `at` is discounted.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && self.end.is_none_or(|end| at < end)
    }

    fn applies_to(&self, plan_id: &PlanId) -> bool {
        self.coupon.applies_to_plans.is_empty() || self.coupon.applies_to_plans.contains(plan_id)
    }

    /// The discount line of a period invoice for `plan_id` with `lines`, if any.
    pub fn period_line(
        &self,
        plan_id: &PlanId,
        lines: &[InvoiceLine],
        period: Period,
    ) -> Result<Option<InvoiceLine>, BillingError> {
        if !self.covers(period.start) || !self.applies_to(plan_id) {
            return Ok(None);
        }
        self.line(lines, period)
    }

    /// The discount line of an immediate plan change to `plan_id` at `at` (percent-off only).
    pub fn change_line(
        &self,
        plan_id: &PlanId,
        lines: &[InvoiceLine],
        period: Period,
        at: DateTime<Utc>,
    ) -> Result<Option<InvoiceLine>, BillingError> {
        if !matches!(self.coupon.value, CouponValue::PercentOff(_))
            || !self.covers(at)
            || !self.applies_to(plan_id)
        {
            return Ok(None);
        }
        self.line(lines, period)
    }

    fn line(
        &self,
        lines: &[InvoiceLine],
        period: Period,
    ) -> Result<Option<InvoiceLine>, BillingError> {
        let Some(first) = lines.first() else {
            return Ok(None);
        };
        let currency = first.amount.currency();
        let subtotal = lines
            .iter()
            .filter(|l| l.kind != LineKind::Discount)
            .try_fold(Money::zero(currency), |acc, l| acc.checked_add(&l.amount))?;
        if subtotal.is_negative() || subtotal.amount().is_zero() {
            return Ok(None);
        }
        let (off, label) = match self.coupon.value {
            CouponValue::PercentOff(p) => (subtotal.percent(p)?, format!("{}% off", p.normalize())),
            CouponValue::AmountOff(m) if m.currency() == currency => (
                if m.amount() > subtotal.amount() {
                    subtotal
                } else {
                    m
                },
                format!("{} {} off", m.amount(), m.currency()),
            ),
            // A coupon in another currency (the plan changed currency) takes nothing.
            CouponValue::AmountOff(_) => return Ok(None),
        };
        if off.amount().is_zero() {
            return Ok(None);
        }
        Ok(Some(InvoiceLine {
            kind: LineKind::Discount,
            description: format!("{} ({label})", self.coupon.name),
            amount: Money::zero(currency).checked_sub(&off)?,
            period,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::money::Currency;
    use crate::kernel::testing::{days, monthly_plan, t0};
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn usd(cents: i64) -> Money {
        Money::from_minor_units(cents, Currency::Usd)
    }

    fn new_coupon(value: CouponValue, duration: CouponDuration) -> NewCoupon {
        NewCoupon {
            id: Some("coupon_spring".parse().expect("id")),
            name: "Spring".into(),
            value,
            duration,
            redeem_by: None,
            max_redemptions: None,
            max_redemptions_per_customer: None,
            applies_to_plans: BTreeSet::new(),
        }
    }

    fn coupon(value: CouponValue, duration: CouponDuration) -> Coupon {
        Coupon::create(new_coupon(value, duration), t0()).expect("valid")
    }

    fn month(start: DateTime<Utc>) -> Period {
        Period {
            start,
            end: Interval::Month.nth_period_end(start, 1).expect("in range"),
        }
    }

    fn plan_line(cents: i64, period: Period) -> InvoiceLine {
        InvoiceLine {
            kind: LineKind::Subscription,
            description: "Premium".into(),
            amount: usd(cents),
            period,
        }
    }

    fn discount_of(c: &Coupon, cents: i64, start: DateTime<Utc>, d: &Discount) -> Option<Money> {
        let plan = monthly_plan();
        d.period_line(&plan.id, &[plan_line(cents, month(start))], month(start))
            .expect("computes")
            .map(|l| {
                assert_eq!(l.kind, LineKind::Discount);
                assert!(l.description.starts_with(&c.terms.name));
                usd(0).checked_sub(&l.amount).expect("same currency")
            })
    }

    #[test]
    fn percent_off_is_rounded_once_and_amount_off_never_exceeds_the_subtotal() {
        let c = coupon(CouponValue::PercentOff(dec!(25)), CouponDuration::Forever);
        let d = Discount::new(&c, None, t0(), Interval::Month).expect("discount");
        // 25 % of 79.99 = 19.9975 → 20.00
        assert_eq!(discount_of(&c, 7999, t0(), &d), Some(usd(2000)));
        let c = coupon(CouponValue::AmountOff(usd(5000)), CouponDuration::Forever);
        let d = Discount::new(&c, None, t0(), Interval::Month).expect("discount");
        assert_eq!(discount_of(&c, 7999, t0(), &d), Some(usd(5000)));
        assert_eq!(discount_of(&c, 2999, t0(), &d), Some(usd(2999)));
        assert_eq!(discount_of(&c, 0, t0(), &d), None, "nothing to discount");
    }

    #[test]
    fn durations_cover_their_periods_and_no_more() {
        let once = coupon(CouponValue::PercentOff(dec!(10)), CouponDuration::Once);
        let d = Discount::new(&once, None, t0(), Interval::Month).expect("discount");
        assert!(d.covers(t0()));
        let second = Interval::Month.nth_period_end(t0(), 1).expect("ok");
        assert!(!d.covers(second));
        assert!(!d.covers(t0() - days(1)), "not before it starts");

        let three = coupon(
            CouponValue::PercentOff(dec!(10)),
            CouponDuration::Repeating { periods: 3 },
        );
        let d = Discount::new(&three, None, t0(), Interval::Month).expect("discount");
        let starts: Vec<_> = (0..5)
            .map(|n| Interval::Month.nth_period_end(t0(), n).expect("ok"))
            .collect();
        let covered: Vec<bool> = starts.iter().map(|s| d.covers(*s)).collect();
        assert_eq!(covered, [true, true, true, false, false]);

        let forever = coupon(CouponValue::PercentOff(dec!(10)), CouponDuration::Forever);
        let d = Discount::new(&forever, None, t0(), Interval::Month).expect("discount");
        assert!(d.covers(t0() + days(3650)));
    }

    #[test]
    fn plan_restrictions_currency_expiry_and_limits_are_checked() {
        let plan = monthly_plan();
        let mut c = coupon(CouponValue::PercentOff(dec!(10)), CouponDuration::Once);
        assert!(c.check_redeemable("coupon", &plan, t0()).is_ok());
        c.terms.applies_to_plans = BTreeSet::from(["plan_basic_month".parse().expect("id")]);
        assert!(c.check_redeemable("coupon", &plan, t0()).is_err());
        let eur = coupon(
            CouponValue::AmountOff(Money::from_minor_units(500, Currency::Eur)),
            CouponDuration::Once,
        );
        assert!(eur.check_redeemable("coupon", &plan, t0()).is_err());
        let mut limited = coupon(CouponValue::PercentOff(dec!(10)), CouponDuration::Once);
        limited.max_redemptions = Some(2);
        limited.times_redeemed = 2;
        assert!(limited.check_redeemable("coupon", &plan, t0()).is_err());
        let mut expiring = coupon(CouponValue::PercentOff(dec!(10)), CouponDuration::Once);
        expiring.redeem_by = Some(t0() + days(1));
        assert!(expiring.check_redeemable("coupon", &plan, t0()).is_ok());
        assert!(expiring
            .check_redeemable("coupon", &plan, t0() + days(2))
            .is_err());
        let mut archived = coupon(CouponValue::PercentOff(dec!(10)), CouponDuration::Once);
        archived.archive(t0());
        assert!(archived.check_redeemable("coupon", &plan, t0()).is_err());
    }

    #[test]
    fn a_restricted_discount_is_not_taken_from_another_plan() {
        let mut c = coupon(CouponValue::PercentOff(dec!(10)), CouponDuration::Forever);
        c.terms.applies_to_plans = BTreeSet::from(["plan_basic_month".parse().expect("id")]);
        let d = Discount::new(&c, None, t0(), Interval::Month).expect("discount");
        assert_eq!(discount_of(&c, 7999, t0(), &d), None);
    }

    #[test]
    fn amount_off_is_not_taken_from_a_plan_change() {
        let plan = monthly_plan();
        let lines = [plan_line(3334, month(t0()))];
        let fixed = coupon(CouponValue::AmountOff(usd(500)), CouponDuration::Forever);
        let d = Discount::new(&fixed, None, t0(), Interval::Month).expect("discount");
        assert_eq!(
            d.change_line(&plan.id, &lines, month(t0()), t0() + days(9))
                .expect("computes"),
            None
        );
        let pct = coupon(CouponValue::PercentOff(dec!(50)), CouponDuration::Forever);
        let d = Discount::new(&pct, None, t0(), Interval::Month).expect("discount");
        let line = d
            .change_line(&plan.id, &lines, month(t0()), t0() + days(9))
            .expect("computes")
            .expect("discounted");
        assert_eq!(
            line.amount,
            usd(-1667),
            "50 % of 33.34, half away from zero"
        );
    }

    #[test]
    fn bad_coupons_name_their_fields() {
        let mut new = new_coupon(
            CouponValue::PercentOff(dec!(120)),
            CouponDuration::Repeating { periods: 0 },
        );
        new.name = " ".into();
        new.max_redemptions = Some(0);
        new.redeem_by = Some(t0() - days(1));
        let Err(BillingError::Validation(errors)) = Coupon::create(new, t0()) else {
            panic!("invalid coupon accepted");
        };
        let fields: BTreeSet<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            BTreeSet::from([
                "name",
                "percent_off",
                "duration_in_periods",
                "redeem_by",
                "max_redemptions"
            ])
        );
    }

    #[test]
    fn codes_are_matched_case_insensitively_and_checked() {
        assert_eq!(
            normalize_code("code", " spring-25 "),
            Ok("SPRING-25".into())
        );
        assert!(normalize_code("code", "no spaces").is_err());
        assert!(normalize_code("code", "ab").is_err());
        let c = coupon(CouponValue::PercentOff(dec!(10)), CouponDuration::Once);
        let mut code = PromotionCode::create(
            NewPromotionCode {
                code: "spring25".into(),
                coupon_id: c.id().clone(),
                expires_at: Some(t0() + days(10)),
                max_redemptions: Some(1),
            },
            &c,
            t0(),
        )
        .expect("valid");
        assert_eq!(code.code, "SPRING25");
        assert!(code.check_redeemable("promotion_code", t0()).is_ok());
        assert!(code
            .check_redeemable("promotion_code", t0() + days(11))
            .is_err());
        code.times_redeemed = 1;
        assert!(code.check_redeemable("promotion_code", t0()).is_err());
    }

    proptest! {
        /// The discount never exceeds the subtotal, is never negative, and percent-off is within
        /// half a cent of the exact figure.
        #[test]
        fn discounts_stay_within_the_subtotal(cents in 0i64..100_000_000, pct in 1u32..=10_000, off in 1i64..100_000_000) {
            let percent = Decimal::new(i64::from(pct), 2);
            let c = coupon(CouponValue::PercentOff(percent), CouponDuration::Forever);
            let d = Discount::new(&c, None, t0(), Interval::Month).expect("discount");
            let taken = discount_of(&c, cents, t0(), &d).unwrap_or(usd(0));
            prop_assert!(!taken.is_negative());
            prop_assert!(taken.amount() <= usd(cents).amount());
            let exact = usd(cents).amount() * percent / Decimal::ONE_HUNDRED;
            prop_assert!((taken.amount() - exact).abs() <= dec!(0.005));
            let c = coupon(CouponValue::AmountOff(usd(off)), CouponDuration::Forever);
            let d = Discount::new(&c, None, t0(), Interval::Month).expect("discount");
            let taken = discount_of(&c, cents, t0(), &d).unwrap_or(usd(0));
            prop_assert_eq!(taken, usd(off.min(cents)));
        }
    }
}
