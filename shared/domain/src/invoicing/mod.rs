//! Invoices: what a subscription owes for a period, as lines that always add up.
//!
//! Totals are derived from the lines, never stored beside them, so they cannot disagree:
//! `subtotal` is the sum of the non-discount lines (credits are negative), `discount` the sum of
//! the discount lines as a positive amount, `total = subtotal - discount` (the sum of every
//! line), `amount_due = max(total - amount_paid, 0)`.

pub mod refunds;
mod repo;
pub mod revenue;
pub use repo::InvoiceRepo;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::customers::credit::{CreditTransaction, CreditTransactionKind};
use crate::events::{EventFacts, EventKind, Outbox};
use crate::kernel::error::BillingError;
use crate::kernel::ids::{CustomerId, InvoiceId, PlanId, SubscriptionId};
use crate::kernel::money::{Currency, Money, MoneyError};
use crate::kernel::period::Period;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Uncollectible => "uncollectible",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// The plan's price for a period.
    Subscription,
    /// A credit or charge for part of a period after a plan change.
    Proration,
    /// A coupon's or a tier's reduction (a negative amount).
    Discount,
    /// A product pre-ordered: unit price × quantity.
    Product,
    /// Units used past a period's allowance: overage units × unit price.
    Usage,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceLine {
    pub kind: LineKind,
    pub description: String,
    /// Credits and discounts are negative.
    pub amount: Money,
    pub period: Period,
}

/// Why an invoice was made, as Stripe's `billing_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BillingReason {
    /// The first period, at subscription time.
    SubscriptionCreate,
    /// A renewal: one per period.
    #[default]
    SubscriptionCycle,
    /// A plan change billed at once.
    SubscriptionUpdate,
    /// A pre-order charged when it is allocated at its product's release: one per pre-order.
    Preorder,
    /// Units bought on top of an allowance (`POST /subscriptions/{id}/top-ups`): one per top-up.
    TopUp,
    /// The overage of an ended subscription's last allowance period: one per subscription.
    SubscriptionFinal,
}

impl BillingReason {
    /// Period invoices are unique per period start; a plan change or a pre-order is not a
    /// period invoice.
    pub fn is_period_invoice(self) -> bool {
        !matches!(
            self,
            BillingReason::SubscriptionUpdate
                | BillingReason::Preorder
                | BillingReason::TopUp
                | BillingReason::SubscriptionFinal
        )
    }
}

/// Where a payment attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Succeeded,
    /// The customer must authenticate (SCA); the invoice stays open meanwhile.
    RequiresAction,
    /// The processor has not settled it yet (bank debits take days): the invoice stays open,
    /// nothing is said paid, and nothing is retried until it succeeds or fails.
    Processing,
    Failed,
}

/// One charge attempt on an invoice, with the processor's id (`pi_...` at Stripe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub processor_payment_id: Option<String>,
    /// 1 for the first attempt; part of the attempt's idempotency key.
    pub attempt: u32,
    pub amount: Money,
    pub status: PaymentStatus,
    /// The processor's decline code (`card_declined`, `insufficient_funds`...) on failure.
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Why an operator refunded (Stripe's refund reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    Duplicate,
    Fraudulent,
    RequestedByCustomer,
}

/// Where refunded money goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RefundDestination {
    /// Back to the card, through the processor.
    #[default]
    PaymentMethod,
    /// To the customer's credit balance, spent on the next invoices.
    CreditBalance,
}

/// Where a refund stands (Stripe's refund statuses that matter here).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Claimed on the invoice, the processor not yet answered: its amount is held, so no other
    /// refund can take it, and nothing was given back yet.
    Pending,
    Succeeded,
    /// The processor refused it: its amount is free again.
    Failed,
}

/// Money given back from a successful payment (`re_...` at Stripe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    /// The processor's refund; `None` for a refund to the credit balance, and while pending.
    pub processor_refund_id: Option<String>,
    pub destination: RefundDestination,
    pub processor_payment_id: String,
    pub amount: Money,
    pub reason: Option<RefundReason>,
    pub status: RefundStatus,
    /// The idempotency key of the processor's refund (also in its metadata, so the processor's
    /// report finds the claim); `None` for a refund to the credit balance or one made elsewhere.
    pub key: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl RefundRecord {
    /// Whether it holds or gave back money (pending or succeeded).
    pub fn counts(&self) -> bool {
        self.status != RefundStatus::Failed
    }
}

/// A refund claimed on an invoice ([`Invoice::claim_refund`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundClaim {
    /// What is claimed, in the invoice's currency; the rest of its paid amount when `None`.
    pub amount: Option<rust_decimal::Decimal>,
    pub reason: Option<RefundReason>,
    pub to: RefundDestination,
    /// The request's own key (its `Idempotency-Key`); a claim with this key is answered again.
    pub request_key: Option<String>,
}

/// Where a dispute (a chargeback) stands, as Stripe reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    WarningNeedsResponse,
    WarningUnderReview,
    WarningClosed,
    NeedsResponse,
    UnderReview,
    Won,
    Lost,
    Prevented,
}

impl DisputeStatus {
    /// Stripe's spelling; `None` for a status this version does not know.
    pub fn parse(status: &str) -> Option<DisputeStatus> {
        DisputeStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == status)
    }

    const ALL: [DisputeStatus; 8] = [
        DisputeStatus::WarningNeedsResponse,
        DisputeStatus::WarningUnderReview,
        DisputeStatus::WarningClosed,
        DisputeStatus::NeedsResponse,
        DisputeStatus::UnderReview,
        DisputeStatus::Won,
        DisputeStatus::Lost,
        DisputeStatus::Prevented,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::WarningNeedsResponse => "warning_needs_response",
            DisputeStatus::WarningUnderReview => "warning_under_review",
            DisputeStatus::WarningClosed => "warning_closed",
            DisputeStatus::NeedsResponse => "needs_response",
            DisputeStatus::UnderReview => "under_review",
            DisputeStatus::Won => "won",
            DisputeStatus::Lost => "lost",
            DisputeStatus::Prevented => "prevented",
        }
    }

    /// A closed dispute never opens again: a late "created" event cannot undo its outcome.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            DisputeStatus::WarningClosed
                | DisputeStatus::Won
                | DisputeStatus::Lost
                | DisputeStatus::Prevented
        )
    }

    /// The money is held or gone: the payment cannot be refunded as well.
    pub fn holds_funds(self) -> bool {
        matches!(
            self,
            DisputeStatus::NeedsResponse | DisputeStatus::UnderReview | DisputeStatus::Lost
        )
    }
}

/// A customer's bank disputing a payment (`dp_...` at Stripe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeRecord {
    pub processor_dispute_id: String,
    pub processor_payment_id: String,
    pub amount: Money,
    /// The bank's reason (`fraudulent`, `product_not_received`...).
    pub reason: String,
    pub status: DisputeStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: InvoiceId,
    pub subscription_id: SubscriptionId,
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub status: InvoiceStatus,
    pub billing_reason: BillingReason,
    /// A plan change's invoice: the version of the subscription it changes. One change is
    /// invoiced per version (racing changes from the same version charge once); a voided one
    /// frees the version for the next try.
    pub subscription_version: Option<u64>,
    /// The plan it bills (the revenue report groups by it); `None` for a pre-order's.
    pub plan_id: Option<PlanId>,
    pub lines: Vec<InvoiceLine>,
    pub amount_paid: Money,
    pub period: Period,
    /// Charge attempts made so far, failed or not.
    pub attempt_count: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Every charge attempt, oldest first.
    pub payments: Vec<PaymentRecord>,
    /// Refunds, oldest first. A refunded invoice stays paid; its `amount_refunded` grows.
    pub refunds: Vec<RefundRecord>,
    /// Disputes of its payments, oldest first.
    pub disputes: Vec<DisputeRecord>,
    /// The customer's credit this invoice moved: positive when credit paid part of it,
    /// negative when its negative total went to the customer's balance.
    pub credit_applied: Money,
    /// Changes of the customer's credit balance recorded since the last stored write; the next
    /// write stores them with it, in the same transaction.
    pub credit_changes: Vec<CreditTransaction>,
    /// Events recorded since the last stored write; the next write stores them with it.
    pub events: Outbox,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

fn illegal(status: InvoiceStatus, action: &str) -> BillingError {
    BillingError::Conflict(format!("cannot {action} a {} invoice", status.as_str()))
}

fn sum<'a>(
    currency: Currency,
    mut amounts: impl Iterator<Item = &'a Money>,
) -> Result<Money, MoneyError> {
    amounts.try_fold(Money::zero(currency), |acc, m| acc.checked_add(m))
}

impl Invoice {
    /// A draft invoice. Every line must be in `currency`; discounts must not be positive.
    pub fn draft(
        subscription_id: SubscriptionId,
        customer_id: CustomerId,
        currency: Currency,
        period: Period,
        lines: Vec<InvoiceLine>,
        now: DateTime<Utc>,
    ) -> Result<Invoice, BillingError> {
        for line in &lines {
            if line.amount.currency() != currency {
                return Err(BillingError::Conflict(format!(
                    "an invoice line in {} on a {currency} invoice",
                    line.amount.currency()
                )));
            }
            if line.kind == LineKind::Discount
                && !line.amount.is_negative()
                && !line.amount.amount().is_zero()
            {
                return Err(BillingError::Conflict(
                    "a discount line must be negative".into(),
                ));
            }
        }
        let invoice = Invoice {
            id: InvoiceId::generate(),
            subscription_id,
            customer_id,
            currency,
            status: InvoiceStatus::Draft,
            billing_reason: BillingReason::default(),
            subscription_version: None,
            plan_id: None,
            lines,
            amount_paid: Money::zero(currency),
            period,
            attempt_count: 0,
            next_attempt_at: None,
            payments: Vec::new(),
            refunds: Vec::new(),
            disputes: Vec::new(),
            credit_applied: Money::zero(currency),
            credit_changes: Vec::new(),
            events: Outbox::default(),
            created_at: now,
            updated_at: now,
            version: 0,
        };
        invoice.total()?;
        Ok(invoice)
    }

    /// The plan the invoice bills.
    pub fn for_plan(mut self, plan_id: PlanId) -> Invoice {
        self.plan_id = Some(plan_id);
        self
    }

    pub fn because(mut self, reason: BillingReason) -> Invoice {
        self.billing_reason = reason;
        self
    }

    /// A plan change's invoice, changing the subscription at `version`.
    pub fn changing(mut self, version: u64) -> Invoice {
        self.billing_reason = BillingReason::SubscriptionUpdate;
        self.subscription_version = Some(version);
        self
    }

    pub fn subtotal(&self) -> Result<Money, MoneyError> {
        sum(
            self.currency,
            self.lines
                .iter()
                .filter(|l| l.kind != LineKind::Discount)
                .map(|l| &l.amount),
        )
    }

    /// The discount as a positive amount.
    pub fn discount(&self) -> Result<Money, MoneyError> {
        let discounts = sum(
            self.currency,
            self.lines
                .iter()
                .filter(|l| l.kind == LineKind::Discount)
                .map(|l| &l.amount),
        )?;
        Money::zero(self.currency).checked_sub(&discounts)
    }

    pub fn total(&self) -> Result<Money, MoneyError> {
        self.subtotal()?.checked_sub(&self.discount()?)
    }

    /// What is still to be paid; never negative (a negative total is a credit, not a debt).
    /// What is left to pay: the total less the credit applied and what was paid.
    pub fn amount_due(&self) -> Result<Money, MoneyError> {
        let due = self
            .total()?
            .checked_sub(&self.credit_applied)?
            .checked_sub(&self.amount_paid)?;
        Ok(if due.is_negative() {
            Money::zero(self.currency)
        } else {
            due
        })
    }

    /// Draft → open; an invoice with nothing to pay is paid at once.
    /// Moves the customer's credit on a draft (see [`crate::customers::credit`]): spends what of
    /// `balance` the invoice can use, or credits a negative total. Replaces what an earlier
    /// call on this draft decided (a retry after the balance changed).
    pub fn apply_credit(&mut self, balance: Money, now: DateTime<Utc>) -> Result<(), BillingError> {
        if self.status != InvoiceStatus::Draft {
            return Err(illegal(self.status, "apply credit to"));
        }
        self.credit_applied = Money::zero(self.currency);
        self.credit_changes.clear();
        let total = self.total()?;
        let zero = Money::zero(self.currency);
        let (kind, what, applied) = if total.is_negative() {
            (CreditTransactionKind::InvoiceCredit, "credit", total)
        } else if balance.currency() == self.currency {
            let due = total.checked_sub(&self.amount_paid)?;
            let spent = crate::customers::credit::spendable(balance, due);
            (CreditTransactionKind::AppliedToInvoice, "applied", spent)
        } else {
            return Ok(());
        };
        if applied.amount().is_zero() {
            return Ok(());
        }
        self.credit_applied = applied;
        self.credit_changes.push(CreditTransaction::for_invoice(
            &self.id,
            &self.customer_id,
            kind,
            what,
            zero.checked_sub(&applied)?,
            now,
        ));
        Ok(())
    }

    /// The credit this invoice gave the customer's balance (a negative total), as a positive
    /// amount; zero otherwise.
    pub fn credit_issued(&self) -> Money {
        if self.credit_applied.is_negative() {
            Money::zero(self.currency)
                .checked_sub(&self.credit_applied)
                .unwrap_or(self.credit_applied)
        } else {
            Money::zero(self.currency)
        }
    }

    /// The credit spent on this invoice, as a positive amount; zero otherwise.
    pub fn credit_spent(&self) -> Money {
        if self.credit_applied.is_negative() {
            Money::zero(self.currency)
        } else {
            self.credit_applied
        }
    }

    pub fn finalize(&mut self, now: DateTime<Utc>) -> Result<(), BillingError> {
        if self.status != InvoiceStatus::Draft {
            return Err(illegal(self.status, "finalize"));
        }
        let nothing_due = self.amount_due()?.amount().is_zero();
        self.status = if nothing_due {
            InvoiceStatus::Paid
        } else {
            InvoiceStatus::Open
        };
        self.updated_at = now;
        let spent = self.credit_spent();
        if nothing_due && !spent.amount().is_zero() {
            // Paid by the customer's credit: a receipt is owed as for a card payment.
            self.record(EventKind::InvoicePaid, now, spent, None);
        }
        Ok(())
    }

    /// Refunded or held by a pending refund: what no other refund can take.
    pub fn amount_refunded(&self) -> Result<Money, MoneyError> {
        sum(
            self.currency,
            self.refunds
                .iter()
                .filter(|r| r.counts())
                .map(|r| &r.amount),
        )
    }

    /// Claims a refund before any money moves: the amount left (paid less every refund that
    /// is not failed) is checked and the claim recorded in one change, which the store writes
    /// under the invoice's version, so racing refunds, to any destination, never together take
    /// more than was paid. A refund to the card is claimed `Pending` (nothing given back until
    /// the processor agrees: [`Self::settle_refund`]); one to the credit balance succeeds at
    /// once. A claim with the same request key is the same refund: its index is answered again
    /// and nothing new is claimed. Returns the claim's index in `refunds` and whether it is new.
    pub fn claim_refund(
        &mut self,
        claim: &RefundClaim,
        now: DateTime<Utc>,
    ) -> Result<(usize, bool), BillingError> {
        let key = match (&claim.to, &claim.request_key) {
            (RefundDestination::CreditBalance, _) => None,
            (RefundDestination::PaymentMethod, Some(request)) => {
                Some(format!("invoice:{}:refund:request:{request}", self.id))
            }
            // Claims are never removed (a refused one stays `failed`), so the count only grows.
            (RefundDestination::PaymentMethod, None) => Some(format!(
                "invoice:{}:refund:{}",
                self.id,
                self.refunds.len() + 1
            )),
        };
        if let Some(index) = key
            .as_ref()
            .and_then(|k| self.refunds.iter().position(|r| r.key.as_ref() == Some(k)))
        {
            return Ok((index, false));
        }
        let left = self.amount_paid.checked_sub(&self.amount_refunded()?)?;
        let amount = match claim.amount {
            Some(amount) => Money::new(amount, self.currency)
                .map_err(|e| BillingError::field("amount", e.to_string()))?,
            None => left,
        };
        if amount.amount() > left.amount() {
            return Err(BillingError::field(
                "amount",
                format!("at most {} is left to refund", left.amount()),
            ));
        }
        let payment_id = self.refundable_payment(amount)?;
        let status = match claim.to {
            RefundDestination::CreditBalance => RefundStatus::Succeeded,
            RefundDestination::PaymentMethod => RefundStatus::Pending,
        };
        self.record_refund(
            RefundRecord {
                processor_refund_id: None,
                destination: claim.to,
                processor_payment_id: payment_id,
                amount,
                reason: claim.reason,
                status,
                key,
                created_at: now,
            },
            now,
        );
        Ok((self.refunds.len() - 1, true))
    }

    /// The processor's answer to the pending refund with `key`: `Some(id)` made it (recorded
    /// once, with its event), `None` refused it (its amount is free again). Returns whether
    /// anything changed: a refund already settled stays as it is.
    pub fn settle_refund(
        &mut self,
        key: &str,
        processor_refund_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> bool {
        let Some(index) = self
            .refunds
            .iter()
            .position(|r| r.key.as_deref() == Some(key) && r.status == RefundStatus::Pending)
        else {
            return false;
        };
        let refund = &mut self.refunds[index];
        match processor_refund_id {
            Some(id) => {
                refund.status = RefundStatus::Succeeded;
                refund.processor_refund_id = Some(id.to_owned());
                let amount = refund.amount;
                self.record(EventKind::InvoiceRefunded, now, amount, None);
            }
            None => refund.status = RefundStatus::Failed,
        }
        self.updated_at = now;
        true
    }

    /// The successful payment that `amount` can be refunded from (the newest with enough left).
    pub fn refundable_payment(&self, amount: Money) -> Result<String, BillingError> {
        if amount.is_negative() || amount.amount().is_zero() {
            return Err(BillingError::field("amount", "must be more than zero"));
        }
        let mut most = Money::zero(self.currency);
        for payment in self.payments.iter().rev() {
            let Some(id) = payment
                .processor_payment_id
                .as_deref()
                .filter(|_| payment.status == PaymentStatus::Succeeded)
                .filter(|id| !self.is_disputed(id))
            else {
                continue;
            };
            let refunded = sum(
                self.currency,
                self.refunds
                    .iter()
                    .filter(|r| r.processor_payment_id == id && r.counts())
                    .map(|r| &r.amount),
            )?;
            let left = payment.amount.checked_sub(&refunded)?;
            if !left.checked_sub(&amount)?.is_negative() {
                return Ok(id.to_owned());
            }
            if left.amount() > most.amount() {
                most = left;
            }
        }
        Err(BillingError::field(
            "amount",
            format!("at most {} can be refunded from one payment", most.amount()),
        ))
    }

    /// Whether a dispute holds the funds of payment `payment_id` (open, or lost).
    pub fn is_disputed(&self, payment_id: &str) -> bool {
        self.disputes
            .iter()
            .any(|d| d.processor_payment_id == payment_id && d.status.holds_funds())
    }

    /// Records refunds the processor made that this invoice does not know yet (made in the
    /// processor's dashboard, or made by a refund call whose answer was lost): one that carries
    /// the key of a pending claim settles that claim instead of adding another. Returns whether
    /// any was new.
    pub fn record_processor_refunds(
        &mut self,
        payment_id: &str,
        refunds: &[crate::collection::payments::ProcessorRefund],
        now: DateTime<Utc>,
    ) -> bool {
        let mut changed = false;
        for refund in refunds.iter().filter(|r| r.gave_back) {
            let known = self
                .refunds
                .iter()
                .any(|r| r.processor_refund_id.as_deref() == Some(refund.refund_id.as_str()));
            if known || refund.amount.currency() != self.currency {
                continue;
            }
            if let Some(key) = &refund.key {
                if self.settle_refund(key, Some(&refund.refund_id), now) {
                    changed = true;
                    continue;
                }
            }
            self.record_refund(
                RefundRecord {
                    processor_refund_id: Some(refund.refund_id.clone()),
                    destination: RefundDestination::PaymentMethod,
                    processor_payment_id: payment_id.to_owned(),
                    amount: refund.amount,
                    reason: None,
                    status: RefundStatus::Succeeded,
                    key: refund.key.clone(),
                    created_at: now,
                },
                now,
            );
            changed = true;
        }
        changed
    }

    /// Records a dispute's state as the processor reports it. A dispute is opened once and
    /// closed once: a report that arrives after the dispute closed, or repeats what is known,
    /// changes nothing. Returns whether anything changed.
    pub fn record_dispute(&mut self, report: DisputeRecord, now: DateTime<Utc>) -> bool {
        let index = self
            .disputes
            .iter()
            .position(|d| d.processor_dispute_id == report.processor_dispute_id);
        let facts = |reason: &str| EventFacts {
            reason: Some(reason.to_owned()),
            ..EventFacts::default()
        };
        let index = match index {
            Some(i) => {
                let known = self.disputes[i].status;
                if known.is_closed() || known == report.status {
                    return false;
                }
                self.disputes[i].status = report.status;
                self.disputes[i].updated_at = now;
                i
            }
            None => {
                let (amount, reason) = (report.amount, report.reason.clone());
                self.disputes.push(report);
                self.record(
                    EventKind::InvoiceDisputeOpened,
                    now,
                    amount,
                    Some(facts(&reason)),
                );
                self.disputes.len() - 1
            }
        };
        let dispute = &self.disputes[index];
        if dispute.status.is_closed() {
            let (amount, outcome) = (dispute.amount, dispute.status.as_str());
            self.record(
                EventKind::InvoiceDisputeClosed,
                now,
                amount,
                Some(facts(outcome)),
            );
        }
        self.updated_at = now;
        true
    }

    /// The processor reports that payment `payment_id` failed after it asked for
    /// authentication (the customer did not complete it, or the card then declined). Attempts
    /// the invoice knows as succeeded or failed stay as they are, so the report cannot undo a
    /// later success; attempts it does not know yet are recorded by the charging worker, which
    /// asks the processor again under the attempt's key. Returns whether anything changed.
    pub fn record_reported_failure(
        &mut self,
        payment_id: &str,
        code: &str,
        message: &str,
        now: DateTime<Utc>,
    ) -> bool {
        if self.status != InvoiceStatus::Open {
            return false;
        }
        let Some(index) = self.payments.iter().position(|p| {
            p.processor_payment_id.as_deref() == Some(payment_id)
                && matches!(
                    p.status,
                    PaymentStatus::RequiresAction | PaymentStatus::Processing
                )
        }) else {
            return false;
        };
        let payment = &mut self.payments[index];
        payment.status = PaymentStatus::Failed;
        payment.failure_code = Some(code.to_owned());
        payment.failure_message = Some(message.to_owned());
        let amount = payment.amount;
        let next_attempt_at = self.next_attempt_at;
        self.record(
            EventKind::InvoicePaymentFailed,
            now,
            amount,
            Some(EventFacts {
                next_attempt_at,
                reason: Some(code.to_owned()),
                ..EventFacts::default()
            }),
        );
        self.updated_at = now;
        true
    }

    /// Adds a refund; one that succeeded records its event (a pending one does when it settles).
    fn record_refund(&mut self, refund: RefundRecord, now: DateTime<Utc>) {
        if refund.status == RefundStatus::Succeeded {
            self.record(EventKind::InvoiceRefunded, now, refund.amount, None);
        }
        if refund.destination == RefundDestination::CreditBalance {
            let what = format!("refund:{}", self.refunds.len() + 1);
            self.credit_changes.push(CreditTransaction::for_invoice(
                &self.id,
                &self.customer_id,
                CreditTransactionKind::Refund,
                &what,
                refund.amount,
                now,
            ));
        }
        self.refunds.push(refund);
        self.updated_at = now;
    }

    /// Records `kind` for this invoice (stored with its next write).
    fn record(
        &mut self,
        kind: EventKind,
        now: DateTime<Utc>,
        amount: Money,
        facts: Option<EventFacts>,
    ) {
        self.events.record(
            kind,
            now,
            EventFacts {
                invoice_id: Some(self.id.clone()),
                amount: Some(amount),
                period_start: Some(self.period.start),
                period_end: Some(self.period.end),
                plan_id: self.plan_id.clone(),
                ..facts.unwrap_or_default()
            },
        );
    }

    /// Why the last attempt did not pay, as the 402 a customer present is answered with: the
    /// processor's decline, or the authentication it still waits for.
    pub fn declined(&self) -> BillingError {
        let last = self.payments.last();
        BillingError::PaymentDeclined {
            field: "payment_method_id".into(),
            code: last
                .and_then(|p| p.failure_code.clone())
                .unwrap_or_else(|| "authentication_required".into()),
            message: last
                .and_then(|p| p.failure_message.clone())
                .unwrap_or_else(|| "the payment needs authentication".into()),
        }
    }

    /// The idempotency key of the next charge attempt: the same for a repeated attempt (a
    /// retried worker), different for the next dunning retry.
    pub fn next_attempt_key(&self) -> String {
        format!("invoice:{}:attempt:{}", self.id, self.attempt_count + 1)
    }

    /// When the first attempt that did not succeed was made, and how many did not (dunning
    /// counts its retries from these).
    pub fn unsuccessful_attempts(&self) -> (Option<DateTime<Utc>>, u32) {
        let failed: Vec<&PaymentRecord> = self
            .payments
            .iter()
            .filter(|p| p.status != PaymentStatus::Succeeded)
            .collect();
        (
            failed.first().map(|p| p.created_at),
            u32::try_from(failed.len()).unwrap_or(u32::MAX),
        )
    }

    fn ensure_open(&self, action: &str) -> Result<(), BillingError> {
        if self.status == InvoiceStatus::Open {
            Ok(())
        } else {
            Err(illegal(self.status, action))
        }
    }

    fn push_attempt(&mut self, record: PaymentRecord, now: DateTime<Utc>) {
        self.attempt_count += 1;
        self.payments.push(record);
        self.updated_at = now;
    }

    /// A successful charge of `amount`; the invoice is paid once nothing is due.
    pub fn record_payment(
        &mut self,
        payment_id: &str,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        self.ensure_open("pay")?;
        self.amount_paid = self.amount_paid.checked_add(&amount)?;
        self.next_attempt_at = None;
        self.push_attempt(
            PaymentRecord {
                processor_payment_id: Some(payment_id.to_owned()),
                attempt: self.attempt_count + 1,
                amount,
                status: PaymentStatus::Succeeded,
                failure_code: None,
                failure_message: None,
                created_at: now,
            },
            now,
        );
        self.settle_if_paid(now);
        Ok(())
    }

    fn settle_if_paid(&mut self, now: DateTime<Utc>) {
        if self.amount_due().is_ok_and(|due| due.amount().is_zero()) {
            self.status = InvoiceStatus::Paid;
            self.next_attempt_at = None;
            self.record(EventKind::InvoicePaid, now, self.amount_paid, None);
        }
    }

    /// A failed charge; `next_attempt_at` is when dunning tries again (`None`: no more tries).
    pub fn record_failure(
        &mut self,
        payment_id: Option<&str>,
        code: &str,
        message: &str,
        next_attempt_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        self.record_unsettled(
            payment_id,
            PaymentStatus::Failed,
            Some((code, message)),
            next_attempt_at,
            now,
        )
    }

    /// A charge that waits for the customer to authenticate; the invoice stays open, and
    /// dunning may try again at `next_attempt_at`.
    pub fn record_requires_action(
        &mut self,
        payment_id: &str,
        next_attempt_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        self.record_unsettled(
            Some(payment_id),
            PaymentStatus::RequiresAction,
            None,
            next_attempt_at,
            now,
        )
    }

    /// A charge the processor has not settled yet: the invoice stays open without a retry (a
    /// second charge could take the money twice) until the processor reports the outcome.
    pub fn record_processing(
        &mut self,
        payment_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        self.record_unsettled(Some(payment_id), PaymentStatus::Processing, None, None, now)
    }

    /// An attempt that left the invoice open.
    fn record_unsettled(
        &mut self,
        payment_id: Option<&str>,
        status: PaymentStatus,
        failure: Option<(&str, &str)>,
        next_attempt_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), BillingError> {
        self.ensure_open("charge")?;
        let amount = self.amount_due()?;
        self.next_attempt_at = next_attempt_at;
        let kind = match status {
            PaymentStatus::RequiresAction => Some(EventKind::InvoicePaymentActionRequired),
            PaymentStatus::Failed => Some(EventKind::InvoicePaymentFailed),
            // Nothing to tell yet: its outcome is told when it comes.
            PaymentStatus::Processing | PaymentStatus::Succeeded => None,
        };
        if let Some(kind) = kind {
            self.record(
                kind,
                now,
                amount,
                Some(EventFacts {
                    next_attempt_at,
                    reason: failure.map(|(code, _)| code.to_owned()),
                    ..EventFacts::default()
                }),
            );
        }
        self.push_attempt(
            PaymentRecord {
                processor_payment_id: payment_id.map(str::to_owned),
                attempt: self.attempt_count + 1,
                amount,
                status,
                failure_code: failure.map(|(code, _)| code.to_owned()),
                failure_message: failure.map(|(_, message)| message.to_owned()),
                created_at: now,
            },
            now,
        );
        Ok(())
    }

    /// A payment that was waiting (authentication) has succeeded at the processor, as its
    /// webhook says. Returns `false` when the invoice already knew (a redelivered event).
    pub fn confirm_payment(
        &mut self,
        payment_id: &str,
        amount: Money,
        now: DateTime<Utc>,
    ) -> Result<bool, BillingError> {
        let Some(index) = self
            .payments
            .iter()
            .position(|p| p.processor_payment_id.as_deref() == Some(payment_id))
        else {
            return Err(BillingError::NotFound("payment"));
        };
        if self.payments[index].status == PaymentStatus::Succeeded {
            return Ok(false);
        }
        self.ensure_open("pay")?;
        self.amount_paid = self.amount_paid.checked_add(&amount)?;
        self.payments[index].status = PaymentStatus::Succeeded;
        self.payments[index].amount = amount;
        self.updated_at = now;
        self.settle_if_paid(now);
        Ok(true)
    }

    pub fn void(&mut self, now: DateTime<Utc>) -> Result<(), BillingError> {
        match self.status {
            InvoiceStatus::Draft | InvoiceStatus::Open => {
                self.status = InvoiceStatus::Void;
                self.next_attempt_at = None;
                self.updated_at = now;
                let spent = self.credit_spent();
                if !spent.amount().is_zero() {
                    // Nothing was bought: the credit that paid part of it comes back.
                    self.credit_changes.push(CreditTransaction::for_invoice(
                        &self.id,
                        &self.customer_id,
                        CreditTransactionKind::InvoiceVoided,
                        "voided",
                        spent,
                        now,
                    ));
                }
                Ok(())
            }
            InvoiceStatus::Paid | InvoiceStatus::Void | InvoiceStatus::Uncollectible => {
                Err(illegal(self.status, "void"))
            }
        }
    }

    pub fn mark_uncollectible(&mut self, now: DateTime<Utc>) -> Result<(), BillingError> {
        if self.status != InvoiceStatus::Open {
            return Err(illegal(self.status, "write off"));
        }
        self.status = InvoiceStatus::Uncollectible;
        self.next_attempt_at = None;
        self.updated_at = now;
        let due = self.amount_due().unwrap_or(self.amount_paid);
        self.record(EventKind::InvoiceMarkedUncollectible, now, due, None);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::testing::{customer_id, days, t0};
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn usd(units: i64) -> Money {
        Money::from_minor_units(units, Currency::Usd)
    }

    fn period() -> Period {
        Period {
            start: t0(),
            end: t0() + days(30),
        }
    }

    fn line(kind: LineKind, cents: i64) -> InvoiceLine {
        InvoiceLine {
            kind,
            description: format!("{kind:?}"),
            amount: usd(cents),
            period: period(),
        }
    }

    fn invoice(lines: Vec<InvoiceLine>) -> Invoice {
        Invoice::draft(
            SubscriptionId::generate(),
            customer_id(),
            Currency::Usd,
            period(),
            lines,
            t0(),
        )
        .expect("valid")
    }

    #[test]
    fn an_upgrade_invoice_adds_up() {
        let inv = invoice(vec![
            line(LineKind::Proration, -1999),
            line(LineKind::Proration, 5333),
            line(LineKind::Discount, -500),
        ]);
        assert_eq!(inv.subtotal(), Ok(usd(3334)));
        assert_eq!(inv.discount(), Ok(usd(500)));
        assert_eq!(inv.total(), Ok(usd(2834)));
        assert_eq!(inv.amount_due(), Ok(usd(2834)));
        assert_eq!(inv.total().map(|m| m.amount()), Ok(dec!(28.34)));
    }

    #[test]
    fn a_renewal_is_open_then_paid() {
        let mut inv = invoice(vec![line(LineKind::Subscription, 7999)]);
        inv.finalize(t0()).expect("finalize");
        assert_eq!(inv.status, InvoiceStatus::Open);
        assert_eq!(
            inv.next_attempt_key(),
            format!("invoice:{}:attempt:1", inv.id)
        );
        inv.record_failure(
            None,
            "card_declined",
            "declined",
            Some(t0() + days(3)),
            t0(),
        )
        .expect("failure");
        assert_eq!(
            inv.next_attempt_key(),
            format!("invoice:{}:attempt:2", inv.id)
        );
        assert_eq!(
            (inv.attempt_count, inv.next_attempt_at),
            (1, Some(t0() + days(3)))
        );
        inv.record_payment("pi_1", usd(7999), t0() + days(3))
            .expect("paid");
        assert_eq!(inv.status, InvoiceStatus::Paid);
        assert_eq!(inv.amount_due(), Ok(usd(0)));
        assert_eq!(inv.attempt_count, 2);
        assert!(
            inv.record_payment("pi_2", usd(7999), t0()).is_err(),
            "never paid twice"
        );
        assert!(inv.void(t0()).is_err());
    }

    #[test]
    fn an_authenticated_payment_is_confirmed_once() {
        let mut inv = invoice(vec![line(LineKind::Subscription, 7999)]);
        inv.finalize(t0()).expect("finalize");
        inv.record_requires_action("pi_sca", None, t0())
            .expect("pending");
        assert_eq!(inv.status, InvoiceStatus::Open);
        assert_eq!(inv.payments[0].status, PaymentStatus::RequiresAction);
        assert!(inv
            .confirm_payment("pi_sca", usd(7999), t0())
            .expect("confirmed"));
        assert_eq!(inv.status, InvoiceStatus::Paid);
        assert_eq!(inv.amount_paid, usd(7999));
        // a redelivered webhook changes nothing
        assert!(!inv
            .confirm_payment("pi_sca", usd(7999), t0())
            .expect("known"));
        assert_eq!(inv.amount_paid, usd(7999));
        assert!(inv.confirm_payment("pi_other", usd(1), t0()).is_err());
    }

    #[test]
    fn a_credit_only_invoice_is_paid_at_once_and_owes_nothing() {
        let mut inv = invoice(vec![line(LineKind::Proration, -4000)]);
        assert_eq!(inv.amount_due(), Ok(usd(0)));
        inv.finalize(t0()).expect("finalize");
        assert_eq!(inv.status, InvoiceStatus::Paid);
    }

    #[test]
    fn lines_in_another_currency_or_positive_discounts_are_refused() {
        let eur = InvoiceLine {
            amount: Money::from_minor_units(100, Currency::Eur),
            ..line(LineKind::Subscription, 0)
        };
        assert!(Invoice::draft(
            SubscriptionId::generate(),
            customer_id(),
            Currency::Usd,
            period(),
            vec![eur],
            t0()
        )
        .is_err());
        assert!(Invoice::draft(
            SubscriptionId::generate(),
            customer_id(),
            Currency::Usd,
            period(),
            vec![line(LineKind::Discount, 100)],
            t0()
        )
        .is_err());
    }

    fn any_line() -> impl Strategy<Value = InvoiceLine> {
        prop_oneof![
            (0i64..10_000_000).prop_map(|c| line(LineKind::Subscription, c)),
            (-10_000_000i64..10_000_000).prop_map(|c| line(LineKind::Proration, c)),
            (-10_000_000i64..=0).prop_map(|c| line(LineKind::Discount, c)),
        ]
    }

    fn paid_invoice() -> Invoice {
        let mut inv = invoice(vec![line(LineKind::Subscription, 7999)]);
        inv.finalize(t0()).expect("finalize");
        inv.record_payment("pi_1", usd(7999), t0()).expect("paid");
        inv.events.clear();
        inv
    }

    fn dispute(status: DisputeStatus) -> DisputeRecord {
        DisputeRecord {
            processor_dispute_id: "dp_1".into(),
            processor_payment_id: "pi_1".into(),
            amount: usd(7999),
            reason: "fraudulent".into(),
            status,
            created_at: t0(),
            updated_at: t0(),
        }
    }

    #[test]
    fn a_lost_dispute_blocks_refunds_and_a_won_one_does_not() {
        let mut inv = paid_invoice();
        assert!(inv.refundable_payment(usd(1000)).is_ok());
        assert!(inv.record_dispute(dispute(DisputeStatus::NeedsResponse), t0()));
        assert!(inv.refundable_payment(usd(1000)).is_err());
        assert!(inv.record_dispute(dispute(DisputeStatus::Won), t0()));
        assert_eq!(
            inv.refundable_payment(usd(1000)).ok().as_deref(),
            Some("pi_1")
        );
        assert_eq!(
            inv.events.kinds(),
            [
                EventKind::InvoiceDisputeOpened,
                EventKind::InvoiceDisputeClosed
            ]
        );
        // Closed stays closed.
        assert!(!inv.record_dispute(dispute(DisputeStatus::Lost), t0()));
        assert_eq!(
            DisputeStatus::parse("warning_closed"),
            Some(DisputeStatus::WarningClosed)
        );
        assert_eq!(DisputeStatus::parse("charge_refunded"), None);
    }

    #[test]
    fn refunds_reported_by_the_processor_are_recorded_once() {
        let mut inv = paid_invoice();
        let reported = |id: &str, cents, gave_back| crate::collection::payments::ProcessorRefund {
            refund_id: id.into(),
            amount: usd(cents),
            gave_back,
            key: None,
        };
        let refunds = [
            reported("re_1", 2000, true),
            reported("re_failed", 500, false),
        ];
        assert!(inv.record_processor_refunds("pi_1", &refunds, t0()));
        assert!(!inv.record_processor_refunds("pi_1", &refunds, t0()));
        assert_eq!(inv.amount_refunded(), Ok(usd(2000)));
        assert_eq!(inv.events.kinds(), [EventKind::InvoiceRefunded]);
    }

    fn claim(cents: Option<i64>, to: RefundDestination, key: Option<&str>) -> RefundClaim {
        RefundClaim {
            amount: cents.map(|c| usd(c).amount()),
            reason: None,
            to,
            request_key: key.map(str::to_owned),
        }
    }

    #[test]
    fn a_card_refund_holds_its_amount_until_the_processor_answers() {
        let mut inv = paid_invoice();
        let card = claim(Some(4800), RefundDestination::PaymentMethod, Some("k1"));
        let (index, new) = inv.claim_refund(&card, t0()).expect("claimed");
        assert!(new);
        assert_eq!(inv.refunds[index].status, RefundStatus::Pending);
        // Held: neither the card nor the credit balance can take more than is left.
        assert_eq!(inv.amount_refunded(), Ok(usd(4800)));
        assert!(inv.events.kinds().is_empty(), "nothing was given back yet");
        let credit = claim(Some(4800), RefundDestination::CreditBalance, None);
        let refused = inv
            .claim_refund(&credit, t0())
            .expect_err("only 31.99 left");
        assert!(matches!(refused, BillingError::Validation(ref e) if e[0].field == "amount"));
        // The same request claims nothing new.
        assert_eq!(inv.claim_refund(&card, t0()).ok(), Some((index, false)));
        let key = inv.refunds[index]
            .key
            .clone()
            .expect("card refunds are keyed");
        assert!(inv.settle_refund(&key, Some("re_1"), t0()));
        assert!(!inv.settle_refund(&key, Some("re_1"), t0()), "settled once");
        assert_eq!(inv.refunds[index].status, RefundStatus::Succeeded);
        assert_eq!(inv.events.kinds(), [EventKind::InvoiceRefunded]);
    }

    #[test]
    fn a_refused_refund_frees_its_amount() {
        let mut inv = paid_invoice();
        let card = claim(None, RefundDestination::PaymentMethod, None);
        let (index, _) = inv.claim_refund(&card, t0()).expect("claimed");
        assert_eq!(inv.refunds[index].amount, usd(7999));
        let key = inv.refunds[index].key.clone().expect("keyed");
        assert!(inv.settle_refund(&key, None, t0()));
        assert_eq!(inv.refunds[index].status, RefundStatus::Failed);
        assert_eq!(inv.amount_refunded(), Ok(usd(0)));
        // The next refund has a key of its own (a refused one is never reused).
        let (next, _) = inv
            .claim_refund(&claim(None, RefundDestination::CreditBalance, None), t0())
            .expect("the whole amount is free again");
        assert_eq!(inv.refunds[next].status, RefundStatus::Succeeded);
        assert_eq!(inv.amount_refunded(), Ok(usd(7999)));
        assert_eq!(inv.events.kinds(), [EventKind::InvoiceRefunded]);
    }

    #[test]
    fn the_processors_report_of_a_pending_refund_settles_it_instead_of_adding_one() {
        let mut inv = paid_invoice();
        let (index, _) = inv
            .claim_refund(
                &claim(Some(1000), RefundDestination::PaymentMethod, None),
                t0(),
            )
            .expect("claimed");
        let report = crate::collection::payments::ProcessorRefund {
            refund_id: "re_9".into(),
            amount: usd(1000),
            gave_back: true,
            key: inv.refunds[index].key.clone(),
        };
        assert!(inv.record_processor_refunds("pi_1", &[report], t0()));
        assert_eq!(inv.refunds.len(), 1);
        assert_eq!(
            inv.refunds[index].processor_refund_id.as_deref(),
            Some("re_9")
        );
        assert_eq!(inv.amount_refunded(), Ok(usd(1000)));
    }

    proptest! {
        /// However many refunds are claimed, to either destination and in any order, they
        /// never hold more than was paid.
        #[test]
        fn claims_never_exceed_what_was_paid(
            claims in proptest::collection::vec((1i64..9000, any::<bool>(), any::<bool>()), 1..12)
        ) {
            let mut inv = paid_invoice();
            for (i, (cents, to_card, refused)) in claims.into_iter().enumerate() {
                let to = if to_card {
                    RefundDestination::PaymentMethod
                } else {
                    RefundDestination::CreditBalance
                };
                let key = format!("k{i}");
                if let Ok((index, true)) = inv.claim_refund(&claim(Some(cents), to, Some(&key)), t0()) {
                    if let Some(k) = inv.refunds[index].key.clone() {
                        inv.settle_refund(&k, (!refused).then_some("re_x"), t0());
                    }
                }
                let refunded = inv.amount_refunded().expect("one currency");
                prop_assert!(refunded.amount() <= inv.amount_paid.amount());
            }
        }
    }

    #[test]
    fn a_reported_failure_moves_only_an_attempt_waiting_for_authentication() {
        let mut inv = invoice(vec![line(LineKind::Subscription, 7999)]);
        inv.finalize(t0()).expect("finalize");
        inv.record_requires_action("pi_1", None, t0())
            .expect("recorded");
        inv.events.clear();
        assert!(!inv.record_reported_failure("pi_unknown", "x", "y", t0()));
        assert!(inv.record_reported_failure("pi_1", "authentication_failed", "no", t0()));
        assert!(!inv.record_reported_failure("pi_1", "authentication_failed", "no", t0()));
        assert_eq!(inv.payments[0].status, PaymentStatus::Failed);
        assert_eq!(inv.attempt_count, 1);
        assert_eq!(inv.events.kinds(), [EventKind::InvoicePaymentFailed]);
        // A later success of the same payment still pays the invoice.
        assert!(inv
            .confirm_payment("pi_1", usd(7999), t0())
            .expect("confirmed"));
        assert_eq!(inv.status, InvoiceStatus::Paid);
        assert!(!inv.record_reported_failure("pi_1", "late", "late", t0()));
    }

    #[test]
    fn credit_pays_first_a_negative_total_is_credited_and_a_void_gives_credit_back() {
        let mut inv = invoice(vec![line(LineKind::Subscription, 7999)]);
        inv.apply_credit(usd(3000), t0()).expect("draft");
        inv.apply_credit(usd(2000), t0())
            .expect("again, after the balance changed");
        assert_eq!(inv.credit_spent(), usd(2000));
        assert_eq!(inv.amount_due(), Ok(usd(5999)));
        assert_eq!(inv.credit_changes.len(), 1);
        assert_eq!(inv.credit_changes[0].amount, usd(-2000));
        inv.finalize(t0()).expect("finalize");
        inv.credit_changes.clear();
        inv.void(t0()).expect("void");
        assert_eq!(
            inv.credit_changes[0].kind,
            CreditTransactionKind::InvoiceVoided
        );
        assert_eq!(inv.credit_changes[0].amount, usd(2000));

        let mut credit = invoice(vec![
            line(LineKind::Subscription, 2999),
            line(LineKind::Proration, -4833),
        ]);
        credit.apply_credit(usd(500), t0()).expect("draft");
        assert_eq!(credit.credit_issued(), usd(1834));
        assert_eq!(credit.credit_changes[0].amount, usd(1834));
        credit.finalize(t0()).expect("finalize");
        assert_eq!(credit.status, InvoiceStatus::Paid);
        assert_eq!(credit.amount_due(), Ok(usd(0)));

        let mut covered = invoice(vec![line(LineKind::Subscription, 7999)]);
        covered.apply_credit(usd(10_000), t0()).expect("draft");
        covered.finalize(t0()).expect("finalize");
        assert_eq!(covered.status, InvoiceStatus::Paid, "credit paid it all");
        assert_eq!(covered.credit_spent(), usd(7999));
        assert_eq!(covered.events.kinds(), [EventKind::InvoicePaid]);
        assert!(
            credit.events.is_empty(),
            "a credit-only invoice paid nothing"
        );
    }

    fn any_dispute_report() -> impl Strategy<Value = DisputeStatus> {
        prop_oneof![
            Just(DisputeStatus::NeedsResponse),
            Just(DisputeStatus::UnderReview),
            Just(DisputeStatus::Lost),
        ]
    }

    proptest! {
        /// Stripe's dispute events (created, updated, closed as lost) delivered in any order,
        /// any number of times: the dispute ends lost, opened once and closed once.
        #[test]
        fn dispute_reports_in_any_order_open_and_close_once(
            mut reports in proptest::collection::vec(any_dispute_report(), 0..8),
            at in 0usize..8,
        ) {
            reports.insert(at.min(reports.len()), DisputeStatus::Lost);
            let mut inv = paid_invoice();
            for status in reports {
                inv.record_dispute(dispute(status), t0());
            }
            prop_assert_eq!(inv.disputes.len(), 1);
            prop_assert_eq!(inv.disputes[0].status, DisputeStatus::Lost);
            prop_assert_eq!(
                inv.events.kinds(),
                vec![EventKind::InvoiceDisputeOpened, EventKind::InvoiceDisputeClosed]
            );
        }

        #[test]
        fn totals_always_equal_the_sum_of_the_lines(lines in proptest::collection::vec(any_line(), 0..20), paid in 0i64..20_000_000) {
            let mut inv = invoice(lines.clone());
            let sum: i64 = lines.iter().map(|l| l.amount.to_minor_units().expect("fits")).sum();
            prop_assert_eq!(inv.total(), Ok(usd(sum)));
            prop_assert_eq!(inv.subtotal().and_then(|s| s.checked_sub(&inv.discount()?)), Ok(usd(sum)));
            prop_assert!(!inv.discount().expect("sums").is_negative());
            inv.amount_paid = usd(paid);
            prop_assert_eq!(inv.amount_due(), Ok(usd((sum - paid).max(0))));
        }
    }
}
