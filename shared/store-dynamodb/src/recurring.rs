//! Subscriptions' recurring items, under their product's partition:
//!
//! - `ITEM#<subscription>#<period start>`: a period's item delivered (`shipped` or
//!   `backordered`), put on condition it is new, so each period's item is delivered once;
//! - `ITEMBACKORDER#<backordered at>#<subscription>#<period start>`: an item waiting for stock;
//!   a query of the partition reads them oldest first.

use std::str::FromStr;

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use billing_domain::inventory::recurring::{ItemBackorder, ItemBackorderFill, ItemDelivery};
use billing_domain::kernel::ids::{CustomerId, ProductId, SubscriptionId};
use billing_domain::kernel::ports::StoreError;
use serde::{Deserialize, Serialize};

use crate::items::{corrupt, parse_ts, ts};
use crate::products::product_pk;
use crate::{canceled, decode, encode, failed, key, s, unavailable, DynamoStore};

const BACKORDER_PREFIX: &str = "ITEMBACKORDER#";

fn delivery_sk(item: &ItemBackorder) -> String {
    format!("ITEM#{}#{}", item.subscription_id, ts(item.period_start))
}

fn backorder_sk(item: &ItemBackorder) -> String {
    format!(
        "{BACKORDER_PREFIX}{}#{}#{}",
        ts(item.created_at),
        item.subscription_id,
        ts(item.period_start)
    )
}

/// A period's item: its delivery guard and, while it waits, its place among the backorders.
#[derive(Debug, Serialize, Deserialize)]
struct ItemRow {
    pk: String,
    sk: String,
    entity: String,
    status: String,
    subscription_id: String,
    customer_id: String,
    period_start: String,
    quantity: u32,
    created_at: String,
}

impl ItemRow {
    fn new(pk: String, sk: String, status: &str, item: &ItemBackorder) -> Self {
        ItemRow {
            pk,
            sk,
            entity: "subscription_item".into(),
            status: status.into(),
            subscription_id: item.subscription_id.to_string(),
            customer_id: item.customer_id.to_string(),
            period_start: ts(item.period_start),
            quantity: item.quantity,
            created_at: ts(item.created_at),
        }
    }

    fn backorder(self) -> Result<ItemBackorder, StoreError> {
        Ok(ItemBackorder {
            subscription_id: SubscriptionId::from_str(&self.subscription_id)
                .map_err(corrupt("subscription_id"))?,
            customer_id: CustomerId::from_str(&self.customer_id).map_err(corrupt("customer_id"))?,
            period_start: parse_ts("period_start", &self.period_start)?,
            quantity: self.quantity,
            created_at: parse_ts("created_at", &self.created_at)?,
        })
    }
}

impl DynamoStore {
    /// The first `limit` items of partition `pk` whose sort keys start with `prefix`, in key
    /// order (a consistent read).
    pub(crate) async fn first_under(
        &self,
        pk: String,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<crate::Item>, StoreError> {
        let out = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.items.unwrap_or_default())
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`, in key order,
    /// following DynamoDB's pages.
    pub(crate) async fn all_under(
        &self,
        pk: String,
        prefix: &str,
    ) -> Result<Vec<crate::Item>, StoreError> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s(prefix))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            all.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(all),
            }
        }
    }

    pub(crate) async fn store_item_delivery(
        &self,
        d: &mut ItemDelivery,
    ) -> Result<bool, StoreError> {
        let pk = product_pk(&d.product.id);
        let status = if d.shipment.is_some() {
            "shipped"
        } else {
            "backordered"
        };
        let mut writes = vec![
            self.product_put(&d.product)?,
            self.put_new(encode(&ItemRow::new(
                pk.clone(),
                delivery_sk(&d.item),
                status,
                &d.item,
            ))?)?,
        ];
        match &d.shipment {
            Some(shipment) => writes.push(self.move_put(&d.product.id, shipment)?),
            None => writes.push(self.put_new(encode(&ItemRow::new(
                pk,
                backorder_sk(&d.item),
                status,
                &d.item,
            ))?)?),
        }
        writes.extend(self.product_events(&d.product)?);
        let sequence = d.product.version + 1;
        writes.extend(self.event_writes(&d.events.stamped(
            &format!("{}_{}", d.product.id, d.item.subscription_id),
            &d.item.customer_id,
            Some(&d.item.subscription_id),
            sequence,
        ))?);
        match self.transact(writes).await? {
            Ok(()) => {
                d.product.version += 1;
                d.product.events.clear();
                d.events.clear();
                Ok(true)
            }
            Err(codes) if failed(&codes, 1) => Ok(false),
            Err(codes) if failed(&codes, 0) || codes.iter().any(|c| c == "TransactionConflict") => {
                Err(StoreError::VersionConflict)
            }
            Err(codes) => Err(canceled(&codes)),
        }
    }

    pub(crate) async fn read_item_backorders(
        &self,
        id: &ProductId,
        limit: usize,
    ) -> Result<Vec<ItemBackorder>, StoreError> {
        self.first_under(product_pk(id), BACKORDER_PREFIX, limit)
            .await?
            .into_iter()
            .map(|item| decode::<ItemRow>(item)?.backorder())
            .collect()
    }

    pub(crate) async fn store_item_fill(
        &self,
        f: &mut ItemBackorderFill,
    ) -> Result<bool, StoreError> {
        let pk = product_pk(&f.product.id);
        let shipped = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(pk.clone(), &delivery_sk(&f.item))))
            .condition_expression("#status = :backordered")
            .update_expression("SET #status = :shipped")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":backordered", s("backordered"))
            .expression_attribute_values(":shipped", s("shipped"))
            .build()
            .map_err(unavailable)?;
        let dequeued = Delete::builder()
            .table_name(self.table())
            .set_key(Some(key(pk, &backorder_sk(&f.item))))
            .build()
            .map_err(unavailable)?;
        let mut writes = vec![
            self.product_put(&f.product)?,
            self.move_put(&f.product.id, &f.shipment)?,
            TransactWriteItem::builder().update(shipped).build(),
            TransactWriteItem::builder().delete(dequeued).build(),
        ];
        writes.extend(self.product_events(&f.product)?);
        match self.transact(writes).await? {
            Ok(()) => {
                f.product.version += 1;
                f.product.events.clear();
                Ok(true)
            }
            Err(codes) if failed(&codes, 2) => Ok(false),
            Err(codes)
                if failed(&codes, 0)
                    || failed(&codes, 1)
                    || codes.iter().any(|c| c == "TransactionConflict") =>
            {
                Err(StoreError::VersionConflict)
            }
            Err(codes) => Err(canceled(&codes)),
        }
    }
}

/// A subscription that carries the product as an item: `PRODUCT#<product id>` /
/// `BOX#<subscription id>` (the forecast reads them).
#[derive(Debug, Serialize, Deserialize)]
struct BoxLink {
    pk: String,
    sk: String,
    entity: String,
    subscription_id: String,
}

const BOX_PREFIX: &str = "BOX#";

impl DynamoStore {
    pub(crate) async fn store_box_links(
        &self,
        subscription: &SubscriptionId,
        before: &[ProductId],
        after: &[ProductId],
    ) -> Result<(), StoreError> {
        for product in after.iter().filter(|p| !before.contains(p)) {
            let link = encode(&BoxLink {
                pk: product_pk(product),
                sk: format!("{BOX_PREFIX}{subscription}"),
                entity: "box_link".into(),
                subscription_id: subscription.to_string(),
            })?;
            self.client()
                .put_item()
                .table_name(self.table())
                .set_item(Some(link))
                .send()
                .await
                .map_err(unavailable)?;
        }
        for product in before.iter().filter(|p| !after.contains(p)) {
            self.client()
                .delete_item()
                .table_name(self.table())
                .set_key(Some(key(
                    product_pk(product),
                    &format!("{BOX_PREFIX}{subscription}"),
                )))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    pub(crate) async fn read_box_links(
        &self,
        product: &ProductId,
    ) -> Result<Vec<SubscriptionId>, StoreError> {
        self.all_under(product_pk(product), BOX_PREFIX)
            .await?
            .into_iter()
            .map(|item| {
                let link: BoxLink = decode(item)?;
                SubscriptionId::from_str(&link.subscription_id).map_err(corrupt("subscription_id"))
            })
            .collect()
    }
}
