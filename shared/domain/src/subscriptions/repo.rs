//! The subscriptions' port: where subscriptions are stored, with the discount redemptions and the customer's single-subscription slot they take.

use async_trait::async_trait;

use crate::discounts::coupon::Redemption;
use crate::kernel::ids::{CustomerId, SubscriptionId};
use crate::kernel::page::{Page, PageRequest};
use crate::kernel::ports::StoreError;
use crate::subscriptions::Subscription;

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
