//! Invoices (`IN#<id>` / `INVOICE`), unique per period or plan-change version by a guard item,
//! stored with their events and credit changes.

use std::str::FromStr;

use billing_domain::invoicing::{
    BillingReason, DisputeRecord, DisputeStatus, Invoice, InvoiceLine, InvoiceStatus, LineKind,
    PaymentRecord, PaymentStatus, RefundDestination, RefundReason, RefundRecord, RefundStatus,
};
use billing_domain::kernel::ids::{CustomerId, InvoiceId, SubscriptionId};
use billing_domain::kernel::money::{Currency, Money};
use billing_domain::kernel::period::Period;
use billing_domain::kernel::ports::StoreError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::items::{
    corrupt, invoice_pk, money, parse_opt_ts, parse_ts, subscription_invoices_gsi1pk, ts,
    EntityKeys,
};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem};
use billing_domain::events::DomainEvent;
use billing_domain::kernel::page::{Page, PageRequest};
use rust_decimal::Decimal;

use crate::{canceled, encode, encode_entity, failed, items, key, s, unavailable, DynamoStore};
use billing_domain::invoicing::revenue::RevenueDay;
use billing_domain::invoicing::InvoiceRepo;

fn invoice_events(invoice: &Invoice, sequence: u64) -> Vec<DomainEvent> {
    invoice.events.stamped(
        invoice.id.as_str(),
        &invoice.customer_id,
        Some(&invoice.subscription_id),
        sequence,
    )
}

/// The partition of the revenue report's daily totals.
pub(crate) const REVENUE_PK: &str = "REVENUE";

/// The updates of the revenue report's daily totals that `events` make (`invoice.paid` adds to
/// `paid`, `invoice.refunded` to `refunded`), one per day, currency and plan, for the
/// transaction that stores them.
pub(crate) fn revenue_writes(
    table: &str,
    events: &[DomainEvent],
) -> Result<Vec<TransactWriteItem>, StoreError> {
    use billing_domain::events::EventKind;
    let mut totals: std::collections::BTreeMap<(String, String, String), (Decimal, Decimal)> =
        std::collections::BTreeMap::new();
    for e in events {
        let (Some(amount), paid) = (e.facts.amount, e.kind == EventKind::InvoicePaid) else {
            continue;
        };
        if !matches!(e.kind, EventKind::InvoicePaid | EventKind::InvoiceRefunded) {
            continue;
        }
        let plan = e
            .facts
            .plan_id
            .as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string);
        let day = e.occurred_at.format("%Y-%m-%d").to_string();
        let entry = totals
            .entry((day, amount.currency().code().to_owned(), plan))
            .or_default();
        if paid {
            entry.0 += amount.amount();
        } else {
            entry.1 += amount.amount();
        }
    }
    totals
        .into_iter()
        .map(|((day, currency, plan), (paid, refunded))| {
            let update = aws_sdk_dynamodb::types::Update::builder()
                .table_name(table)
                .set_key(Some(key(
                    REVENUE_PK.into(),
                    &format!("{day}#{currency}#{plan}"),
                )))
                .update_expression(
                    "SET entity = :e, #day = :d, currency = :c, plan_id = :p ADD paid :paid, refunded :refunded",
                )
                .expression_attribute_names("#day", "day")
                .expression_attribute_values(":e", s("revenue_day"))
                .expression_attribute_values(":d", s(day))
                .expression_attribute_values(":c", s(currency))
                .expression_attribute_values(":p", s(plan))
                .expression_attribute_values(":paid", AttributeValue::N(paid.to_string()))
                .expression_attribute_values(
                    ":refunded",
                    AttributeValue::N(refunded.to_string()),
                )
                .build()
                .map_err(unavailable)?;
            Ok(TransactWriteItem::builder().update(update).build())
        })
        .collect()
}

/// The key of the guard that makes an invoice unique: its period's, or for a plan change the
/// version of the subscription it changes.
fn invoice_guard_sk(invoice: &Invoice) -> Result<String, StoreError> {
    if invoice.billing_reason.is_period_invoice() {
        return Ok(items::period_invoice_sk(invoice.period.start));
    }
    if invoice.billing_reason == billing_domain::invoicing::BillingReason::Preorder {
        // The invoice's id is the pre-order's own: one invoice per pre-order.
        return Ok(format!("INVOICE_PREORDER#{}", invoice.id));
    }
    if invoice.billing_reason == billing_domain::invoicing::BillingReason::SubscriptionFinal {
        return Ok(format!("INVOICE_FINAL#{}", invoice.id));
    }
    if invoice.billing_reason == billing_domain::invoicing::BillingReason::TopUp {
        // One invoice per top-up (its id comes from the request's key when it has one).
        return Ok(format!("INVOICE_TOPUP#{}", invoice.id));
    }
    invoice
        .subscription_version
        .map(items::update_invoice_sk)
        .ok_or_else(|| StoreError::Corrupt("a plan change's invoice without its version".into()))
}

#[derive(Debug, Serialize, Deserialize)]
struct PeriodInvoiceGuard {
    pk: String,
    sk: String,
    entity: String,
    invoice_id: String,
}

#[async_trait]
impl InvoiceRepo for DynamoStore {
    async fn get_invoice(&self, id: &InvoiceId) -> Result<Option<Invoice>, StoreError> {
        self.load::<InvoiceItem, _>(items::invoice_pk(id), "INVOICE")
            .await
    }

    async fn insert_invoice(&self, invoice: &Invoice) -> Result<(), StoreError> {
        let put_invoice = Put::builder()
            .table_name(&self.table)
            .set_item(Some(encode_entity::<_, Invoice>(&InvoiceItem::from(
                invoice,
            ))?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unavailable)?;
        let guard = encode(&PeriodInvoiceGuard {
            pk: items::subscription_pk(&invoice.subscription_id),
            sk: invoice_guard_sk(invoice)?,
            entity: "period_invoice".into(),
            invoice_id: invoice.id.to_string(),
        })?;
        let put_guard = Put::builder()
            .table_name(&self.table)
            .set_item(Some(guard))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(unavailable)?;
        let mut writes = vec![
            TransactWriteItem::builder().put(put_invoice).build(),
            TransactWriteItem::builder().put(put_guard).build(),
        ];
        let events = invoice_events(invoice, invoice.version);
        writes.extend(self.event_writes(&events)?);
        let credit_from = writes.len();
        writes.extend(self.credit_writes(&invoice.credit_changes)?);
        writes.extend(revenue_writes(&self.table, &events)?);
        let outcome = self.transact(writes).await?;
        match outcome {
            Ok(()) => Ok(()),
            Err(codes) if failed(&codes, 0) || failed(&codes, 1) => Err(StoreError::AlreadyExists),
            // The credit balance changed since it was read.
            Err(codes) if (credit_from..codes.len()).any(|i| failed(&codes, i)) => {
                Err(StoreError::VersionConflict)
            }
            Err(codes) => Err(canceled(&codes)),
        }
    }

    async fn find_period_invoice(
        &self,
        subscription_id: &SubscriptionId,
        period_start: DateTime<Utc>,
    ) -> Result<Option<Invoice>, StoreError> {
        let guard: Option<PeriodInvoiceGuard> = self
            .get(
                items::subscription_pk(subscription_id),
                &items::period_invoice_sk(period_start),
            )
            .await?;
        match guard {
            Some(guard) => {
                let id = guard
                    .invoice_id
                    .parse::<InvoiceId>()
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                self.get_invoice(&id).await
            }
            None => Ok(None),
        }
    }

    async fn update_invoice(&self, invoice: &mut Invoice) -> Result<(), StoreError> {
        let item = encode_entity::<_, Invoice>(&InvoiceItem::from(&*invoice))?;
        let events = invoice_events(invoice, invoice.version + 1);
        let mut together = self.event_writes(&events)?;
        together.extend(self.credit_writes(&invoice.credit_changes)?);
        together.extend(revenue_writes(&self.table, &events)?);
        if invoice.status == billing_domain::invoicing::InvoiceStatus::Void
            && invoice.subscription_version.is_some()
        {
            // A voided plan change frees its version of the subscription for the next try.
            let release = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(key(
                    items::subscription_pk(&invoice.subscription_id),
                    &invoice_guard_sk(invoice)?,
                )))
                .condition_expression("attribute_not_exists(pk) OR invoice_id = :id")
                .expression_attribute_values(":id", s(invoice.id.to_string()))
                .build()
                .map_err(unavailable)?;
            together.push(TransactWriteItem::builder().delete(release).build());
        }
        if together.is_empty() {
            self.update(item, invoice.version).await?;
        } else {
            let mut writes = vec![TransactWriteItem::builder()
                .put(self.versioned_put(item, invoice.version)?)
                .build()];
            writes.extend(together);
            match self.transact(writes).await? {
                Ok(()) => {}
                // Another writer changed the invoice, or the credit balance no longer covers it.
                Err(codes) if (0..codes.len()).any(|i| failed(&codes, i)) => {
                    return Err(StoreError::VersionConflict)
                }
                Err(codes) => return Err(canceled(&codes)),
            }
        }
        invoice.version += 1;
        invoice.events.clear();
        invoice.credit_changes.clear();
        Ok(())
    }

    async fn revenue_by_day(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<RevenueDay>, StoreError> {
        let corrupt_item = |what: &str| StoreError::Corrupt(format!("revenue day: {what}"));
        let mut days = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(REVENUE_PK))
                .expression_attribute_values(":from", s(from.format("%Y-%m-%d").to_string()))
                .expression_attribute_values(":to", s(format!("{}#~", to.format("%Y-%m-%d"))))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                let text = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .ok_or_else(|| corrupt_item(name))
                };
                let number = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| Decimal::from_str(n).ok())
                        .ok_or_else(|| corrupt_item(name))
                };
                let plan = text("plan_id")?;
                days.push(RevenueDay {
                    day: chrono::NaiveDate::parse_from_str(&text("day")?, "%Y-%m-%d")
                        .map_err(|_| corrupt_item("day"))?,
                    currency: Currency::from_str(&text("currency")?)
                        .map_err(|_| corrupt_item("currency"))?,
                    plan_id: match plan.as_str() {
                        "-" => None,
                        id => Some(
                            billing_domain::kernel::ids::PlanId::from_str(id)
                                .map_err(|_| corrupt_item("plan_id"))?,
                        ),
                    },
                    paid: number("paid")?,
                    refunded: number("refunded")?,
                });
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(days),
            }
        }
    }

    async fn list_invoices(
        &self,
        subscription_id: &SubscriptionId,
        page: &PageRequest,
    ) -> Result<Page<Invoice>, StoreError> {
        let cursor = self
            .cursor(
                page,
                |id: InvoiceId| async move { self.get_invoice(&id).await },
                |i: &Invoice| &i.subscription_id == subscription_id,
                |i: &Invoice| InvoiceItem::from(i),
            )
            .await?;
        self.page_after(
            &items::subscription_invoices_gsi1pk(subscription_id),
            page,
            cursor,
        )
        .await
    }
}

// ---- the item ----

#[derive(Debug, Serialize, Deserialize)]
pub struct InvoiceLineItem {
    kind: LineKind,
    description: String,
    amount: String,
    period_start: String,
    period_end: String,
}

impl From<&InvoiceLine> for InvoiceLineItem {
    fn from(l: &InvoiceLine) -> Self {
        InvoiceLineItem {
            kind: l.kind,
            description: l.description.clone(),
            amount: l.amount.amount().to_string(),
            period_start: ts(l.period.start),
            period_end: ts(l.period.end),
        }
    }
}

impl InvoiceLineItem {
    pub(crate) fn into_line(self, currency: Currency) -> Result<InvoiceLine, StoreError> {
        Ok(InvoiceLine {
            kind: self.kind,
            description: self.description,
            amount: money("lines.amount", &self.amount, currency)?,
            period: Period {
                start: parse_ts("lines.period_start", &self.period_start)?,
                end: parse_ts("lines.period_end", &self.period_end)?,
            },
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PaymentItem {
    processor_payment_id: Option<String>,
    attempt: u32,
    amount: String,
    status: PaymentStatus,
    failure_code: Option<String>,
    failure_message: Option<String>,
    created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RefundItem {
    processor_refund_id: Option<String>,
    #[serde(default)]
    destination: RefundDestination,
    processor_payment_id: String,
    amount: String,
    reason: Option<RefundReason>,
    status: RefundStatus,
    #[serde(default)]
    key: Option<String>,
    created_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct DisputeItem {
    processor_dispute_id: String,
    processor_payment_id: String,
    amount: String,
    reason: String,
    status: DisputeStatus,
    created_at: String,
    updated_at: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct InvoiceItem {
    #[serde(flatten)]
    pub keys: EntityKeys,
    pub id: String,
    pub subscription_id: String,
    pub customer_id: String,
    pub currency: Currency,
    pub status: InvoiceStatus,
    #[serde(default)]
    pub billing_reason: BillingReason,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    pub lines: Vec<InvoiceLineItem>,
    pub amount_paid: String,
    pub period_start: String,
    pub period_end: String,
    pub attempt_count: u32,
    pub next_attempt_at: Option<String>,
    #[serde(default)]
    pub payments: Vec<PaymentItem>,
    #[serde(default)]
    pub refunds: Vec<RefundItem>,
    #[serde(default)]
    pub disputes: Vec<DisputeItem>,
    /// Signed: credit spent on the invoice, or (negative) credit it issued.
    #[serde(default)]
    pub credit_applied: Option<String>,
}

impl From<&Invoice> for InvoiceItem {
    fn from(i: &Invoice) -> Self {
        InvoiceItem {
            keys: EntityKeys {
                pk: invoice_pk(&i.id),
                sk: "INVOICE".into(),
                gsi1pk: subscription_invoices_gsi1pk(&i.subscription_id),
                gsi1sk: format!("{}#{}", ts(i.created_at), i.id),
                entity: "invoice".into(),
                created_at: ts(i.created_at),
                updated_at: ts(i.updated_at),
                version: i.version,
            },
            id: i.id.to_string(),
            subscription_id: i.subscription_id.to_string(),
            customer_id: i.customer_id.to_string(),
            currency: i.currency,
            status: i.status,
            billing_reason: i.billing_reason,
            subscription_version: i.subscription_version,
            plan_id: i.plan_id.as_ref().map(ToString::to_string),
            lines: i.lines.iter().map(InvoiceLineItem::from).collect(),
            amount_paid: i.amount_paid.amount().to_string(),
            period_start: ts(i.period.start),
            period_end: ts(i.period.end),
            attempt_count: i.attempt_count,
            next_attempt_at: i.next_attempt_at.map(ts),
            payments: i
                .payments
                .iter()
                .map(|p| PaymentItem {
                    processor_payment_id: p.processor_payment_id.clone(),
                    attempt: p.attempt,
                    amount: p.amount.amount().to_string(),
                    status: p.status,
                    failure_code: p.failure_code.clone(),
                    failure_message: p.failure_message.clone(),
                    created_at: ts(p.created_at),
                })
                .collect(),
            refunds: i
                .refunds
                .iter()
                .map(|r| RefundItem {
                    processor_refund_id: r.processor_refund_id.clone(),
                    destination: r.destination,
                    processor_payment_id: r.processor_payment_id.clone(),
                    amount: r.amount.amount().to_string(),
                    reason: r.reason,
                    status: r.status,
                    key: r.key.clone(),
                    created_at: ts(r.created_at),
                })
                .collect(),
            disputes: i
                .disputes
                .iter()
                .map(|d| DisputeItem {
                    processor_dispute_id: d.processor_dispute_id.clone(),
                    processor_payment_id: d.processor_payment_id.clone(),
                    amount: d.amount.amount().to_string(),
                    reason: d.reason.clone(),
                    status: d.status,
                    created_at: ts(d.created_at),
                    updated_at: ts(d.updated_at),
                })
                .collect(),
            credit_applied: (!i.credit_applied.amount().is_zero())
                .then(|| i.credit_applied.amount().to_string()),
        }
    }
}

impl TryFrom<InvoiceItem> for Invoice {
    type Error = StoreError;
    fn try_from(i: InvoiceItem) -> Result<Self, Self::Error> {
        let lines = i
            .lines
            .into_iter()
            .map(|l| l.into_line(i.currency))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let payments = i
            .payments
            .into_iter()
            .map(|p| {
                Ok(PaymentRecord {
                    processor_payment_id: p.processor_payment_id,
                    attempt: p.attempt,
                    amount: money("payments.amount", &p.amount, i.currency)?,
                    status: p.status,
                    failure_code: p.failure_code,
                    failure_message: p.failure_message,
                    created_at: parse_ts("payments.created_at", &p.created_at)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let refunds = i
            .refunds
            .into_iter()
            .map(|r| {
                Ok(RefundRecord {
                    processor_refund_id: r.processor_refund_id,
                    destination: r.destination,
                    processor_payment_id: r.processor_payment_id,
                    amount: money("refunds.amount", &r.amount, i.currency)?,
                    reason: r.reason,
                    status: r.status,
                    key: r.key,
                    created_at: parse_ts("refunds.created_at", &r.created_at)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let disputes = i
            .disputes
            .into_iter()
            .map(|d| {
                Ok(DisputeRecord {
                    processor_dispute_id: d.processor_dispute_id,
                    processor_payment_id: d.processor_payment_id,
                    amount: money("disputes.amount", &d.amount, i.currency)?,
                    reason: d.reason,
                    status: d.status,
                    created_at: parse_ts("disputes.created_at", &d.created_at)?,
                    updated_at: parse_ts("disputes.updated_at", &d.updated_at)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Invoice {
            id: InvoiceId::from_str(&i.id).map_err(corrupt("id"))?,
            subscription_id: SubscriptionId::from_str(&i.subscription_id)
                .map_err(corrupt("subscription_id"))?,
            customer_id: CustomerId::from_str(&i.customer_id).map_err(corrupt("customer_id"))?,
            currency: i.currency,
            status: i.status,
            billing_reason: i.billing_reason,
            subscription_version: i.subscription_version,
            plan_id: i
                .plan_id
                .as_deref()
                .map(billing_domain::kernel::ids::PlanId::from_str)
                .transpose()
                .map_err(corrupt("plan_id"))?,
            lines,
            amount_paid: money("amount_paid", &i.amount_paid, i.currency)?,
            period: Period {
                start: parse_ts("period_start", &i.period_start)?,
                end: parse_ts("period_end", &i.period_end)?,
            },
            attempt_count: i.attempt_count,
            next_attempt_at: parse_opt_ts("next_attempt_at", &i.next_attempt_at)?,
            payments,
            refunds,
            disputes,
            credit_applied: match &i.credit_applied {
                Some(amount) => money("credit_applied", amount, i.currency)?,
                None => Money::zero(i.currency),
            },
            credit_changes: Vec::new(),
            events: Default::default(),
            created_at: parse_ts("created_at", &i.keys.created_at)?,
            updated_at: parse_ts("updated_at", &i.keys.updated_at)?,
            version: i.keys.version,
        })
    }
}
