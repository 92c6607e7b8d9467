//! Refunds by operators: full or partial, from a successful payment, once per request.

use rust_decimal::Decimal;

use crate::access::Actor;
use crate::error::BillingError;
use crate::ids::InvoiceId;
use crate::invoice::{Invoice, RefundDestination, RefundReason, RefundRecord};
use crate::money::Money;
use crate::service::{stale_on_conflict, Billing};

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
    /// Refunds part or all of what an invoice was paid. The processor call carries the key of
    /// the invoice's next refund, so a retried request refunds once.
    pub async fn refund_invoice(
        &self,
        actor: &Actor,
        id: &InvoiceId,
        request: RefundRequest,
    ) -> Result<Invoice, BillingError> {
        if !matches!(actor, Actor::Operator) {
            return Err(BillingError::NotFound("invoice"));
        }
        let invoice = self.get_invoice(actor, id).await?;
        let conflict = |e: crate::money::MoneyError| BillingError::Conflict(e.to_string());
        let left = invoice
            .amount_paid
            .checked_sub(&invoice.amount_refunded().map_err(conflict)?)
            .map_err(conflict)?;
        let amount = match request.amount {
            Some(amount) => Money::new(amount, invoice.currency)
                .map_err(|e| BillingError::field("amount", e.to_string()))?,
            None => left,
        };
        if amount.amount() > left.amount() {
            return Err(BillingError::field(
                "amount",
                format!("at most {} is left to refund", left.amount()),
            ));
        }
        let payment_id = invoice.refundable_payment(amount)?;
        if request.to == RefundDestination::CreditBalance {
            // No processor call: one conditional write of the invoice and the balance.
            let mut invoice = invoice;
            let now = self.now();
            invoice.record_refund(
                RefundRecord {
                    processor_refund_id: None,
                    destination: RefundDestination::CreditBalance,
                    processor_payment_id: payment_id,
                    amount,
                    reason: request.reason,
                    created_at: now,
                },
                now,
            );
            self.invoices
                .update_invoice(&mut invoice)
                .await
                .map_err(stale_on_conflict("invoice"))?;
            return Ok(invoice);
        }
        let refund_id = self
            .payments
            .refund(
                &payment_id,
                amount,
                &match &request.request_key {
                    Some(key) => format!("invoice:{}:refund:request:{key}", invoice.id),
                    None => invoice.next_refund_key(),
                },
            )
            .await?;
        let now = self.now();
        let refund = RefundRecord {
            processor_refund_id: Some(refund_id),
            destination: RefundDestination::PaymentMethod,
            processor_payment_id: payment_id,
            amount,
            reason: request.reason,
            created_at: now,
        };
        // The processor's own report (`charge.refunded`) may have recorded the refund first.
        let (invoice, _) = self
            .update_invoice_with(&invoice.id, |invoice| {
                let known = invoice.refunds.iter().any(|r| {
                    r.processor_refund_id.is_some()
                        && r.processor_refund_id == refund.processor_refund_id
                });
                if !known {
                    invoice.record_refund(refund.clone(), now);
                }
                Ok(!known)
            })
            .await?;
        Ok(invoice)
    }
}
