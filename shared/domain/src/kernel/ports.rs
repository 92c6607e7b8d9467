//! Ports: what the domain needs from storage. Adapters (DynamoDB) implement them.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::catalogue::Plan;
use crate::customers::credit::CreditTransaction;
use crate::customers::{Customer, Email};
use crate::discounts::coupon::{Coupon, PromotionCode, Redemption, RedemptionLimit};
use crate::invoicing::Invoice;
use crate::kernel::ids::{
    CouponId, CustomerId, InvoiceId, PlanId, PromotionCodeId, SubscriptionId,
};
use crate::kernel::money::{Currency, Money};
use crate::kernel::page::{Page, PageRequest};
use crate::notifications::{EmailSuppression, NotificationPreferences, SendClaim};
use crate::subscriptions::Subscription;

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

#[async_trait]
pub trait PlanRepo: Send + Sync {
    async fn get_plan(&self, id: &PlanId) -> Result<Option<Plan>, StoreError>;
    /// Every plan, archived ones included, ordered by tier, interval and id.
    async fn list_plans(&self) -> Result<Vec<Plan>, StoreError>;
    /// Fails with [`StoreError::AlreadyExists`] when the id is taken.
    async fn insert_plan(&self, plan: &Plan) -> Result<(), StoreError>;
    /// Stores `plan` if the stored version is `plan.version`, then bumps `plan.version`.
    async fn update_plan(&self, plan: &mut Plan) -> Result<(), StoreError>;
}

#[async_trait]
pub trait CustomerRepo: Send + Sync {
    async fn get_customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError>;
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError>;
    async fn update_customer(&self, customer: &mut Customer) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_customers(&self, page: &PageRequest) -> Result<Page<Customer>, StoreError>;
}

#[async_trait]
pub trait SubscriptionRepo: Send + Sync {
    async fn get_subscription(
        &self,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError>;
    /// Stores a new subscription; an exclusive one also takes the customer's single slot, in
    /// the same transaction ([`StoreError::SubscriptionSlotTaken`] when held).
    async fn insert_subscription(&self, subscription: &Subscription) -> Result<(), StoreError>;
    /// Conditional on `subscription.version`; bumps it. An exclusive subscription that has ended
    /// gives the customer's slot back in the same transaction.
    async fn update_subscription(&self, subscription: &mut Subscription) -> Result<(), StoreError>;
    /// [`SubscriptionRepo::insert_subscription`] and the redemption of its discount, in one
    /// transaction: every limit of `redemption` is counted by a conditional write, and
    /// [`StoreError::RedemptionRefused`] names the one that refused (nothing is written then).
    async fn insert_subscription_redeeming(
        &self,
        subscription: &Subscription,
        redemption: &Redemption,
    ) -> Result<(), StoreError>;
    /// [`SubscriptionRepo::update_subscription`] and a redemption, in one transaction.
    async fn update_subscription_redeeming(
        &self,
        subscription: &mut Subscription,
        redemption: &Redemption,
    ) -> Result<(), StoreError>;
    /// A customer's subscriptions, newest first.
    async fn list_subscriptions(
        &self,
        customer_id: &CustomerId,
        page: &PageRequest,
    ) -> Result<Page<Subscription>, StoreError>;
}

#[async_trait]
pub trait InvoiceRepo: Send + Sync {
    async fn get_invoice(&self, id: &InvoiceId) -> Result<Option<Invoice>, StoreError>;
    /// Stores a new invoice, at most one per subscription and period start (plan-change
    /// invoices apart, one per instant): a second invoice for the same period fails with [`StoreError::AlreadyExists`] (load it with
    /// [`InvoiceRepo::find_period_invoice`]), so retried renewals never invoice twice.
    async fn insert_invoice(&self, invoice: &Invoice) -> Result<(), StoreError>;
    /// The invoice of a subscription's period, if one was created.
    async fn find_period_invoice(
        &self,
        subscription_id: &SubscriptionId,
        period_start: DateTime<Utc>,
    ) -> Result<Option<Invoice>, StoreError>;
    /// Conditional on `invoice.version`; bumps it. Stores the invoice's events and credit
    /// changes in the same transaction, and clears them.
    async fn update_invoice(&self, invoice: &mut Invoice) -> Result<(), StoreError>;
    /// A subscription's invoices, newest first.
    async fn list_invoices(
        &self,
        subscription_id: &SubscriptionId,
        page: &PageRequest,
    ) -> Result<Page<Invoice>, StoreError>;
}

#[async_trait]
pub trait CouponRepo: Send + Sync {
    /// Fails with [`StoreError::AlreadyExists`] when the id is taken.
    async fn insert_coupon(&self, coupon: &Coupon) -> Result<(), StoreError>;
    async fn get_coupon(&self, id: &CouponId) -> Result<Option<Coupon>, StoreError>;
    /// Every coupon, newest first.
    async fn list_coupons(&self) -> Result<Vec<Coupon>, StoreError>;
    /// Conditional on `coupon.version` (a redemption bumps it too); bumps it.
    async fn update_coupon(&self, coupon: &mut Coupon) -> Result<(), StoreError>;
    /// Fails with [`StoreError::AlreadyExists`] when the code is taken.
    async fn insert_promotion_code(&self, code: &PromotionCode) -> Result<(), StoreError>;
    async fn get_promotion_code(
        &self,
        id: &PromotionCodeId,
    ) -> Result<Option<PromotionCode>, StoreError>;
    /// The promotion code spelled `code` (already normalized).
    async fn find_promotion_code(&self, code: &str) -> Result<Option<PromotionCode>, StoreError>;
    /// A coupon's promotion codes, newest first.
    async fn list_promotion_codes(
        &self,
        coupon_id: &CouponId,
    ) -> Result<Vec<PromotionCode>, StoreError>;
    /// Conditional on `code.version` (a redemption bumps it too); bumps it.
    async fn update_promotion_code(&self, code: &mut PromotionCode) -> Result<(), StoreError>;
}

/// A customer's credit balance (see [`crate::customers::credit`]). Changes are written with the invoice
/// they belong to ([`Invoice::credit_changes`], stored by [`InvoiceRepo`] in the invoice's
/// transaction); a change that would take the balance below zero fails that write with
/// [`StoreError::VersionConflict`], and the caller reads the balance again.
#[async_trait]
pub trait CreditRepo: Send + Sync {
    /// The customer's credit in `currency` (zero if none).
    async fn credit_balance(
        &self,
        customer_id: &CustomerId,
        currency: Currency,
    ) -> Result<Money, StoreError>;
    /// Every currency in which the customer has or had credit.
    async fn credit_balances(&self, customer_id: &CustomerId) -> Result<Vec<Money>, StoreError>;
    /// The customer's credit transactions, newest first.
    async fn list_credit_transactions(
        &self,
        customer_id: &CustomerId,
        page: &PageRequest,
    ) -> Result<Page<CreditTransaction>, StoreError>;
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

/// Customers' notification preferences, and the record of which emails were sent (so that a
/// redelivered event sends nothing twice).
#[async_trait]
pub trait NotificationRepo: Send + Sync {
    /// The stored preferences, if the customer ever set any.
    async fn get_preferences(
        &self,
        customer_id: &CustomerId,
    ) -> Result<Option<NotificationPreferences>, StoreError>;
    /// Stores the preferences: a first write when `version` is 0, otherwise conditional on it
    /// ([`StoreError::VersionConflict`]); bumps it.
    async fn put_preferences(&self, prefs: &mut NotificationPreferences) -> Result<(), StoreError>;
    /// Takes the right to send the email `key` until `lease_until`: a claim that was never
    /// marked sent and whose lease ran out (a sender that died) can be taken again.
    async fn claim_send(
        &self,
        key: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<SendClaim, StoreError>;
    /// The email `key` went out (the mail service's message id).
    async fn mark_sent(
        &self,
        key: &str,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Gives a claim up (the send failed and will be retried).
    async fn release_send(&self, key: &str) -> Result<(), StoreError>;
    /// Suppresses an address; an address suppressed already keeps its first reason.
    async fn suppress(&self, suppression: &EmailSuppression) -> Result<(), StoreError>;
    /// The suppressions of those of `addresses` that are suppressed.
    async fn suppressions(&self, addresses: &[Email]) -> Result<Vec<EmailSuppression>, StoreError>;
    /// Lifts the suppression of `address` (as [`EmailSuppression::key`] gives it).
    async fn lift_suppression(&self, address: &str) -> Result<(), StoreError>;
}
