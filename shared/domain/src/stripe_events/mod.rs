//! What the payment processor reports on its own (Stripe's webhooks): payments that completed
//! or failed after authentication, refunds and disputes made outside this service, payment
//! methods detached, customers deleted.
//!
//! Reports are hints, not orders. Each handler reads the current state (of our objects, and of
//! the processor's where the report alone could be stale) and moves things only forward, so a
//! report that is delivered twice, late or out of order changes nothing twice and undoes nothing.

use crate::collection::payments::PaymentError;
use crate::invoicing::{DisputeRecord, DisputeStatus, Invoice, InvoiceStatus};
use crate::kernel::error::BillingError;
use crate::kernel::ids::{CustomerId, InvoiceId, SubscriptionId};
use crate::kernel::money::Money;
use crate::kernel::retry::{retry_on_conflict, written, Written};
use crate::kernel::service::Billing;
use crate::subscriptions::{Subscription, SubscriptionStatus};

/// A dispute as the processor reported it (`charge.dispute.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeReport {
    pub dispute_id: String,
    pub payment_id: String,
    pub amount: Money,
    pub reason: String,
    pub status: DisputeStatus,
}

impl Billing {
    /// Loads subscription `id`, applies `change` (`false`: nothing to change) and stores it
    /// conditionally, again on a version conflict. `None` when there is no such subscription.
    pub(crate) async fn update_subscription_with(
        &self,
        id: &SubscriptionId,
        mut change: impl FnMut(&mut Subscription) -> bool + Send,
    ) -> Result<Option<bool>, BillingError> {
        retry_on_conflict!("subscription", {
            let Some(mut sub) = self.subscriptions.get_subscription(id).await? else {
                return Ok(Written::Done(None));
            };
            if !change(&mut sub) {
                return Ok(Written::Done(Some(false)));
            }
            let write = self.subscriptions.update_subscription(&mut sub).await;
            written(write, Some(true))
        })
    }

    /// The invoice a processor payment belongs to, from the payment's metadata as the
    /// processor holds it (`None`: not one of ours).
    async fn invoice_of_payment(
        &self,
        payment_id: &str,
    ) -> Result<Option<(InvoiceId, crate::collection::payments::ProcessorPayment)>, BillingError>
    {
        let Some(payment) = self
            .payments
            .payment(payment_id)
            .await
            .map_err(BillingError::Payment)?
        else {
            return Ok(None);
        };
        Ok(payment
            .invoice_id
            .as_deref()
            .and_then(|id| id.parse::<InvoiceId>().ok())
            .map(|id| (id, payment)))
    }

    /// The processor reports that `payment_id` succeeded for `invoice_id` (e.g. after the
    /// customer authenticated). Pays the invoice if it did not know yet and brings its
    /// subscription back to active. A redelivered or late report changes nothing; a report
    /// that arrives before the worker recorded the charge is recorded here, and the worker then
    /// finds the invoice paid. Returns whether anything changed.
    pub async fn confirm_payment(
        &self,
        invoice_id: &InvoiceId,
        payment_id: &str,
        amount: Money,
    ) -> Result<bool, BillingError> {
        let now = self.now();
        let (invoice, changed) = self
            .update_invoice_with(invoice_id, |invoice| {
                if invoice.status != InvoiceStatus::Open {
                    return Ok(false);
                }
                let known = invoice
                    .payments
                    .iter()
                    .any(|p| p.processor_payment_id.as_deref() == Some(payment_id));
                if known {
                    invoice.confirm_payment(payment_id, amount, now)
                } else {
                    invoice.record_payment(payment_id, amount, now)?;
                    Ok(true)
                }
            })
            .await?;
        if invoice.status == InvoiceStatus::Paid {
            self.reactivate_after_payment(&invoice).await?;
            self.after_payment_elsewhere(&invoice).await?;
        }
        Ok(changed)
    }

    /// The processor reports that payment `payment_id` succeeded (`payment_intent.succeeded`).
    /// The report is a hint: the payment is read from the processor, and only a payment that
    /// succeeded there, for this invoice, pays it, with what it took. Returns whether anything
    /// changed.
    pub async fn payment_success_reported(
        &self,
        invoice_id: &InvoiceId,
        payment_id: &str,
    ) -> Result<bool, BillingError> {
        let Some(payment) = self.payments.payment(payment_id).await? else {
            return Ok(false);
        };
        if !payment.succeeded || payment.invoice_id.as_deref() != Some(invoice_id.as_str()) {
            return Ok(false);
        }
        self.confirm_payment(invoice_id, payment_id, payment.amount_received)
            .await
    }

    /// A subscription whose latest invoice is paid is active again (incomplete or past due
    /// before). Nothing happens for an older invoice or a subscription that has ended.
    async fn reactivate_after_payment(&self, invoice: &Invoice) -> Result<(), BillingError> {
        let now = self.now();
        self.update_subscription_with(&invoice.subscription_id, |sub| {
            let owes = matches!(
                sub.status,
                SubscriptionStatus::Incomplete | SubscriptionStatus::PastDue
            );
            if sub.latest_invoice_id.as_ref() != Some(&invoice.id) || !owes {
                return false;
            }
            sub.payment_succeeded(now);
            true
        })
        .await
        .map(|_| ())
    }

    /// What a payment made outside a charge of ours (the customer authenticated it, or paid
    /// it in the processor's page) completes: a pre-order's invoice fulfils the pre-order; a
    /// period's invoice ships the period's items.
    async fn after_payment_elsewhere(&self, invoice: &Invoice) -> Result<(), BillingError> {
        if invoice.billing_reason == crate::invoicing::BillingReason::TopUp {
            // A top-up is granted only when paid at once; one paid later grants nothing here.
            return Ok(());
        }
        if invoice.billing_reason == crate::invoicing::BillingReason::Preorder {
            if let Some(preorder) = crate::preorders::fulfilment::preorder_of_invoice(&invoice.id) {
                self.charge_preorder(&preorder).await?;
            }
            return Ok(());
        }
        if let Some(sub) = self
            .subscriptions
            .get_subscription(&invoice.subscription_id)
            .await?
        {
            self.ship_paid_period(&sub, invoice).await?;
        }
        Ok(())
    }

    /// The processor reports that `payment_id`, which asked the customer to authenticate,
    /// failed (`payment_intent.payment_failed`). The attempt is recorded as failed and the
    /// customer is told (an `invoice.payment_failed` event); dunning goes on as scheduled.
    pub async fn payment_failure_reported(
        &self,
        invoice_id: &InvoiceId,
        payment_id: &str,
        code: &str,
        message: &str,
    ) -> Result<bool, BillingError> {
        let now = self.now();
        self.update_invoice_with(invoice_id, |invoice| {
            Ok(invoice.record_reported_failure(payment_id, code, message, now))
        })
        .await
        .map(|(_, changed)| changed)
    }

    /// The processor reports refunds of `payment_id` (`charge.refunded`): whatever refunds it
    /// holds that the invoice does not know yet (made in its dashboard, or by a refund call
    /// whose answer was lost) are recorded.
    pub async fn processor_refunds_reported(&self, payment_id: &str) -> Result<bool, BillingError> {
        let Some((invoice_id, payment)) = self.invoice_of_payment(payment_id).await? else {
            return Ok(false);
        };
        let now = self.now();
        self.update_invoice_with(&invoice_id, |invoice| {
            Ok(invoice.record_processor_refunds(&payment.payment_id, &payment.refunds, now))
        })
        .await
        .map(|(_, changed)| changed)
    }

    /// The processor reports a dispute (`charge.dispute.created`, `.updated`, `.closed`).
    pub async fn dispute_reported(&self, report: DisputeReport) -> Result<bool, BillingError> {
        let Some((invoice_id, _)) = self.invoice_of_payment(&report.payment_id).await? else {
            return Ok(false);
        };
        let now = self.now();
        self.update_invoice_with(&invoice_id, |invoice| {
            if report.amount.currency() != invoice.currency {
                return Ok(false);
            }
            Ok(invoice.record_dispute(
                DisputeRecord {
                    processor_dispute_id: report.dispute_id.clone(),
                    processor_payment_id: report.payment_id.clone(),
                    amount: report.amount,
                    reason: report.reason.clone(),
                    status: report.status,
                    created_at: now,
                    updated_at: now,
                },
                now,
            ))
        })
        .await
        .map(|(_, changed)| changed)
    }

    /// The processor reports that `payment_method_id` was detached from its customer
    /// `processor_customer_id` (`payment_method.detached`). If it is still detached, the
    /// customer's default and the live subscriptions that charge it forget it, so the next
    /// charge fails visibly (dunning, with a link to add a card) instead of using a card that
    /// is gone. Returns whether anything changed.
    pub async fn payment_method_detached(
        &self,
        processor_customer_id: &str,
        payment_method_id: &str,
    ) -> Result<bool, BillingError> {
        let owner = self
            .payments
            .payment_method_owner(payment_method_id)
            .await
            .map_err(BillingError::Payment)?;
        if owner.as_deref() == Some(processor_customer_id) {
            // Attached again since: the report is stale.
            return Ok(false);
        }
        let reference = self
            .payments
            .customer_reference(processor_customer_id)
            .await
            .map_err(|e| match e {
                PaymentError::Rejected(_) | PaymentError::Refused { .. } => {
                    BillingError::NotFound("customer")
                }
                transient => BillingError::Payment(transient),
            })?;
        let Some(customer_id) = reference.and_then(|id| id.parse::<CustomerId>().ok()) else {
            return Ok(false);
        };
        let now = self.now();
        let (customer, mut changed) = match self
            .update_customer_with(&customer_id, None, |c| {
                if c.default_payment_method_id.as_deref() != Some(payment_method_id) {
                    return false;
                }
                c.default_payment_method_id = None;
                c.updated_at = now;
                true
            })
            .await
        {
            Ok(found) => found,
            Err(BillingError::NotFound(_)) => return Ok(false),
            Err(e) => return Err(e),
        };
        let charging: Vec<SubscriptionId> = self
            .live_subscriptions(&customer.id)
            .await?
            .into_iter()
            .filter(|s| s.payment_method_id.as_deref() == Some(payment_method_id))
            .map(|s| s.id)
            .collect();
        for id in charging {
            let cleared = self
                .update_subscription_with(&id, |s| {
                    if s.payment_method_id.as_deref() != Some(payment_method_id) {
                        return false;
                    }
                    s.payment_method_id = None;
                    s.updated_at = now;
                    true
                })
                .await?;
            changed |= cleared == Some(true);
        }
        Ok(changed)
    }

    /// The processor deleted its customer: forget it and the payment method on file, so the
    /// next charge fails visibly (dunning) instead of charging a customer that is gone.
    pub async fn processor_customer_deleted(
        &self,
        customer_id: &CustomerId,
        processor_customer_id: &str,
    ) -> Result<bool, BillingError> {
        let now = self.now();
        match self
            .update_customer_with(customer_id, None, |customer| {
                if customer.processor_customer_id.as_deref() != Some(processor_customer_id) {
                    return false;
                }
                customer.processor_customer_id = None;
                customer.default_payment_method_id = None;
                customer.updated_at = now;
                true
            })
            .await
        {
            Ok((_, changed)) => Ok(changed),
            Err(BillingError::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }
}
