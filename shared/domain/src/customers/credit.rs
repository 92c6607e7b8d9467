//! A customer's credit balance, per currency, as Stripe's customer balance (but positive: money
//! the customer can spend). Credit comes from invoices whose total is negative (a downgrade's
//! credit larger than the next charge), from refunds an operator sends to the balance instead of
//! the card, and from invoices voided after credit paid part of them. It is spent on the next
//! invoices in that currency, before any card is charged.
//!
//! Rules (exact, no rounding: every amount is already in the currency's minor units):
//! - finalizing an invoice with a positive amount due takes `min(balance, amount due)` from the
//!   balance (`credit_applied`); the card is charged only for the rest;
//! - finalizing an invoice with a negative total adds `-total` to the balance (`credit_issued`)
//!   and leaves nothing due;
//! - the balance never goes below zero: each change is a conditional write, in the same
//!   transaction as the invoice it belongs to, and a change that would overdraw it is retried
//!   with the balance read again;
//! - every change is a transaction of the customer's ledger with a stable id (the invoice's id
//!   and what happened), so the same change is never counted twice.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::kernel::ids::{CustomerId, InvoiceId};
use crate::kernel::money::Money;

/// Why a customer's balance changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CreditTransactionKind {
    /// Credit spent on an invoice (negative).
    AppliedToInvoice,
    /// An invoice's negative total, credited (positive).
    InvoiceCredit,
    /// An invoice voided after credit paid part of it: the credit comes back (positive).
    InvoiceVoided,
    /// A refund an operator sent to the balance instead of the card (positive).
    Refund,
}

/// One change of a customer's balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditTransaction {
    /// Stable for the change it records: `<invoice id>:<what>`.
    pub id: String,
    pub customer_id: CustomerId,
    pub kind: CreditTransactionKind,
    /// Positive adds credit, negative spends it.
    pub amount: Money,
    pub invoice_id: Option<InvoiceId>,
    pub created_at: DateTime<Utc>,
}

impl CreditTransaction {
    pub(crate) fn for_invoice(
        invoice_id: &InvoiceId,
        customer_id: &CustomerId,
        kind: CreditTransactionKind,
        what: &str,
        amount: Money,
        now: DateTime<Utc>,
    ) -> CreditTransaction {
        CreditTransaction {
            id: format!("{invoice_id}:{what}"),
            customer_id: customer_id.clone(),
            kind,
            amount,
            invoice_id: Some(invoice_id.clone()),
            created_at: now,
        }
    }
}

/// Credit available to a customer, read before it is spent. The write that spends it is
/// conditional on the balance still covering the amount.
pub fn spendable(balance: Money, due: Money) -> Money {
    if balance.is_negative() || due.is_negative() {
        return Money::zero(due.currency());
    }
    if balance.amount() < due.amount() {
        balance
    } else {
        due
    }
}

impl crate::kernel::service::Billing {
    /// `GET /customers/{id}/credit-balance`: the customer's credit, per currency.
    pub async fn credit_balances(
        &self,
        actor: &crate::kernel::access::Actor,
        customer_id: &CustomerId,
    ) -> Result<Vec<Money>, crate::BillingError> {
        let customer = self.get_customer(actor, customer_id).await?;
        Ok(self.credits.credit_balances(&customer.id).await?)
    }

    /// `GET /customers/{id}/credit-transactions`: every change of the balance, newest first.
    pub async fn list_credit_transactions(
        &self,
        actor: &crate::kernel::access::Actor,
        customer_id: &CustomerId,
        page: &crate::kernel::page::PageRequest,
    ) -> Result<crate::kernel::page::Page<CreditTransaction>, crate::BillingError> {
        let customer = self.get_customer(actor, customer_id).await?;
        match self
            .credits
            .list_credit_transactions(&customer.id, page)
            .await
        {
            Err(crate::kernel::ports::StoreError::UnknownCursor) => {
                Err(crate::BillingError::field(
                    "starting_after",
                    "names no credit transaction of this customer",
                ))
            }
            other => Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::money::Currency;
    use proptest::prelude::*;

    fn usd(cents: i64) -> Money {
        Money::from_minor_units(cents, Currency::Usd)
    }

    #[test]
    fn credit_pays_what_it_covers_and_no_more() {
        assert_eq!(spendable(usd(2000), usd(7999)), usd(2000));
        assert_eq!(spendable(usd(10_000), usd(7999)), usd(7999));
        assert_eq!(spendable(usd(0), usd(7999)), usd(0));
        assert_eq!(spendable(usd(500), usd(-100)), usd(0));
    }

    proptest! {
        #[test]
        fn spent_credit_and_the_charge_add_up_to_what_was_due(balance in 0i64..1_000_000, due in 0i64..1_000_000) {
            let spent = spendable(usd(balance), usd(due));
            let charged = usd(due).checked_sub(&spent).expect("same currency");
            prop_assert!(!charged.is_negative());
            prop_assert!(spent.amount() <= usd(balance).amount());
            prop_assert_eq!(spent.checked_add(&charged), Ok(usd(due)));
        }
    }
}
