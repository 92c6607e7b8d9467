//! What every item shares: the keys (`pk`, `sk`, the list and due indexes' keys) and how
//! timestamps and amounts are written. The item shapes themselves, and their conversion to and
//! from domain types, are beside their repositories (`plans.rs`, `customers.rs`,
//! `subscriptions.rs`, `invoices.rs`, ...). Every item has `pk`, `sk`, `entity` and `version`.

use std::str::FromStr;

use billing_domain::kernel::ids::{CustomerId, InvoiceId, PlanId, SubscriptionId};
use billing_domain::kernel::money::{Currency, Money};
use billing_domain::kernel::ports::StoreError;
use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The attributes every listed entity has (a plan, customer, subscription, invoice, coupon,
/// promotion code, webhook endpoint or delivery): its key, its list index's key, what it is,
/// when it was created and last changed, and its version, which every conditional write
/// compares. Flattened into each item, so the stored attributes are these names.
#[derive(Debug, Serialize, Deserialize)]
pub struct EntityKeys {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
    pub entity: String,
    pub created_at: String,
    pub updated_at: String,
    pub version: u64,
}

/// Number of partitions of the due index; the scheduler queries each.
pub const DUE_SHARDS: u32 = 16;

/// Timestamps as fixed-width RFC 3339 strings, so they sort as text.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn parse_ts(field: &str, s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("{field}: {e}")))
}

pub(crate) fn parse_opt_ts(
    field: &str,
    s: &Option<String>,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.as_deref().map(|s| parse_ts(field, s)).transpose()
}

pub(crate) fn corrupt<E: std::fmt::Display>(field: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{field}: {e}"))
}

pub(crate) fn money(
    field: &'static str,
    amount: &str,
    currency: Currency,
) -> Result<Money, StoreError> {
    let amount = Decimal::from_str(amount).map_err(corrupt(field))?;
    Money::new(amount, currency).map_err(corrupt(field))
}

pub fn plan_pk(id: &PlanId) -> String {
    format!("PLAN#{id}")
}
pub fn customer_pk(id: &CustomerId) -> String {
    format!("CUS#{id}")
}
pub fn subscription_pk(id: &SubscriptionId) -> String {
    format!("SUB#{id}")
}
pub fn customer_subscriptions_gsi1pk(id: &CustomerId) -> String {
    format!("CUS#{id}#SUBS")
}
pub const PLANS_GSI1PK: &str = "PLANS";
pub const CUSTOMERS_GSI1PK: &str = "CUSTOMERS";
pub const SINGLE_SLOT_SK: &str = "SLOT#SINGLE";

/// The due-index partition of a subscription: a stable hash of its id.
pub fn due_shard(id: &SubscriptionId) -> u32 {
    // FNV-1a: stable across releases, unlike std's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for b in id.as_str().bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % DUE_SHARDS
}

pub fn due_pk(shard: u32) -> String {
    format!("DUE#{shard:02}")
}

pub fn invoice_pk(id: &InvoiceId) -> String {
    format!("IN#{id}")
}
pub fn subscription_invoices_gsi1pk(id: &SubscriptionId) -> String {
    format!("SUB#{id}#INVOICES")
}
/// The guard item that makes a period's invoice unique: `pk = SUB#<id>`, this `sk`.
pub fn period_invoice_sk(period_start: DateTime<Utc>) -> String {
    format!("INVOICE_PERIOD#{}", ts(period_start))
}
/// A plan change's invoice: at most one per version of the subscription it changes.
pub fn update_invoice_sk(subscription_version: u64) -> String {
    format!("INVOICE_UPDATE#v{subscription_version}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_shards_are_stable_and_in_range() {
        let id = SubscriptionId::from_str("sub_abc").expect("id");
        assert_eq!(due_shard(&id), due_shard(&id));
        for _ in 0..100 {
            assert!(due_shard(&SubscriptionId::generate()) < DUE_SHARDS);
        }
    }

    #[test]
    fn timestamps_sort_as_text() {
        let a = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .expect("ts")
            .with_timezone(&Utc);
        let b = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.5Z")
            .expect("ts")
            .with_timezone(&Utc);
        assert!(ts(a) < ts(b));
        assert_eq!(ts(a).len(), ts(b).len());
    }
}
