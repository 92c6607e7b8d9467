//! The invoicing port: where invoices are stored, one per subscription period.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::invoicing::revenue::RevenueDay;
use crate::invoicing::Invoice;
use crate::kernel::ids::{InvoiceId, SubscriptionId};
use crate::kernel::page::{Page, PageRequest};
use crate::kernel::ports::StoreError;

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
    /// The revenue report's daily totals from `from` to `to` (inclusive): what paid invoices
    /// took and refunds gave back, per day, currency and plan.
    async fn revenue_by_day(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<RevenueDay>, StoreError>;
}
