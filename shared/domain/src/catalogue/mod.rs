//! The catalogue: plans (tier × interval × price), the tiers' limits and feature flags.
//!
//! The standard tiers and their limits are the ones users expect: Basic $29.99,
//! Premium $79.99, Enterprise $199.99 a month, plus a free tier to fall back to.

mod repo;
pub use repo::PlanRepo;

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::kernel::ids::PlanId;
use crate::kernel::money::{Currency, Money};
use crate::kernel::period::Interval;
use crate::kernel::validation::{self, FieldError, Validator};
use crate::usage::{validate_allowances, Allowance};

/// The longest a one-off bundle lasts.
pub const MAX_BUNDLE_DAYS: u32 = 3660;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Free,
    Basic,
    Premium,
    Enterprise,
}

impl Tier {
    pub const ALL: [Tier; 4] = [Tier::Free, Tier::Basic, Tier::Premium, Tier::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Basic => "basic",
            Tier::Premium => "premium",
            Tier::Enterprise => "enterprise",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Tier::Free => "Free",
            Tier::Basic => "Basic",
            Tier::Premium => "Premium",
            Tier::Enterprise => "Enterprise",
        }
    }

    /// The tier's limits as the product brief gives them, in USD.
    pub fn standard_limits(self) -> TierLimits {
        self.standard_limits_in(Currency::Usd)
    }

    /// The tier's limits with the value limit's nominal amount in `currency` (5,000 USD becomes
    /// 5,000 EUR). Operators set limits explicitly where that is not what they want.
    pub fn standard_limits_in(self, currency: Currency) -> TierLimits {
        let usd = |units: i64| Limit::Limited(Money::round(Decimal::from(units), currency));
        match self {
            Tier::Free => TierLimits {
                monthly_preorder_limit: Limit::Limited(2),
                monthly_preorder_value_limit: usd(500),
                early_access_days: 0,
                preorder_discount_percent: Decimal::ZERO,
                tracked_products_limit: Limit::Limited(10),
            },
            Tier::Basic => TierLimits {
                monthly_preorder_limit: Limit::Limited(10),
                monthly_preorder_value_limit: usd(5_000),
                early_access_days: 3,
                preorder_discount_percent: Decimal::new(25, 1),
                tracked_products_limit: Limit::Limited(100),
            },
            Tier::Premium => TierLimits {
                monthly_preorder_limit: Limit::Limited(50),
                monthly_preorder_value_limit: usd(25_000),
                early_access_days: 7,
                preorder_discount_percent: Decimal::new(5, 0),
                tracked_products_limit: Limit::Limited(500),
            },
            Tier::Enterprise => TierLimits {
                monthly_preorder_limit: Limit::Unlimited,
                monthly_preorder_value_limit: Limit::Unlimited,
                early_access_days: 14,
                preorder_discount_percent: Decimal::new(75, 1),
                tracked_products_limit: Limit::Unlimited,
            },
        }
    }

    /// The tier's feature flags (Enterprise includes every Premium feature).
    pub fn standard_features(self) -> BTreeSet<Feature> {
        use Feature::*;
        let list: &[Feature] = match self {
            Tier::Free => &[],
            Tier::Basic => &[ApiAccess],
            Tier::Premium => &[
                ApiAccess,
                PrioritySupport,
                CustomReporting,
                AdvancedAnalytics,
                BulkOperations,
            ],
            Tier::Enterprise => &[
                ApiAccess,
                PrioritySupport,
                CustomReporting,
                AdvancedAnalytics,
                BulkOperations,
                DedicatedManager,
                Sla,
                CustomIntegrations,
                WhiteLabel,
            ],
        };
        list.iter().copied().collect()
    }

    /// Standard price of the tier for an interval, in USD. Longer commitments are cheaper per
    /// month; the table is written down in docs/billing.md.
    pub fn standard_price(self, interval: Interval) -> Money {
        let cents: i64 = match (self, interval) {
            (Tier::Free, _) => 0,
            (Tier::Basic, Interval::Week) => 749,
            (Tier::Basic, Interval::TwoWeeks) => 1_449,
            (Tier::Basic, Interval::Month) => 2_999,
            (Tier::Basic, Interval::Quarter) => 8_499,
            (Tier::Basic, Interval::Year) => 29_999,
            (Tier::Premium, Interval::Week) => 1_999,
            (Tier::Premium, Interval::TwoWeeks) => 3_899,
            (Tier::Premium, Interval::Month) => 7_999,
            (Tier::Premium, Interval::Quarter) => 22_799,
            (Tier::Premium, Interval::Year) => 79_999,
            (Tier::Enterprise, Interval::Week) => 4_999,
            (Tier::Enterprise, Interval::TwoWeeks) => 9_699,
            (Tier::Enterprise, Interval::Month) => 19_999,
            (Tier::Enterprise, Interval::Quarter) => 56_999,
            (Tier::Enterprise, Interval::Year) => 199_999,
        };
        Money::from_minor_units(cents, Currency::Usd)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::ALL.into_iter().find(|t| t.as_str() == s).ok_or(())
    }
}

/// The feature flags a plan can grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    ApiAccess,
    PrioritySupport,
    CustomReporting,
    AdvancedAnalytics,
    BulkOperations,
    DedicatedManager,
    Sla,
    CustomIntegrations,
    WhiteLabel,
}

impl Feature {
    pub const ALL: [Feature; 9] = [
        Feature::ApiAccess,
        Feature::PrioritySupport,
        Feature::CustomReporting,
        Feature::AdvancedAnalytics,
        Feature::BulkOperations,
        Feature::DedicatedManager,
        Feature::Sla,
        Feature::CustomIntegrations,
        Feature::WhiteLabel,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Feature::ApiAccess => "api_access",
            Feature::PrioritySupport => "priority_support",
            Feature::CustomReporting => "custom_reporting",
            Feature::AdvancedAnalytics => "advanced_analytics",
            Feature::BulkOperations => "bulk_operations",
            Feature::DedicatedManager => "dedicated_manager",
            Feature::Sla => "sla",
            Feature::CustomIntegrations => "custom_integrations",
            Feature::WhiteLabel => "white_label",
        }
    }
}

impl FromStr for Feature {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Feature::ALL.into_iter().find(|f| f.as_str() == s).ok_or(())
    }
}

/// A limit that may be unlimited. Unlimited is a value of its own, not a big number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit<T> {
    Limited(T),
    Unlimited,
}

impl<T> Limit<T> {
    pub fn as_option(&self) -> Option<&T> {
        match self {
            Limit::Limited(v) => Some(v),
            Limit::Unlimited => None,
        }
    }

    pub fn from_option(value: Option<T>) -> Self {
        match value {
            Some(v) => Limit::Limited(v),
            None => Limit::Unlimited,
        }
    }
}

/// What a plan's tier allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierLimits {
    pub monthly_preorder_limit: Limit<u32>,
    pub monthly_preorder_value_limit: Limit<Money>,
    pub early_access_days: u32,
    /// Per cent off every pre-order (2.5 means 2.5%).
    pub preorder_discount_percent: Decimal,
    pub tracked_products_limit: Limit<u32>,
}

impl TierLimits {
    pub fn validate(&self, currency: Currency) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Limit::Limited(value) = &self.monthly_preorder_value_limit {
            if value.currency() != currency {
                errors.push(FieldError::new(
                    "limits.monthly_preorder_value_limit",
                    "must be in the plan's currency",
                ));
            }
            if value.is_negative() {
                errors.push(FieldError::new(
                    "limits.monthly_preorder_value_limit",
                    "must not be negative",
                ));
            }
        }
        if self.early_access_days > 365 {
            errors.push(FieldError::new(
                "limits.early_access_days",
                "must be at most 365",
            ));
        }
        if self.preorder_discount_percent < Decimal::ZERO
            || self.preorder_discount_percent > Decimal::ONE_HUNDRED
        {
            errors.push(FieldError::new(
                "limits.preorder_discount_percent",
                "must be between 0 and 100",
            ));
        }
        errors
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    Active,
    /// No new subscriptions; existing ones continue.
    Archived,
}

/// The longest trial a plan may offer or an operator may give a subscription.
pub const MAX_TRIAL_DAYS: u32 = 730;

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub id: PlanId,
    pub name: String,
    pub tier: Tier,
    pub interval: Interval,
    pub price: Money,
    pub trial_days: u32,
    pub features: BTreeSet<Feature>,
    pub limits: TierLimits,
    /// Whether a customer may hold this plan next to another live subscription.
    pub allow_multiple: bool,
    /// Where a subscription that ends at its period end (canceled then, or not renewed) moves
    /// the customer: the free tier for the seeded paid plans; `None`: nowhere.
    pub fallback_plan_id: Option<PlanId>,
    /// How many days before each renewal the customer is reminded (`invoice.upcoming`, or
    /// `subscription.expiring` when it will not renew). `None`: the default, see
    /// [`Plan::reminder_days`]; `Some(0)`: no reminder.
    pub renewal_reminder_days: Option<u32>,
    /// What happens to a subscription's open pre-orders when it ends.
    pub open_preorders_at_end: OpenPreorders,
    /// Units included each period ([`crate::usage`]); empty for plans that meter nothing.
    pub allowances: Vec<Allowance>,
    /// A one-off bundle: charged once, its units valid this many days, never renewed.
    /// `None`: a recurring plan, renewed each `interval`.
    pub duration_days: Option<u32>,
    pub status: PlanStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// An operator's request for a new plan.
#[derive(Debug, Clone)]
pub struct NewPlan {
    pub id: Option<PlanId>,
    pub name: String,
    pub tier: Tier,
    pub interval: Interval,
    pub price: Money,
    pub trial_days: u32,
    pub features: Option<BTreeSet<Feature>>,
    pub limits: Option<TierLimits>,
    pub allow_multiple: bool,
    pub fallback_plan_id: Option<PlanId>,
    pub renewal_reminder_days: Option<u32>,
    pub open_preorders_at_end: OpenPreorders,
    pub allowances: Vec<Allowance>,
    pub duration_days: Option<u32>,
}

/// What happens to a subscription's open pre-orders when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpenPreorders {
    /// Kept at their price: charged and shipped at the release or when stock comes in.
    #[default]
    Keep,
    /// Canceled with the subscription: their stock released, nothing charged.
    Cancel,
}

impl OpenPreorders {
    pub fn as_str(self) -> &'static str {
        match self {
            OpenPreorders::Keep => "keep",
            OpenPreorders::Cancel => "cancel",
        }
    }

    pub fn parse(s: &str) -> Option<OpenPreorders> {
        match s {
            "keep" => Some(OpenPreorders::Keep),
            "cancel" => Some(OpenPreorders::Cancel),
            _ => None,
        }
    }
}

/// An operator's change to a plan. Price, currency, tier and interval are fixed once a plan
/// exists (subscribers agreed to them); make a new plan instead.
#[derive(Debug, Clone, Default)]
pub struct PlanPatch {
    pub name: Option<String>,
    pub trial_days: Option<u32>,
    pub features: Option<BTreeSet<Feature>>,
    pub limits: Option<TierLimits>,
    pub allow_multiple: Option<bool>,
    /// `Some(None)` removes the fallback.
    pub fallback_plan_id: Option<Option<PlanId>>,
    /// `Some(None)` goes back to the default.
    pub renewal_reminder_days: Option<Option<u32>>,
    pub open_preorders_at_end: Option<OpenPreorders>,
    /// Takes effect from each subscription's next period.
    pub allowances: Option<Vec<Allowance>>,
}

/// Reminder days when a plan sets none: a week before each renewal. A period not longer than
/// that (weekly plans) gets no reminder.
pub const DEFAULT_RENEWAL_REMINDER_DAYS: u32 = 7;

/// The most days before a renewal a reminder may go.
pub const MAX_RENEWAL_REMINDER_DAYS: u32 = 60;

fn check_reminder_days(v: &mut Validator, days: Option<u32>) {
    if days.is_some_and(|d| d > MAX_RENEWAL_REMINDER_DAYS) {
        v.push(FieldError::new(
            "renewal_reminder_days",
            format!("must be at most {MAX_RENEWAL_REMINDER_DAYS}"),
        ));
    }
}

impl Plan {
    pub fn create(new: NewPlan, now: DateTime<Utc>) -> Result<Plan, Vec<FieldError>> {
        let mut v = Validator::new();
        let name = v.check(validation::text("name", &new.name, 100));
        if new.price.is_negative() {
            v.push(FieldError::new("price", "must not be negative"));
        }
        if new.trial_days > MAX_TRIAL_DAYS {
            v.push(FieldError::new(
                "trial_days",
                format!("must be at most {MAX_TRIAL_DAYS}"),
            ));
        }
        let limits = new
            .limits
            .unwrap_or_else(|| new.tier.standard_limits_in(new.price.currency()));
        v.extend(limits.validate(new.price.currency()));
        check_reminder_days(&mut v, new.renewal_reminder_days);
        v.extend(validate_allowances(&new.allowances));
        if let Some(days) = new.duration_days {
            if days == 0 || days > MAX_BUNDLE_DAYS {
                v.push(FieldError::new(
                    "duration_days",
                    format!("must be from 1 to {MAX_BUNDLE_DAYS}"),
                ));
            }
            if new.trial_days > 0 {
                v.push(FieldError::new(
                    "trial_days",
                    "a one-off bundle has no trial",
                ));
            }
        }
        let id = new.id.unwrap_or_else(PlanId::generate);
        if new.fallback_plan_id.as_ref() == Some(&id) {
            v.push(FieldError::new(
                "fallback_plan_id",
                "a plan cannot fall back to itself",
            ));
        }
        v.finish()?;
        Ok(Plan {
            id,
            name: name.unwrap_or_default(),
            tier: new.tier,
            interval: new.interval,
            price: new.price,
            trial_days: new.trial_days,
            features: new.features.unwrap_or_else(|| new.tier.standard_features()),
            limits,
            allow_multiple: new.allow_multiple,
            fallback_plan_id: new.fallback_plan_id,
            renewal_reminder_days: new.renewal_reminder_days,
            open_preorders_at_end: new.open_preorders_at_end,
            allowances: new.allowances,
            duration_days: new.duration_days,
            status: PlanStatus::Active,
            created_at: now,
            updated_at: now,
            version: 0,
        })
    }

    pub fn apply(&mut self, patch: PlanPatch, now: DateTime<Utc>) -> Result<(), Vec<FieldError>> {
        let mut v = Validator::new();
        let name = patch
            .name
            .as_deref()
            .and_then(|n| v.check(validation::text("name", n, 100)));
        if let Some(days) = patch.trial_days {
            if days > MAX_TRIAL_DAYS {
                v.push(FieldError::new(
                    "trial_days",
                    format!("must be at most {MAX_TRIAL_DAYS}"),
                ));
            }
        }
        if let Some(limits) = &patch.limits {
            v.extend(limits.validate(self.price.currency()));
        }
        check_reminder_days(&mut v, patch.renewal_reminder_days.flatten());
        if let Some(allowances) = &patch.allowances {
            v.extend(validate_allowances(allowances));
        }
        if self.duration_days.is_some() && patch.trial_days.is_some_and(|d| d > 0) {
            v.push(FieldError::new(
                "trial_days",
                "a one-off bundle has no trial",
            ));
        }
        if let Some(Some(fallback)) = &patch.fallback_plan_id {
            if *fallback == self.id {
                v.push(FieldError::new(
                    "fallback_plan_id",
                    "a plan cannot fall back to itself",
                ));
            }
        }
        v.finish()?;
        if let Some(name) = name {
            self.name = name;
        }
        if let Some(days) = patch.trial_days {
            self.trial_days = days;
        }
        if let Some(features) = patch.features {
            self.features = features;
        }
        if let Some(limits) = patch.limits {
            self.limits = limits;
        }
        if let Some(allow) = patch.allow_multiple {
            self.allow_multiple = allow;
        }
        if let Some(fallback) = patch.fallback_plan_id {
            self.fallback_plan_id = fallback;
        }
        if let Some(days) = patch.renewal_reminder_days {
            self.renewal_reminder_days = days;
        }
        if let Some(policy) = patch.open_preorders_at_end {
            self.open_preorders_at_end = policy;
        }
        if let Some(allowances) = patch.allowances {
            self.allowances = allowances;
        }
        self.updated_at = now;
        Ok(())
    }

    pub fn archive(&mut self, now: DateTime<Utc>) {
        self.status = PlanStatus::Archived;
        self.updated_at = now;
    }

    pub fn is_active(&self) -> bool {
        self.status == PlanStatus::Active
    }

    /// Whether subscriptions renew (a one-off bundle does not).
    pub fn is_recurring(&self) -> bool {
        self.duration_days.is_none()
    }

    /// Days before each renewal the reminder goes (0: none): the plan's own setting, or
    /// [`DEFAULT_RENEWAL_REMINDER_DAYS`].
    pub fn reminder_days(&self) -> u32 {
        self.renewal_reminder_days
            .unwrap_or(DEFAULT_RENEWAL_REMINDER_DAYS)
    }
}

/// The seeded catalogue: each paid tier for every interval, and the free tier monthly.
/// Ids are readable: `plan_premium_month`, `plan_basic_year`, `plan_free_month`.
pub fn standard_plans(now: DateTime<Utc>) -> Vec<Plan> {
    let mut plans = Vec::new();
    for tier in [Tier::Basic, Tier::Premium, Tier::Enterprise] {
        for interval in Interval::ALL {
            plans.push(standard_plan(tier, interval, now));
        }
    }
    plans.push(standard_plan(Tier::Free, Interval::Month, now));
    plans
}

/// The seeded plans of units (add-ons: `allow_multiple`, no fallback): 1,000 pages a month
/// (hard limit, up to 500 unused pages roll over, top-ups at 0.06 a page), 100,000 words a
/// month (soft limit, 0.001 a word over, top-ups at 0.0012), 5,000 tokens a month (hard limit,
/// top-ups at 0.01 a token), and a one-off bundle of 1,000 tokens valid 30 days.
pub fn unit_plans(now: DateTime<Utc>) -> Vec<Plan> {
    use crate::usage::{AllowanceLimit, Unit};
    let plan = |id: &str,
                name: &str,
                tier: Tier,
                cents: i64,
                allowance: Allowance,
                duration_days: Option<u32>| {
        let mut plan = standard_plan(tier, Interval::Month, now);
        plan.id = PlanId::from_str(id).unwrap_or_else(|_| PlanId::generate());
        plan.name = name.to_owned();
        plan.price = Money::from_minor_units(cents, Currency::Usd);
        plan.allow_multiple = true;
        plan.fallback_plan_id = None;
        plan.allowances = vec![allowance];
        plan.duration_days = duration_days;
        plan
    };
    vec![
        plan(
            "plan_pages_1000_month",
            "1,000 pages (monthly)",
            Tier::Basic,
            5_000,
            Allowance {
                unit: Unit::Pages,
                included: Decimal::from(1_000),
                limit: AllowanceLimit::Hard,
                overage_unit_price: None,
                rollover_max: Some(Decimal::from(500)),
                top_up_unit_price: Some(Decimal::new(6, 2)),
            },
            None,
        ),
        plan(
            "plan_words_100k_month",
            "100,000 words (monthly)",
            Tier::Basic,
            10_000,
            Allowance {
                unit: Unit::Words,
                included: Decimal::from(100_000),
                limit: AllowanceLimit::Soft,
                overage_unit_price: Some(Decimal::new(1, 3)),
                rollover_max: None,
                top_up_unit_price: Some(Decimal::new(12, 4)),
            },
            None,
        ),
        plan(
            "plan_tokens_5000_month",
            "5,000 tokens (monthly)",
            Tier::Premium,
            4_000,
            Allowance {
                unit: Unit::Tokens,
                included: Decimal::from(5_000),
                limit: AllowanceLimit::Hard,
                overage_unit_price: None,
                rollover_max: None,
                top_up_unit_price: Some(Decimal::new(1, 2)),
            },
            None,
        ),
        plan(
            "plan_tokens_1000_30d",
            "1,000 tokens (30 days, one-off)",
            Tier::Basic,
            1_500,
            Allowance {
                unit: Unit::Tokens,
                included: Decimal::from(1_000),
                limit: AllowanceLimit::Hard,
                overage_unit_price: None,
                rollover_max: None,
                top_up_unit_price: None,
            },
            Some(30),
        ),
    ]
}

fn standard_plan(tier: Tier, interval: Interval, now: DateTime<Utc>) -> Plan {
    let interval_name = match interval {
        Interval::Week => "weekly",
        Interval::TwoWeeks => "bi-weekly",
        Interval::Month => "monthly",
        Interval::Quarter => "quarterly",
        Interval::Year => "annual",
    };
    Plan {
        id: PlanId::from_str(&format!("plan_{}_{}", tier.as_str(), interval.as_str()))
            .unwrap_or_else(|_| PlanId::generate()),
        name: format!("{} ({interval_name})", tier.display_name()),
        tier,
        interval,
        price: tier.standard_price(interval),
        trial_days: 0,
        features: tier.standard_features(),
        limits: tier.standard_limits(),
        allow_multiple: false,
        fallback_plan_id: match tier {
            Tier::Free => None,
            Tier::Basic | Tier::Premium | Tier::Enterprise => {
                PlanId::from_str("plan_free_month").ok()
            }
        },
        renewal_reminder_days: None,
        open_preorders_at_end: OpenPreorders::Keep,
        allowances: Vec::new(),
        duration_days: None,
        status: PlanStatus::Active,
        created_at: now,
        updated_at: now,
        version: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::testing::t0;
    use rust_decimal_macros::dec;

    #[test]
    fn seed_000_monthly_prices_and_limits() {
        let plans = standard_plans(t0());
        let find = |id: &str| {
            plans
                .iter()
                .find(|p| p.id.as_str() == id)
                .cloned()
                .expect("seeded plan")
        };
        let premium = find("plan_premium_month");
        assert_eq!(premium.price.amount(), dec!(79.99));
        assert_eq!(premium.limits.monthly_preorder_limit, Limit::Limited(50));
        assert_eq!(
            premium.limits.monthly_preorder_value_limit,
            Limit::Limited(Money::new(dec!(25000), Currency::Usd).expect("usd"))
        );
        assert_eq!(premium.limits.early_access_days, 7);
        assert_eq!(premium.limits.preorder_discount_percent, dec!(5));
        assert_eq!(premium.limits.tracked_products_limit, Limit::Limited(500));
        assert!(premium.features.contains(&Feature::BulkOperations));
        assert_eq!(premium.trial_days, 0);

        let basic = find("plan_basic_month");
        assert_eq!(basic.price.amount(), dec!(29.99));
        assert_eq!(basic.limits.monthly_preorder_limit, Limit::Limited(10));
        assert_eq!(basic.limits.preorder_discount_percent, dec!(2.5));
        assert_eq!(basic.features, [Feature::ApiAccess].into_iter().collect());

        let enterprise = find("plan_enterprise_month");
        assert_eq!(enterprise.price.amount(), dec!(199.99));
        assert_eq!(enterprise.limits.monthly_preorder_limit, Limit::Unlimited);
        assert_eq!(
            enterprise.limits.monthly_preorder_value_limit,
            Limit::Unlimited
        );
        assert_eq!(enterprise.limits.tracked_products_limit, Limit::Unlimited);
        assert_eq!(enterprise.limits.early_access_days, 14);
        assert!(premium.features.is_subset(&enterprise.features));
        assert!(enterprise.features.contains(&Feature::WhiteLabel));
    }

    #[test]
    fn every_paid_tier_is_seeded_for_every_interval() {
        let plans = standard_plans(t0());
        assert_eq!(plans.len(), 16);
        for tier in [Tier::Basic, Tier::Premium, Tier::Enterprise] {
            for interval in Interval::ALL {
                assert!(plans
                    .iter()
                    .any(|p| p.tier == tier && p.interval == interval));
            }
        }
    }

    #[test]
    fn longer_intervals_cost_less_per_month() {
        for tier in [Tier::Basic, Tier::Premium, Tier::Enterprise] {
            let monthly = tier.standard_price(Interval::Month).amount();
            assert!(tier.standard_price(Interval::Quarter).amount() < monthly * dec!(3));
            assert!(tier.standard_price(Interval::Year).amount() < monthly * dec!(12));
        }
    }

    #[test]
    fn a_plan_with_bad_fields_reports_each_of_them() {
        let errors = Plan::create(
            NewPlan {
                id: None,
                name: "  ".into(),
                tier: Tier::Basic,
                interval: Interval::Month,
                price: Money::new(dec!(-1), Currency::Usd).expect("usd"),
                trial_days: 10_000,
                features: None,
                limits: None,
                allow_multiple: false,
                fallback_plan_id: None,
                renewal_reminder_days: Some(61),
                open_preorders_at_end: Default::default(),
                allowances: Vec::new(),
                duration_days: None,
            },
            t0(),
        )
        .expect_err("invalid");
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            ["name", "price", "trial_days", "renewal_reminder_days"]
        );
    }
}
