//! The JSON of invoices, their lines, payments, refunds and disputes.

use super::*;

/// One line of an invoice; credits and discounts are negative.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceLineDto {
    pub kind: LineKind,
    pub description: String,
    #[schema(example = "79.99")]
    pub amount: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

/// An invoice. `total = subtotal - discount` = the sum of the lines;
/// `amount_due = max(total - credit_applied - amount_paid, 0)`; a negative total is
/// `credit_issued` to the customer's credit balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceResponse {
    #[schema(example = "in_0cc175b9c0f1b6a831c399e2")]
    pub id: String,
    pub status: InvoiceStatus,
    /// Why it was made: `subscription_create`, `subscription_cycle` (a renewal) or
    /// `subscription_update` (a plan change).
    pub billing_reason: BillingReason,
    /// Its subscription, customer, totals, period and lines, as a preview shows them.
    #[serde(flatten)]
    pub figures: InvoiceFigures,
    pub amount_paid: String,
    pub attempt_count: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Every charge attempt, oldest first.
    pub payments: Vec<PaymentDto>,
    #[schema(example = "0.00")]
    pub amount_refunded: String,
    pub refunds: Vec<RefundDto>,
    /// Disputes (chargebacks) of its payments, as Stripe reported them; oldest first.
    pub disputes: Vec<DisputeDto>,
    pub created_at: DateTime<Utc>,
}

fn line_dtos(lines: &[InvoiceLine]) -> Vec<InvoiceLineDto> {
    lines
        .iter()
        .map(|l| InvoiceLineDto {
            kind: l.kind.into(),
            description: l.description.clone(),
            amount: l.amount.amount().to_string(),
            period_start: l.period.start,
            period_end: l.period.end,
        })
        .collect()
}

/// What an invoice bills, stored or previewed: its totals, period and lines. A preview of the
/// next invoice (`GET /subscriptions/{id}/upcoming-invoice`, nothing stored or charged) is
/// exactly this; a stored invoice has it too.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceFigures {
    pub subscription_id: String,
    pub customer_id: String,
    pub currency: Currency,
    pub subtotal: String,
    pub discount: String,
    pub total: String,
    /// The customer's credit spent on it (paid before any card is charged); for a preview, the
    /// credit as it stands now.
    #[schema(example = "0.00")]
    pub credit_applied: String,
    /// Credit it gives the customer's balance (its total is negative).
    #[schema(example = "0.00")]
    pub credit_issued: String,
    pub amount_due: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub lines: Vec<InvoiceLineDto>,
}

impl TryFrom<&Invoice> for InvoiceFigures {
    type Error = money::MoneyError;
    fn try_from(i: &Invoice) -> Result<Self, Self::Error> {
        let text = |m: Money| m.amount().to_string();
        Ok(InvoiceFigures {
            subscription_id: i.subscription_id.to_string(),
            customer_id: i.customer_id.to_string(),
            currency: i.currency.into(),
            subtotal: text(i.subtotal()?),
            discount: text(i.discount()?),
            total: text(i.total()?),
            credit_applied: text(i.credit_spent()),
            credit_issued: text(i.credit_issued()),
            amount_due: text(i.amount_due()?),
            period_start: i.period.start,
            period_end: i.period.end,
            lines: line_dtos(&i.lines),
        })
    }
}

/// One charge attempt of an invoice.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentDto {
    /// Stripe's PaymentIntent id.
    #[schema(example = "pi_3MtwBwLkdIwHu7ix28a3tqPa")]
    pub stripe_payment_intent_id: Option<String>,
    pub attempt: u32,
    #[schema(example = "79.99")]
    pub amount: String,
    pub status: PaymentStatus,
    /// Stripe's decline code, e.g. `card_declined` or `insufficient_funds`.
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<&Invoice> for InvoiceResponse {
    type Error = money::MoneyError;
    fn try_from(i: &Invoice) -> Result<Self, Self::Error> {
        let text = |m: Money| m.amount().to_string();
        Ok(InvoiceResponse {
            id: i.id.to_string(),
            status: i.status.into(),
            billing_reason: i.billing_reason.into(),
            figures: InvoiceFigures::try_from(i)?,
            amount_paid: text(i.amount_paid),
            attempt_count: i.attempt_count,
            next_attempt_at: i.next_attempt_at,
            payments: i
                .payments
                .iter()
                .map(|p| PaymentDto {
                    stripe_payment_intent_id: p.processor_payment_id.clone(),
                    attempt: p.attempt,
                    amount: text(p.amount),
                    status: p.status.into(),
                    failure_code: p.failure_code.clone(),
                    failure_message: p.failure_message.clone(),
                    created_at: p.created_at,
                })
                .collect(),
            amount_refunded: text(i.amount_refunded()?),
            refunds: i
                .refunds
                .iter()
                .map(|r| RefundDto {
                    stripe_refund_id: r.processor_refund_id.clone(),
                    to: r.destination.into(),
                    stripe_payment_intent_id: r.processor_payment_id.clone(),
                    amount: text(r.amount),
                    reason: r.reason.map(Into::into),
                    status: r.status.into(),
                    created_at: r.created_at,
                })
                .collect(),
            disputes: i
                .disputes
                .iter()
                .map(|d| DisputeDto {
                    stripe_dispute_id: d.processor_dispute_id.clone(),
                    stripe_payment_intent_id: d.processor_payment_id.clone(),
                    amount: text(d.amount),
                    reason: d.reason.clone(),
                    status: d.status.as_str().to_owned(),
                    created_at: d.created_at,
                    updated_at: d.updated_at,
                })
                .collect(),
            created_at: i.created_at,
        })
    }
}

/// A dispute (chargeback) of a payment. While it is open or once it is lost, the payment cannot
/// also be refunded.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisputeDto {
    #[schema(example = "dp_1Nispe2eZvKYlo2Cd31jOCgZ")]
    pub stripe_dispute_id: String,
    pub stripe_payment_intent_id: String,
    #[schema(example = "79.99")]
    pub amount: String,
    /// The bank's reason, as Stripe gives it (`fraudulent`, `product_not_received`...).
    #[schema(example = "fraudulent")]
    pub reason: String,
    /// Stripe's dispute status: `needs_response`, `under_review`, `won`, `lost`,
    /// `warning_needs_response`, `warning_under_review`, `warning_closed` or `prevented`.
    #[schema(example = "needs_response")]
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A refund of a payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundDto {
    /// Stripe's refund; `null` for a refund to the credit balance.
    #[schema(example = "re_1Nispe2eZvKYlo2Cd31jOCgZ")]
    pub stripe_refund_id: Option<String>,
    pub to: RefundDestination,
    pub stripe_payment_intent_id: String,
    #[schema(example = "10.00")]
    pub amount: String,
    pub reason: Option<RefundReason>,
    /// `pending` while the processor has not answered (its amount is held), then `succeeded`
    /// or `failed` (its amount is free again).
    pub status: RefundStatus,
    pub created_at: DateTime<Utc>,
}

/// `POST /invoices/{id}/refunds` (operators).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInvoiceRequest {
    /// A decimal string in the invoice's currency; omitted: all that is left to refund (`null`
    /// is refused: only leaving it out means the rest).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, example = "10.00")]
    pub amount: Option<Option<String>>,
    pub reason: Option<RefundReason>,
    /// `payment_method` (the default) or `credit_balance`.
    pub to: Option<RefundDestination>,
}

impl RefundInvoiceRequest {
    /// `request_key`: the caller's `Idempotency-Key`, hashed (see [`crate::idempotency::request_key`]).
    pub fn into_domain(
        self,
        request_key: Option<String>,
    ) -> Result<billing_domain::invoicing::refunds::RefundRequest, FieldError> {
        Ok(billing_domain::invoicing::refunds::RefundRequest {
            amount: match self.amount {
                None => None,
                Some(None) => {
                    return Err(FieldError::new(
                        "amount",
                        "must be a decimal string; leave it out to refund the rest",
                    ))
                }
                Some(Some(raw)) => Some(decimal("amount", &raw)?),
            },
            reason: self.reason.map(Into::into),
            request_key,
            to: self.to.map(Into::into).unwrap_or_default(),
        })
    }
}

/// One row of the revenue report: a month's (or a plan's) revenue in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueRow {
    /// With `group_by=month`: `2026-12`; otherwise `null`.
    pub month: Option<String>,
    /// With `group_by=plan`: the plan (`null`: pre-orders); otherwise `null`.
    pub plan_id: Option<String>,
    pub currency: Currency,
    /// Paid invoices (card payments and customer credit spent), decimal string.
    #[schema(example = "159.98")]
    pub paid: String,
    #[schema(example = "79.99")]
    pub refunded: String,
    /// `paid − refunded`.
    #[schema(example = "79.99")]
    pub net: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevenueReportResponse {
    pub from: String,
    pub to: String,
    /// `month` or `plan`.
    pub group_by: String,
    pub data: Vec<RevenueRow>,
    /// Per currency over the whole range.
    pub totals: Vec<RevenueRow>,
}

impl RevenueReportResponse {
    pub fn new(
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
        days: &[billing_domain::invoicing::revenue::RevenueDay],
        by_plan: bool,
    ) -> Self {
        type Key = (Option<String>, Option<String>, DCurrency);
        let mut grouped: BTreeMap<Key, (Decimal, Decimal)> = BTreeMap::new();
        let mut totals: BTreeMap<DCurrency, (Decimal, Decimal)> = BTreeMap::new();
        for d in days {
            let key = if by_plan {
                (
                    None,
                    d.plan_id.as_ref().map(ToString::to_string),
                    d.currency,
                )
            } else {
                (Some(d.day.format("%Y-%m").to_string()), None, d.currency)
            };
            for sums in [
                grouped.entry(key).or_default(),
                totals.entry(d.currency).or_default(),
            ] {
                sums.0 += d.paid;
                sums.1 += d.refunded;
            }
        }
        let row = |month, plan_id, currency: DCurrency, (paid, refunded): (Decimal, Decimal)| {
            let m = |d: Decimal| Money::round(d, currency).amount().to_string();
            RevenueRow {
                month,
                plan_id,
                currency: currency.into(),
                paid: m(paid),
                refunded: m(refunded),
                net: m(paid - refunded),
            }
        };
        RevenueReportResponse {
            from: from.format("%Y-%m-%d").to_string(),
            to: to.format("%Y-%m-%d").to_string(),
            group_by: if by_plan { "plan" } else { "month" }.into(),
            data: grouped
                .into_iter()
                .map(|((month, plan, currency), sums)| row(month, plan, currency, sums))
                .collect(),
            totals: totals
                .into_iter()
                .map(|(currency, sums)| row(None, None, currency, sums))
                .collect(),
        }
    }
}
