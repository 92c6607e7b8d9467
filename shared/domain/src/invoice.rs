//! Invoices: what a subscription owes for a period, as lines that always add up.
//!
//! Totals are derived from the lines, never stored beside them, so they cannot disagree:
//! `subtotal` is the sum of the non-discount lines (credits are negative), `discount` the sum of
//! the discount lines as a positive amount, `total = subtotal - discount` (the sum of every
//! line), `amount_due = max(total - amount_paid, 0)`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::BillingError;
use crate::events::{EventFacts, EventKind, Outbox};
use crate::ids::{CustomerId, InvoiceId, SubscriptionId};
use crate::money::{Currency, Money, MoneyError};
use crate::period::Period;

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
    /// A coupon's reduction (a negative amount).
    Discount,
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
}

impl BillingReason {
    /// Period invoices are unique per period start; a plan change is not a period invoice.
    pub fn is_period_invoice(self) -> bool {
        !matches!(self, BillingReason::SubscriptionUpdate)
    }
}

/// Where a payment attempt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Succeeded,
    /// The customer must authenticate (SCA); the invoice stays open meanwhile.
    RequiresAction,
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

/// Money given back from a successful payment (`re_...` at Stripe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    pub processor_refund_id: String,
    pub processor_payment_id: String,
    pub amount: Money,
    pub reason: Option<RefundReason>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: InvoiceId,
    pub subscription_id: SubscriptionId,
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub status: InvoiceStatus,
    pub billing_reason: BillingReason,
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
            lines,
            amount_paid: Money::zero(currency),
            period,
            attempt_count: 0,
            next_attempt_at: None,
            payments: Vec::new(),
            refunds: Vec::new(),
            events: Outbox::default(),
            created_at: now,
            updated_at: now,
            version: 0,
        };
        invoice
            .total()
            .map_err(|e| BillingError::Conflict(e.to_string()))?;
        Ok(invoice)
    }

    pub fn because(mut self, reason: BillingReason) -> Invoice {
        self.billing_reason = reason;
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
    pub fn amount_due(&self) -> Result<Money, MoneyError> {
        let due = self.total()?.checked_sub(&self.amount_paid)?;
        Ok(if due.is_negative() {
            Money::zero(self.currency)
        } else {
            due
        })
    }

    /// Draft → open; an invoice with nothing to pay is paid at once.
    pub fn finalize(&mut self, now: DateTime<Utc>) -> Result<(), BillingError> {
        if self.status != InvoiceStatus::Draft {
            return Err(illegal(self.status, "finalize"));
        }
        let nothing_due = self
            .amount_due()
            .map_err(|e| BillingError::Conflict(e.to_string()))?
            .amount()
            .is_zero();
        self.status = if nothing_due {
            InvoiceStatus::Paid
        } else {
            InvoiceStatus::Open
        };
        self.updated_at = now;
        Ok(())
    }

    pub fn amount_refunded(&self) -> Result<Money, MoneyError> {
        sum(self.currency, self.refunds.iter().map(|r| &r.amount))
    }

    /// The idempotency key of the next refund: the same for a repeated request, another for
    /// the next refund.
    pub fn next_refund_key(&self) -> String {
        format!("invoice:{}:refund:{}", self.id, self.refunds.len() + 1)
    }

    /// The successful payment that `amount` can be refunded from (the newest with enough left).
    pub fn refundable_payment(&self, amount: Money) -> Result<String, BillingError> {
        if amount.is_negative() || amount.amount().is_zero() {
            return Err(BillingError::field("amount", "must be more than zero"));
        }
        let conflict = |e: MoneyError| BillingError::Conflict(e.to_string());
        let mut most = Money::zero(self.currency);
        for payment in self.payments.iter().rev() {
            let Some(id) = payment
                .processor_payment_id
                .as_deref()
                .filter(|_| payment.status == PaymentStatus::Succeeded)
            else {
                continue;
            };
            let refunded = sum(
                self.currency,
                self.refunds
                    .iter()
                    .filter(|r| r.processor_payment_id == id)
                    .map(|r| &r.amount),
            )
            .map_err(conflict)?;
            let left = payment.amount.checked_sub(&refunded).map_err(conflict)?;
            if !left.checked_sub(&amount).map_err(conflict)?.is_negative() {
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

    pub fn record_refund(&mut self, refund: RefundRecord, now: DateTime<Utc>) {
        self.record(EventKind::InvoiceRefunded, now, refund.amount, None);
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
        self.amount_paid = self
            .amount_paid
            .checked_add(&amount)
            .map_err(|e| BillingError::Conflict(e.to_string()))?;
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
        let amount = self
            .amount_due()
            .map_err(|e| BillingError::Conflict(e.to_string()))?;
        self.next_attempt_at = next_attempt_at;
        let kind = if status == PaymentStatus::RequiresAction {
            EventKind::InvoicePaymentActionRequired
        } else {
            EventKind::InvoicePaymentFailed
        };
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
        self.amount_paid = self
            .amount_paid
            .checked_add(&amount)
            .map_err(|e| BillingError::Conflict(e.to_string()))?;
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
    use crate::testing::{customer_id, days, t0};
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

    proptest! {
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
