//! DynamoDB adapter: the domain's repository ports on one table (single-table design, see
//! `docs/table-design.md`). Every update is conditional on the item's `version`; uniqueness
//! (one live subscription per customer) is a second item written in the same transaction.
//!
//! Depends on the domain and the AWS SDK; the domain never depends on it.

mod coupons;
mod credits;
mod customers;
mod events;
mod idempotency;
mod invoices;
mod items;
mod notifications;
mod plans;
mod preorders;
mod products;
mod purchase_orders;
mod recurring;
mod subscriptions;
mod table;
mod tracking;
mod usage;
mod webhooks;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
pub use aws_sdk_dynamodb::Client;
use billing_domain::discounts::coupon::RedemptionLimit;
use billing_domain::kernel::ids::SubscriptionId;
use billing_domain::kernel::page::{Page, PageRequest};
use billing_domain::kernel::ports::StoreError;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_dynamo::aws_sdk_dynamodb_1::{from_item, to_item};

pub use items::{due_pk, due_shard, parse_ts, ts, DUE_SHARDS};
pub use notifications::SENT_LOG_DAYS;
pub use table::{create_table, delete_table, GSI1, GSI_DUE};

type Item = HashMap<String, AttributeValue>;

/// The store: one DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn unavailable<E: std::fmt::Debug>(e: E) -> StoreError {
    StoreError::Unavailable(format!("{e:?}"))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn encode<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// An entity's item, encoded once it is known to read back as an entity `T`: the store never
/// writes what it cannot read (a time past the year 9999, say, which would then stop every
/// reader of the item, and of the indexes it sorts first in).
fn encode_entity<I, T>(item: &I) -> Result<Item, StoreError>
where
    I: Serialize + DeserializeOwned,
    T: TryFrom<I, Error = StoreError>,
{
    let encoded = encode(item)?;
    T::try_from(decode::<I>(encoded.clone())?).map_err(|e| {
        StoreError::Corrupt(format!("refused to write an item that reads back as: {e}"))
    })?;
    Ok(encoded)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A client from the standard AWS environment (`AWS_ENDPOINT_URL`, `AWS_REGION`, credentials).
    pub async fn from_env(table: impl Into<String>) -> Self {
        let config = aws_config::load_from_env().await;
        Self::new(Client::new(&config), table)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// A cheap read that proves the table answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key("HEALTH".into(), "HEALTH")))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item.map(decode).transpose()
    }

    /// Sets aside an item a job could not read: takes it out of the index that hands it to the
    /// job (removes `index_attributes`) and marks it `unreadable` with the reason, so the job goes
    /// on with every other item and does not meet it again. The log line (key and reason, never
    /// the content) is the record an operator and the `UnreadableItems` metric find it by.
    pub(crate) async fn set_aside(
        &self,
        item: &Item,
        index_attributes: &[&str],
        error: &StoreError,
    ) -> Result<(), StoreError> {
        let field = |name: &str| {
            item.get(name)
                .and_then(|v| v.as_s().ok())
                .cloned()
                .unwrap_or_default()
        };
        let (pk, sk) = (field("pk"), field("sk"));
        tracing::error!(pk = %pk, sk = %sk, error = %error, "unreadable item set aside");
        let names: Vec<String> = index_attributes
            .iter()
            .enumerate()
            .map(|(i, _)| format!("#i{i}"))
            .collect();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, &sk)))
            .update_expression(format!("REMOVE {} SET unreadable = :why", names.join(", ")))
            .expression_attribute_values(":why", s(error.to_string()));
        for (name, attribute) in names.iter().zip(index_attributes) {
            update = update.expression_attribute_names(name, *attribute);
        }
        update.send().await.map(|_| ()).map_err(unavailable)
    }

    /// An entity by key, converted from its item ([`Self::get`]).
    async fn load<I, T>(&self, pk: String, sk: &str) -> Result<Option<T>, StoreError>
    where
        I: DeserializeOwned,
        T: TryFrom<I, Error = StoreError>,
    {
        self.get::<I>(pk, sk).await?.map(T::try_from).transpose()
    }

    /// Deletes an item by key, whether or not it exists.
    async fn remove(&self, pk: String, sk: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .send()
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Puts an item that must not exist yet.
    async fn insert(&self, item: Item) -> Result<(), StoreError> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::AlreadyExists),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn bump_version(mut item: Item, version: u64) -> Item {
        item.insert("version".into(), n(version + 1));
        item
    }

    fn versioned_put(&self, item: Item, version: u64) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(Self::bump_version(item, version)))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(version))
            .build()
            .map_err(unavailable)
    }

    /// Replaces an item if its stored version is `version`; the stored item gets `version + 1`.
    async fn update(&self, item: Item, version: u64) -> Result<(), StoreError> {
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(Self::bump_version(item, version)))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(version))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::VersionConflict),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// [`Self::update`] for an entity's item, then bumps the entity's `version` to the stored one.
    async fn replace<I, T>(&self, item: &I, version: &mut u64) -> Result<(), StoreError>
    where
        I: Serialize + DeserializeOwned,
        T: TryFrom<I, Error = StoreError>,
    {
        self.update(encode_entity::<I, T>(item)?, *version).await?;
        *version += 1;
        Ok(())
    }

    /// Every item of a list index as entities, newest first.
    async fn newest_first<I, T>(&self, gsi1pk: &str) -> Result<Vec<T>, StoreError>
    where
        I: DeserializeOwned,
        T: TryFrom<I, Error = StoreError>,
    {
        let mut all = self
            .query_all::<I>(gsi1pk)
            .await?
            .into_iter()
            .map(T::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        all.reverse();
        Ok(all)
    }

    /// The item a page starts after: `starting_after` must name an entity (loaded by `load`)
    /// that belongs to this list (`in_list`), else [`StoreError::UnknownCursor`].
    async fn cursor<Id, T, R, Fut>(
        &self,
        page: &PageRequest,
        load: impl FnOnce(Id) -> Fut + Send,
        in_list: impl FnOnce(&T) -> bool + Send,
        item: impl FnOnce(&T) -> R + Send,
    ) -> Result<Option<R>, StoreError>
    where
        Id: std::str::FromStr + Send,
        Fut: std::future::Future<Output = Result<Option<T>, StoreError>> + Send,
        T: Send,
    {
        let Some(raw) = &page.starting_after else {
            return Ok(None);
        };
        let id = raw.parse::<Id>().map_err(|_| StoreError::UnknownCursor)?;
        let found = load(id)
            .await?
            .filter(|t| in_list(t))
            .ok_or(StoreError::UnknownCursor)?;
        Ok(Some(item(&found)))
    }

    /// One page of a list index, newest first, resuming after `cursor` (the item that
    /// `starting_after` named, already checked to belong to this list).
    async fn page_after<R, T>(
        &self,
        gsi1pk: &str,
        page: &PageRequest,
        cursor: Option<R>,
    ) -> Result<Page<T>, StoreError>
    where
        R: Serialize + DeserializeOwned,
        T: TryFrom<R, Error = StoreError>,
    {
        let start = match cursor {
            Some(item) => gsi1_start_key(&encode(&item)?),
            None => None,
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(gsi1pk))
            .scan_index_forward(false)
            // One more than asked, to know whether more follow.
            .limit(i32::try_from(page.limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let mut rows = out.items.unwrap_or_default();
        let has_more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        let data = rows
            .into_iter()
            .map(|row| decode::<R>(row).and_then(T::try_from))
            .collect::<Result<_, _>>()?;
        Ok(Page { data, has_more })
    }

    /// Every item of a list index, following DynamoDB's own pages.
    async fn query_all<T: DeserializeOwned>(&self, gsi1pk: &str) -> Result<Vec<T>, StoreError> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("gsi1pk = :pk")
                .expression_attribute_values(":pk", s(gsi1pk))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                all.push(decode(item)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(all),
            }
        }
    }

    /// Subscription ids due at or before `now` in one shard of the due index, earliest first,
    /// with when each is due; at most `limit`, following DynamoDB's pages.
    pub async fn due_subscriptions(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<(SubscriptionId, DateTime<Utc>)>, StoreError> {
        let mut due = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI_DUE)
                .key_condition_expression("due_pk = :pk AND due_at <= :now")
                .expression_attribute_values(":pk", s(due_pk(shard)))
                // '~' sorts after every id character, so items due exactly at `now` are included.
                .expression_attribute_values(":now", s(format!("{}~", ts(now))))
                .limit(i32::try_from(limit.min(1000)).unwrap_or(1000))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                match due_entry(&item) {
                    Ok(entry) => due.push(entry),
                    Err(e) => self.set_aside(&item, DUE_INDEX_KEYS, &e).await?,
                }
                if due.len() >= limit {
                    return Ok(due);
                }
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(due),
            }
        }
    }

    /// The subscription ids due at or before `now` in one shard (see [`Self::due_subscriptions`]).
    pub async fn due_subscription_ids(
        &self,
        shard: u32,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<SubscriptionId>, StoreError> {
        Ok(self
            .due_subscriptions(shard, now, limit)
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// When the next subscription or product release falls due, across the due index.
    pub async fn earliest_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let mut earliest: Option<DateTime<Utc>> = None;
        let partitions = (0..DUE_SHARDS).map(due_pk).chain([
            products::RELEASES_DUE_PK.to_owned(),
            products::OPENINGS_DUE_PK.to_owned(),
            preorders::RETRIES_DUE_PK.to_owned(),
        ]);
        for partition in partitions {
            if let Some(at) = self.earliest_in(&partition).await? {
                earliest = Some(earliest.map_or(at, |e| e.min(at)));
            }
        }
        Ok(earliest)
    }

    /// The earliest `due_at` in one partition of the due index (an unreadable item is set
    /// aside, and the next one read).
    pub(crate) async fn earliest_in(
        &self,
        partition: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI_DUE)
                .key_condition_expression("due_pk = :pk")
                .expression_attribute_values(":pk", s(partition))
                .limit(1)
                .send()
                .await
                .map_err(unavailable)?;
            let Some(item) = out.items.unwrap_or_default().into_iter().next() else {
                return Ok(None);
            };
            match due_entry::<String>(&item) {
                Ok((_, at)) => return Ok(Some(at)),
                Err(e) => self.set_aside(&item, DUE_INDEX_KEYS, &e).await?,
            }
        }
    }

    /// The test clock's time (local stack and tests only): `None` until first set.
    pub async fn test_clock(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let Some(item) = self
            .get::<TestClockItem>(TEST_CLOCK.into(), TEST_CLOCK)
            .await?
        else {
            return Ok(None);
        };
        items::parse_ts("now", &item.now).map(Some)
    }

    /// Moves the test clock to `now`; never backwards (a later time set concurrently wins).
    pub async fn set_test_clock(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        items::parse_ts("now", &ts(now))?;
        let item = encode(&TestClockItem {
            pk: TEST_CLOCK.into(),
            sk: TEST_CLOCK.into(),
            now: ts(now),
        })?;
        match self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR #now <= :now")
            .expression_attribute_names("#now", "now")
            .expression_attribute_values(":now", s(ts(now)))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

const TEST_CLOCK: &str = "TEST_CLOCK";

#[derive(Serialize, Deserialize)]
struct TestClockItem {
    pk: String,
    sk: String,
    now: String,
}

/// The attributes that put an item in the due index.
pub(crate) const DUE_INDEX_KEYS: &[&str] = &["due_pk", "due_at"];

/// A due-index row: the id of what is due (a subscription, a webhook delivery) and when.
fn due_entry<Id>(item: &Item) -> Result<(Id, DateTime<Utc>), StoreError>
where
    Id: std::str::FromStr,
    Id::Err: std::fmt::Display,
{
    let id = item
        .get("id")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Corrupt("due item without id".into()))?;
    let at = item
        .get("due_at")
        .and_then(|v| v.as_s().ok())
        .and_then(|v| v.split('#').next())
        .ok_or_else(|| StoreError::Corrupt("due item without due_at".into()))?;
    Ok((
        id.parse::<Id>()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        items::parse_ts("due_at", at)?,
    ))
}

fn is_condition_failure<R>(
    e: &SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, R>,
) -> bool {
    matches!(e, SdkError::ServiceError(se) if se.err().is_conditional_check_failed_exception())
}

/// The list-index key of an item, to resume a query after it.
fn gsi1_start_key(item: &Item) -> Option<Item> {
    let mut start = Item::new();
    for name in ["pk", "sk", "gsi1pk", "gsi1sk"] {
        start.insert(name.to_owned(), item.get(name)?.clone());
    }
    Some(start)
}

impl DynamoStore {
    /// Runs a transaction. Canceled: the reason code of each item. A conflict with another
    /// transaction on the same items (`TransactionConflict`) is retried a few times first, as
    /// DynamoDB advises.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Result<(), Vec<String>>, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let codes = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(Ok(())),
                Err(SdkError::ServiceError(se)) => match se.into_err() {
                    TransactWriteItemsError::TransactionCanceledException(tc) => tc
                        .cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or("None").to_owned())
                        .collect::<Vec<_>>(),
                    other => return Err(unavailable(other)),
                },
                Err(other) => return Err(unavailable(other)),
            };
            let conflict = codes.iter().any(|c| c == "TransactionConflict")
                && !codes.iter().any(|c| c == "ConditionalCheckFailed");
            if !conflict || attempt >= 4 {
                return Ok(Err(codes));
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 * u64::from(attempt))).await;
        }
    }
}

/// One page of a list held whole in memory (newest first), resuming after the item whose id is
/// `starting_after`.
fn page_of<T>(
    items: impl Iterator<Item = T>,
    page: &PageRequest,
    id: impl Fn(&T) -> &str,
) -> Result<Page<T>, StoreError> {
    let mut items = items.peekable();
    if let Some(after) = &page.starting_after {
        loop {
            match items.next() {
                Some(item) if id(&item) == after => break,
                Some(_) => continue,
                None => return Err(StoreError::UnknownCursor),
            }
        }
    }
    let limit = usize::try_from(page.limit).unwrap_or(usize::MAX);
    let data: Vec<T> = items.by_ref().take(limit).collect();
    let has_more = items.peek().is_some();
    Ok(Page { data, has_more })
}

/// A transaction canceled for a reason the caller does not handle.
fn canceled(codes: &[String]) -> StoreError {
    StoreError::Unavailable(format!("transaction canceled: {codes:?}"))
}

/// Which redemption write (from `first` on) refused a canceled transaction.
fn refusal(
    codes: &[String],
    first: usize,
    redemption: &[(TransactWriteItem, RedemptionLimit)],
) -> StoreError {
    redemption
        .iter()
        .enumerate()
        .find(|(i, _)| failed(codes, first + i))
        .map_or_else(
            || canceled(codes),
            |(_, (_, limit))| StoreError::RedemptionRefused(*limit),
        )
}

fn failed(codes: &[String], index: usize) -> bool {
    codes
        .get(index)
        .is_some_and(|c| c == "ConditionalCheckFailed")
}
