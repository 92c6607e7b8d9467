//! Tracked products: `PRODUCT#<product id>` / `TRACKER#<customer id>` (the product's trackers, one
//! query), listed by customer newest first under gsi1 `CUS#<customer id>#TRACKED`; the
//! customer's count at `CUS#<customer id>` / `TRACKED_COUNT`.

use std::str::FromStr;

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem, Update};
use billing_domain::inventory::tracking::{TrackedProduct, Tracking};
use billing_domain::kernel::ids::{CustomerId, ProductId};
use billing_domain::kernel::page::{Page, PageRequest};
use billing_domain::kernel::ports::StoreError;
use serde::{Deserialize, Serialize};

use crate::items::{corrupt, customer_pk, parse_ts, ts};
use crate::products::product_pk;
use crate::{canceled, decode, encode, failed, key, n, s, unavailable, DynamoStore};

const TRACKER_PREFIX: &str = "TRACKER#";
const COUNT_SK: &str = "TRACKED_COUNT";

fn list_gsi1pk(customer: &CustomerId) -> String {
    format!("{}#TRACKED", customer_pk(customer))
}

#[derive(Debug, Serialize, Deserialize)]
struct TrackedItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    entity: String,
    customer_id: String,
    product_id: String,
    created_at: String,
}

impl TryFrom<TrackedItem> for TrackedProduct {
    type Error = StoreError;
    fn try_from(i: TrackedItem) -> Result<Self, Self::Error> {
        Ok(TrackedProduct {
            customer_id: CustomerId::from_str(&i.customer_id).map_err(corrupt("customer_id"))?,
            product_id: ProductId::from_str(&i.product_id).map_err(corrupt("product_id"))?,
            created_at: parse_ts("created_at", &i.created_at)?,
        })
    }
}

#[derive(Debug, Deserialize)]
struct CountItem {
    count: u32,
}

impl DynamoStore {
    pub(crate) async fn store_tracked(
        &self,
        t: &TrackedProduct,
        limit: Option<u32>,
    ) -> Result<Tracking, StoreError> {
        let item = encode(&TrackedItem {
            pk: product_pk(&t.product_id),
            sk: format!("{TRACKER_PREFIX}{}", t.customer_id),
            gsi1pk: list_gsi1pk(&t.customer_id),
            gsi1sk: format!("{}#{}", ts(t.created_at), t.product_id),
            entity: "tracked_product".into(),
            customer_id: t.customer_id.to_string(),
            product_id: t.product_id.to_string(),
            created_at: ts(t.created_at),
        })?;
        let mut count = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(customer_pk(&t.customer_id), COUNT_SK)))
            .update_expression("SET #entity = :entity ADD #count :one")
            .expression_attribute_names("#entity", "entity")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":entity", s("tracked_count"))
            .expression_attribute_values(":one", n(1));
        if let Some(limit) = limit {
            count = count
                .condition_expression("attribute_not_exists(#count) OR #count < :limit")
                .expression_attribute_values(":limit", n(u64::from(limit)));
        }
        let writes = vec![
            self.put_new(item)?,
            TransactWriteItem::builder()
                .update(count.build().map_err(unavailable)?)
                .build(),
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(Tracking::Tracked),
            Err(codes) if failed(&codes, 0) => Ok(Tracking::AlreadyTracked),
            Err(codes) if failed(&codes, 1) => Ok(Tracking::LimitReached),
            Err(codes) => Err(canceled(&codes)),
        }
    }

    pub(crate) async fn remove_tracked(
        &self,
        customer: &CustomerId,
        product: &ProductId,
    ) -> Result<bool, StoreError> {
        let delete = Delete::builder()
            .table_name(self.table())
            .set_key(Some(key(
                product_pk(product),
                &format!("{TRACKER_PREFIX}{customer}"),
            )))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(unavailable)?;
        let uncount = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(customer_pk(customer), COUNT_SK)))
            .update_expression("ADD #count :minus_one")
            .condition_expression("attribute_exists(#count)")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(
                ":minus_one",
                aws_sdk_dynamodb::types::AttributeValue::N("-1".into()),
            )
            .build()
            .map_err(unavailable)?;
        let writes = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder().update(uncount).build(),
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(true),
            Err(codes) if failed(&codes, 0) => Ok(false),
            Err(codes) => Err(canceled(&codes)),
        }
    }

    pub(crate) async fn read_tracked_count(
        &self,
        customer: &CustomerId,
    ) -> Result<u32, StoreError> {
        Ok(self
            .get::<CountItem>(customer_pk(customer), COUNT_SK)
            .await?
            .map_or(0, |c| c.count))
    }

    pub(crate) async fn read_tracked(
        &self,
        customer: &CustomerId,
        page: &PageRequest,
    ) -> Result<Page<TrackedProduct>, StoreError> {
        let all = self
            .newest_first::<TrackedItem, TrackedProduct>(&list_gsi1pk(customer))
            .await?;
        crate::page_of(all.into_iter(), page, |t| t.product_id.as_str())
    }

    pub(crate) async fn read_trackers(
        &self,
        product: &ProductId,
    ) -> Result<Vec<CustomerId>, StoreError> {
        self.all_under(product_pk(product), TRACKER_PREFIX)
            .await?
            .into_iter()
            .map(|item| {
                let tracked: TrackedItem = decode(item)?;
                CustomerId::from_str(&tracked.customer_id).map_err(corrupt("customer_id"))
            })
            .collect()
    }
}
