//! The notifications' port: preferences, the record of emails sent, suppressed addresses.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::customers::Email;
use crate::kernel::ids::CustomerId;
use crate::kernel::ports::StoreError;
use crate::notifications::{EmailSuppression, NotificationPreferences, SendClaim};

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
