//! Invoices (`IN#<id>` / `INVOICE`), unique per period or plan-change version by a guard item,
//! stored with their events and credit changes.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, Put, TransactWriteItem};
use billing_domain::events::DomainEvent;
use billing_domain::invoicing::Invoice;
use billing_domain::kernel::ids::{InvoiceId, SubscriptionId};
use billing_domain::kernel::page::{Page, PageRequest};

use crate::{canceled, encode, encode_entity, failed, items, key, s, unavailable, DynamoStore};
use billing_domain::invoicing::InvoiceRepo;
use billing_domain::kernel::ports::StoreError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

fn invoice_events(invoice: &Invoice, sequence: u64) -> Vec<DomainEvent> {
    invoice.events.stamped(
        invoice.id.as_str(),
        &invoice.customer_id,
        Some(&invoice.subscription_id),
        sequence,
    )
}

/// The key of the guard that makes an invoice unique: its period's, or for a plan change the
/// version of the subscription it changes.
fn invoice_guard_sk(invoice: &Invoice) -> Result<String, StoreError> {
    if invoice.billing_reason.is_period_invoice() {
        return Ok(items::period_invoice_sk(invoice.period.start));
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
        self.load::<items::InvoiceItem, _>(items::invoice_pk(id), "INVOICE")
            .await
    }

    async fn insert_invoice(&self, invoice: &Invoice) -> Result<(), StoreError> {
        let put_invoice = Put::builder()
            .table_name(&self.table)
            .set_item(Some(encode_entity::<_, Invoice>(
                &items::InvoiceItem::from(invoice),
            )?))
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
        writes.extend(self.event_writes(&invoice_events(invoice, invoice.version))?);
        let credit_from = writes.len();
        writes.extend(self.credit_writes(&invoice.credit_changes)?);
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
        let item = encode_entity::<_, Invoice>(&items::InvoiceItem::from(&*invoice))?;
        let mut together = self.event_writes(&invoice_events(invoice, invoice.version + 1))?;
        together.extend(self.credit_writes(&invoice.credit_changes)?);
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
                |i: &Invoice| items::InvoiceItem::from(i),
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
