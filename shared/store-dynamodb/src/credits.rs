//! Customers' credit balances. `CUS#<id>` / `CREDIT#<currency>` holds `amount_minor`, a
//! number changed only by `ADD`, under a condition that keeps it from going below zero, in the
//! transaction that stores the invoice the change belongs to. Each change is also a ledger item
//! `CREDITTX#<transaction id>` / `CREDITTX` (written once: its id names the invoice and what
//! happened), listed newest first in gsi1 under `CUS#<id>#CREDITTX`.

use std::str::FromStr;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use billing_domain::customers::credit::{CreditTransaction, CreditTransactionKind};
use billing_domain::customers::CreditRepo;
use billing_domain::kernel::ids::{CustomerId, InvoiceId};
use billing_domain::kernel::money::{Currency, Money};
use billing_domain::kernel::page::{Page, PageRequest};
use billing_domain::kernel::ports::StoreError;
use serde::{Deserialize, Serialize};

use crate::items::{corrupt, customer_pk, parse_ts, ts};
use crate::{decode, encode, key, s, unavailable, DynamoStore};

#[derive(Debug, Serialize, Deserialize)]
struct CreditBalanceItem {
    pk: String,
    sk: String,
    currency: Currency,
    amount_minor: i64,
}

#[derive(Debug, Serialize, Deserialize)]
struct CreditTransactionItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    entity: String,
    id: String,
    customer_id: String,
    kind: CreditTransactionKind,
    currency: Currency,
    amount_minor: i64,
    invoice_id: Option<String>,
    created_at: String,
}

fn balance_sk(currency: Currency) -> String {
    format!("CREDIT#{}", currency.code())
}

fn transaction_pk(id: &str) -> String {
    format!("CREDITTX#{id}")
}

fn transactions_gsi1pk(customer_id: &CustomerId) -> String {
    format!("{}#CREDITTX", customer_pk(customer_id))
}

impl CreditTransactionItem {
    fn new(t: &CreditTransaction) -> Result<Self, StoreError> {
        Ok(CreditTransactionItem {
            pk: transaction_pk(&t.id),
            sk: "CREDITTX".into(),
            gsi1pk: transactions_gsi1pk(&t.customer_id),
            gsi1sk: format!("{}#{}", ts(t.created_at), t.id),
            entity: "credit_transaction".into(),
            id: t.id.clone(),
            customer_id: t.customer_id.to_string(),
            kind: t.kind,
            currency: t.amount.currency(),
            amount_minor: t
                .amount
                .to_minor_units()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            invoice_id: t.invoice_id.as_ref().map(ToString::to_string),
            created_at: ts(t.created_at),
        })
    }
}

impl TryFrom<CreditTransactionItem> for CreditTransaction {
    type Error = StoreError;
    fn try_from(i: CreditTransactionItem) -> Result<Self, StoreError> {
        Ok(CreditTransaction {
            id: i.id,
            customer_id: CustomerId::from_str(&i.customer_id).map_err(corrupt("customer_id"))?,
            kind: i.kind,
            amount: Money::from_minor_units(i.amount_minor, i.currency),
            invoice_id: i
                .invoice_id
                .map(|id| InvoiceId::from_str(&id))
                .transpose()
                .map_err(corrupt("invoice_id"))?,
            created_at: parse_ts("created_at", &i.created_at)?,
        })
    }
}

impl DynamoStore {
    /// The writes of `changes`, for the transaction of the invoice they belong to: per change,
    /// the balance (an `ADD`; spending is conditional on the balance covering it) and its
    /// ledger item (written once).
    pub(crate) fn credit_writes(
        &self,
        changes: &[CreditTransaction],
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut writes = Vec::new();
        for change in changes {
            let delta = change
                .amount
                .to_minor_units()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let mut update = Update::builder()
                .table_name(self.table())
                .set_key(Some(key(
                    customer_pk(&change.customer_id),
                    &balance_sk(change.amount.currency()),
                )))
                .update_expression(
                    "SET #entity = :entity, #currency = :currency ADD #amount :delta",
                )
                .expression_attribute_names("#entity", "entity")
                .expression_attribute_names("#currency", "currency")
                .expression_attribute_names("#amount", "amount_minor")
                .expression_attribute_values(":entity", s("credit_balance"))
                .expression_attribute_values(":currency", s(change.amount.currency().code()))
                .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()));
            if delta < 0 {
                update = update
                    .condition_expression("#amount >= :needed")
                    .expression_attribute_values(
                        ":needed",
                        AttributeValue::N((-delta).to_string()),
                    );
            }
            writes.push(
                TransactWriteItem::builder()
                    .update(update.build().map_err(unavailable)?)
                    .build(),
            );
            let entry = Put::builder()
                .table_name(self.table())
                .set_item(Some(encode(&CreditTransactionItem::new(change)?)?))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(unavailable)?;
            writes.push(TransactWriteItem::builder().put(entry).build());
        }
        Ok(writes)
    }
}

#[async_trait]
impl CreditRepo for DynamoStore {
    async fn credit_balance(
        &self,
        customer_id: &CustomerId,
        currency: Currency,
    ) -> Result<Money, StoreError> {
        let item: Option<CreditBalanceItem> = self
            .get(customer_pk(customer_id), &balance_sk(currency))
            .await?;
        Ok(Money::from_minor_units(
            item.map_or(0, |i| i.amount_minor),
            currency,
        ))
    }

    async fn credit_balances(&self, customer_id: &CustomerId) -> Result<Vec<Money>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :credit)")
            .expression_attribute_values(":pk", s(customer_pk(customer_id)))
            .expression_attribute_values(":credit", s("CREDIT#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(|row| {
                decode::<CreditBalanceItem>(row)
                    .map(|i| Money::from_minor_units(i.amount_minor, i.currency))
            })
            .collect()
    }

    async fn list_credit_transactions(
        &self,
        customer_id: &CustomerId,
        page: &PageRequest,
    ) -> Result<Page<CreditTransaction>, StoreError> {
        let cursor = match &page.starting_after {
            Some(id) => Some(
                self.get::<CreditTransactionItem>(transaction_pk(id), "CREDITTX")
                    .await?
                    .filter(|i| i.customer_id == customer_id.as_str())
                    .ok_or(StoreError::UnknownCursor)?,
            ),
            None => None,
        };
        self.page_after(&transactions_gsi1pk(customer_id), page, cursor)
            .await
    }
}
