//! What every port shares: the store's errors, and idempotency keys (the API's). Each
//! capability declares its own repository port beside its entities (`catalogue::PlanRepo`,
//! `customers::{CustomerRepo, CreditRepo}`, `subscriptions::SubscriptionRepo`,
//! `invoicing::InvoiceRepo`, `discounts::CouponRepo`, `inventory::ProductRepo`, `notifications::NotificationRepo`,
//! `webhooks::WebhookRepo`); the DynamoDB adapter implements them all.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::discounts::coupon::RedemptionLimit;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stored version is not the one the update was based on.
    #[error("the item was changed concurrently")]
    VersionConflict,
    /// An item with this id exists already.
    #[error("the item exists already")]
    AlreadyExists,
    /// The customer already holds a live subscription on a single-subscription plan.
    #[error("the customer already has a live subscription")]
    SubscriptionSlotTaken,
    /// A pagination cursor that names no item of this list.
    #[error("starting_after names no item of this list")]
    UnknownCursor,
    /// A coupon, promotion code or per-customer limit refused the redemption (or the coupon or
    /// code was archived meanwhile); nothing was written.
    #[error("the redemption was refused: {0:?}")]
    RedemptionRefused(RedemptionLimit),
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored item is unreadable: {0}")]
    Corrupt(String),
}

/// What an idempotent write answered the first time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedResponse {
    pub status: u16,
    pub body: String,
}

/// The outcome of claiming an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key was free: go ahead, then record the response.
    Claimed,
    /// The key was used before with this request fingerprint.
    Existing {
        fingerprint: String,
        response: Option<RecordedResponse>,
    },
}

#[async_trait]
pub trait IdempotencyRepo: Send + Sync {
    /// Claims `key` within `scope` (the caller's identity) until `expires_at`. A record whose
    /// expiry has passed counts as free (stores need not delete expired records on time).
    async fn claim(
        &self,
        scope: &str,
        key: &str,
        fingerprint: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<IdempotencyClaim, StoreError>;
    async fn record(
        &self,
        scope: &str,
        key: &str,
        response: &RecordedResponse,
    ) -> Result<(), StoreError>;
    /// Frees a claimed key whose request failed in a way worth retrying.
    async fn release(&self, scope: &str, key: &str) -> Result<(), StoreError>;
}
