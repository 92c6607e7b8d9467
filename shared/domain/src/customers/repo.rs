//! The customers' ports: where customers and their credit are stored.

use async_trait::async_trait;

use crate::customers::credit::CreditTransaction;
use crate::customers::Customer;
use crate::kernel::ids::CustomerId;
use crate::kernel::money::{Currency, Money};
use crate::kernel::page::{Page, PageRequest};
use crate::kernel::ports::StoreError;

#[async_trait]
pub trait CustomerRepo: Send + Sync {
    async fn get_customer(&self, id: &CustomerId) -> Result<Option<Customer>, StoreError>;
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError>;
    async fn update_customer(&self, customer: &mut Customer) -> Result<(), StoreError>;
    /// Newest first.
    async fn list_customers(&self, page: &PageRequest) -> Result<Page<Customer>, StoreError>;
}

/// A customer's credit balance (see [`crate::customers::credit`]). Changes are written with the invoice
/// they belong to ([`crate::invoicing::Invoice::credit_changes`], stored by [`crate::invoicing::InvoiceRepo`] in the invoice's
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
