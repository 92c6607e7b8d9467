//! Refunds by operators: full or partial, from a successful payment, once per request.
//!
//! A refund is claimed on the invoice before any money moves (see [`Invoice::claim_refund`]):
//! the claim is a conditional write, so refunds racing each other, to the card or to the credit
//! balance, never together give back more than the invoice took. A refund to the card then goes
//! to the processor under the claim's key and is settled by its answer; a refused one frees its
//! amount, and one whose answer was lost stays pending until the request is retried with the
//! same `Idempotency-Key` or the processor's report (`charge.refunded`) settles it.

use rust_decimal::Decimal;

use crate::collection::payments::PaymentError;
use crate::invoicing::{Invoice, RefundClaim, RefundDestination, RefundReason, RefundStatus};
use crate::kernel::access::Actor;
use crate::kernel::error::BillingError;
use crate::kernel::ids::InvoiceId;
use crate::kernel::service::Billing;

/// `POST /invoices/{id}/refunds`.
#[derive(Debug, Clone, Default)]
pub struct RefundRequest {
    /// In the invoice's currency; `None` refunds everything not refunded yet.
    pub amount: Option<Decimal>,
    pub reason: Option<RefundReason>,
    /// The caller's own key for this request (its `Idempotency-Key`, hashed). The processor's
    /// refund is keyed by it, so a retried request refunds once even if the refund was meanwhile
    /// recorded from the processor's report. Without it, the key is the invoice's next refund.
    pub request_key: Option<String>,
    /// Back to the card (the default) or to the customer's credit balance.
    pub to: RefundDestination,
}

impl Billing {
    /// Refunds part or all of what an invoice was paid: claimed first, then paid out.
    pub async fn refund_invoice(
        &self,
        actor: &Actor,
        id: &InvoiceId,
        request: RefundRequest,
    ) -> Result<Invoice, BillingError> {
        if !matches!(actor, Actor::Operator) {
            return Err(BillingError::NotFound("invoice"));
        }
        let claim = RefundClaim {
            amount: request.amount,
            reason: request.reason,
            to: request.to,
            request_key: request.request_key,
        };
        let now = self.now();
        let mut index = 0;
        let (invoice, _) = self
            .update_invoice_with(id, |invoice| {
                let (at, new) = invoice.claim_refund(&claim, now)?;
                index = at;
                Ok(new)
            })
            .await?;
        let refund = invoice.refunds[index].clone();
        let key = match (&refund.key, refund.status) {
            (Some(key), RefundStatus::Pending) => key.clone(),
            // To the credit balance (done in the claim), or settled already.
            _ => return Ok(invoice),
        };
        let (processor_refund_id, refused) = match self
            .payments
            .refund(&refund.processor_payment_id, refund.amount, &key)
            .await
        {
            Ok(id) => (Some(id), None),
            Err(e @ (PaymentError::Rejected(_) | PaymentError::Refused { .. })) => (None, Some(e)),
            // The answer was lost: the claim stays pending, holding its amount, until a retry
            // under the same key or the processor's report settles it.
            Err(e @ PaymentError::Transient(_)) => return Err(e.into()),
        };
        let (invoice, _) = self
            .update_invoice_with(&invoice.id, |invoice| {
                Ok(invoice.settle_refund(&key, processor_refund_id.as_deref(), now))
            })
            .await?;
        match refused {
            None => Ok(invoice),
            Some(PaymentError::Refused { code, message }) if code == "amount_too_large" => {
                Err(BillingError::field("amount", message))
            }
            Some(e) => Err(e.into()),
        }
    }
}
