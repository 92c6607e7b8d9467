//! Purchase orders: `PURCHASE_ORDER#<id>` / `PURCHASE_ORDER`, listed newest first under
//! `PURCHASE_ORDERS` (gsi1). Each is written with its product, in the product's transaction.

use std::str::FromStr;

use aws_sdk_dynamodb::types::TransactWriteItem;
use billing_domain::customers::Email;
use billing_domain::inventory::product::Product;
use billing_domain::inventory::purchasing::{PurchaseOrder, PurchaseOrderStatus};
use billing_domain::kernel::ids::{ProductId, PurchaseOrderId};
use billing_domain::kernel::page::{Page, PageRequest};
use billing_domain::kernel::ports::StoreError;
use serde::{Deserialize, Serialize};

use crate::items::{corrupt, parse_opt_ts, parse_ts, ts, EntityKeys};
use crate::{canceled, encode_entity, DynamoStore};

const LIST_GSI1PK: &str = "PURCHASE_ORDERS";
const SK: &str = "PURCHASE_ORDER";

fn pk(id: &PurchaseOrderId) -> String {
    format!("PURCHASE_ORDER#{id}")
}

#[derive(Debug, Serialize, Deserialize)]
struct PurchaseOrderItem {
    #[serde(flatten)]
    keys: EntityKeys,
    id: String,
    product_id: String,
    supplier_email: String,
    quantity: u64,
    status: String,
    expected_at: Option<String>,
    sent_at: Option<String>,
    received_at: Option<String>,
}

impl From<&PurchaseOrder> for PurchaseOrderItem {
    fn from(p: &PurchaseOrder) -> Self {
        PurchaseOrderItem {
            keys: EntityKeys {
                pk: pk(&p.id),
                sk: SK.into(),
                gsi1pk: LIST_GSI1PK.into(),
                gsi1sk: format!("{}#{}", ts(p.created_at), p.id),
                entity: "purchase_order".into(),
                created_at: ts(p.created_at),
                updated_at: ts(p.updated_at),
                version: p.version,
            },
            id: p.id.to_string(),
            product_id: p.product_id.to_string(),
            supplier_email: p.supplier_email.to_string(),
            quantity: p.quantity,
            status: p.status.as_str().into(),
            expected_at: p.expected_at.map(ts),
            sent_at: p.sent_at.map(ts),
            received_at: p.received_at.map(ts),
        }
    }
}

impl TryFrom<PurchaseOrderItem> for PurchaseOrder {
    type Error = StoreError;
    fn try_from(i: PurchaseOrderItem) -> Result<Self, Self::Error> {
        Ok(PurchaseOrder {
            id: PurchaseOrderId::from_str(&i.id).map_err(corrupt("id"))?,
            product_id: ProductId::from_str(&i.product_id).map_err(corrupt("product_id"))?,
            supplier_email: Email::parse("supplier_email", &i.supplier_email)
                .map_err(corrupt("supplier_email"))?,
            quantity: i.quantity,
            status: PurchaseOrderStatus::parse(&i.status).ok_or_else(|| {
                StoreError::Corrupt(format!("purchase order status {}", i.status))
            })?,
            expected_at: parse_opt_ts("expected_at", &i.expected_at)?,
            sent_at: parse_opt_ts("sent_at", &i.sent_at)?,
            received_at: parse_opt_ts("received_at", &i.received_at)?,
            created_at: parse_ts("created_at", &i.keys.created_at)?,
            updated_at: parse_ts("updated_at", &i.keys.updated_at)?,
            version: i.keys.version,
        })
    }
}

impl DynamoStore {
    /// The writes of a product's purchase order changes: a new one (version 0, stored as 1) put
    /// on condition it is new, a changed one on condition its version is the one read.
    pub(crate) fn purchase_order_writes(
        &self,
        product: &Product,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        product
            .purchase_order_changes
            .iter()
            .map(|order| {
                if order.version == 0 {
                    let first = PurchaseOrder {
                        version: 1,
                        ..order.clone()
                    };
                    self.put_new(encode_entity::<_, PurchaseOrder>(
                        &PurchaseOrderItem::from(&first),
                    )?)
                } else {
                    let item = encode_entity::<_, PurchaseOrder>(&PurchaseOrderItem::from(order))?;
                    Ok(TransactWriteItem::builder()
                        .put(self.versioned_put(item, order.version)?)
                        .build())
                }
            })
            .collect()
    }

    pub(crate) async fn store_product_changes(
        &self,
        product: &mut Product,
    ) -> Result<(), StoreError> {
        let mut writes = vec![self.product_put(product)?];
        writes.extend(self.product_events(product)?);
        match self.transact(writes).await? {
            Ok(()) => {
                product.version += 1;
                product.events.clear();
                product.purchase_order_changes.clear();
                Ok(())
            }
            Err(codes)
                if codes
                    .iter()
                    .any(|c| c == "ConditionalCheckFailed" || c == "TransactionConflict") =>
            {
                Err(StoreError::VersionConflict)
            }
            Err(codes) => Err(canceled(&codes)),
        }
    }

    pub(crate) async fn read_purchase_order(
        &self,
        id: &PurchaseOrderId,
    ) -> Result<Option<PurchaseOrder>, StoreError> {
        self.load::<PurchaseOrderItem, _>(pk(id), SK).await
    }

    pub(crate) async fn read_purchase_orders(
        &self,
        product: Option<&ProductId>,
        status: Option<PurchaseOrderStatus>,
        page: &PageRequest,
    ) -> Result<Page<PurchaseOrder>, StoreError> {
        // Few: read whole and filtered here; pages follow the list convention.
        let selected = self
            .newest_first::<PurchaseOrderItem, PurchaseOrder>(LIST_GSI1PK)
            .await?
            .into_iter()
            .filter(|o| product.is_none_or(|p| &o.product_id == p))
            .filter(|o| status.is_none_or(|s| o.status == s));
        crate::page_of(selected, page, |o| o.id.as_str())
    }
}
