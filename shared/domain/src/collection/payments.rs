//! The payments port: what billing needs from a payment processor (Stripe, through an adapter).
//! Every call carries an idempotency key derived from our own ids, so a retried call, or a
//! retried Lambda, can never charge twice.

use async_trait::async_trait;

use crate::kernel::money::Money;

/// A charge of a saved payment method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// The processor's customer id (`cus_...` at Stripe).
    pub processor_customer_id: String,
    pub payment_method_id: String,
    pub amount: Money,
    /// The customer is not present (renewals); present at subscription time.
    pub off_session: bool,
    /// E.g. `invoice:<invoice id>:attempt:<n>`.
    pub idempotency_key: String,
    pub description: String,
    /// Our ids, stored with the payment for reconciliation.
    pub metadata: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    Succeeded {
        payment_id: String,
    },
    /// The customer must authenticate (SCA) before the payment can complete.
    RequiresAction {
        payment_id: String,
    },
    /// Accepted but not settled yet (`processing`: a bank debit); its outcome comes later as
    /// the processor's report.
    Processing {
        payment_id: String,
    },
    /// The card was declined; `code` is the processor's (`card_declined`, `insufficient_funds`…).
    Declined {
        payment_id: Option<String>,
        code: String,
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachOutcome {
    Attached { payment_method_id: String },
    Declined { code: String, message: String },
}

/// A refund as the processor holds it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorRefund {
    /// `re_...` at Stripe.
    pub refund_id: String,
    pub amount: Money,
    /// Failed and canceled refunds gave nothing back; pending and succeeded ones did.
    pub gave_back: bool,
    /// The key our refund call gave it (its metadata), naming the claim it settles; `None` for
    /// a refund made elsewhere (the processor's dashboard).
    pub key: Option<String>,
}

/// A payment as the processor holds it now. Webhook events are hints: handlers read the
/// current state, so an event that arrives late or twice cannot move anything backwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorPayment {
    pub payment_id: String,
    /// Our invoice, from the metadata we gave the payment; `None` for payments not ours.
    pub invoice_id: Option<String>,
    /// Every refund of the payment, oldest first.
    pub refunds: Vec<ProcessorRefund>,
    /// Whether it succeeded (`succeeded` at Stripe; `processing` has not yet).
    pub succeeded: bool,
    /// What it took (`amount_received`).
    pub amount_received: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// Worth retrying later with the same idempotency key (rate limit, 5xx, network).
    #[error("payment processor unavailable: {0}")]
    Transient(String),
    /// Retrying will not help (bad request, unknown object).
    #[error("payment processor refused the request: {0}")]
    Rejected(String),
    /// The processor refused the request for a reason it names (`amount_too_large`,
    /// `charge_disputed`...): the caller's to fix, never retried.
    #[error("payment processor refused the request ({code}): {message}")]
    Refused { code: String, message: String },
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    /// Creates the processor's customer for one of ours; returns its id.
    async fn create_customer(
        &self,
        our_id: &str,
        name: &str,
        email: &str,
        idempotency_key: &str,
    ) -> Result<String, PaymentError>;
    /// Attaches a payment method to the processor's customer and makes it the default.
    async fn attach_payment_method(
        &self,
        processor_customer_id: &str,
        payment_method_id: &str,
        idempotency_key: &str,
    ) -> Result<AttachOutcome, PaymentError>;
    async fn charge(&self, request: &ChargeRequest) -> Result<ChargeOutcome, PaymentError>;
    /// Refunds `amount` of a successful payment; returns the refund id. `idempotency_key` also
    /// goes into the refund's metadata (`refund_key`), so the processor's report of it names
    /// the claim it settles.
    async fn refund(
        &self,
        payment_id: &str,
        amount: Money,
        idempotency_key: &str,
    ) -> Result<String, PaymentError>;
    /// The payment `payment_id` (`pi_...`) with its refunds; `None` if the processor has none.
    async fn payment(&self, payment_id: &str) -> Result<Option<ProcessorPayment>, PaymentError>;
    /// The processor customer a payment method is attached to now, if any.
    async fn payment_method_owner(
        &self,
        payment_method_id: &str,
    ) -> Result<Option<String>, PaymentError>;
    /// Our customer id, from the metadata of the processor's customer; `None` if it was
    /// deleted or is not ours.
    async fn customer_reference(
        &self,
        processor_customer_id: &str,
    ) -> Result<Option<String>, PaymentError>;
}
