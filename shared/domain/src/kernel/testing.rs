//! Builders with sensible defaults for the domain's own tests.

use std::str::FromStr;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::catalogue::{standard_plans, Plan};
use crate::customers::Metadata;
use crate::kernel::ids::{CustomerId, PlanId};
use crate::subscriptions::NewSubscription;

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0)
        .single()
        .expect("valid date")
}

pub fn days(n: i64) -> Duration {
    Duration::days(n)
}

pub fn monthly_plan() -> Plan {
    standard_plans(t0())
        .into_iter()
        .find(|p| p.id.as_str() == "plan_premium_month")
        .expect("seeded")
}

pub fn customer_id() -> CustomerId {
    CustomerId::from_str("cus_acme").expect("valid id")
}

pub fn new_subscription() -> NewSubscription {
    NewSubscription {
        customer_id: customer_id(),
        plan_id: PlanId::from_str("plan_premium_month").expect("valid id"),
        payment_method_id: Some("pm_card_visa".into()),
        auto_renew: true,
        metadata: Metadata::new(),
        trial_days: None,
        discount: Default::default(),
        items: Vec::new(),
        promotional_first: true,
    }
}
