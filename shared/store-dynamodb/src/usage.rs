//! Metered allowances: an allowance period per subscription period (`SUB#<id>` /
//! `ALLOWANCE#<period start>`) holding each unit's counters and the promotional grants as
//! numbers that only conditional `SET a = a ± :n` expressions change; usage records
//! (`USAGE_RECORD#<id>` / `USAGE_RECORD`, TTL `expires_at`); a subscription's daily totals
//! (`SUB#<id>` / `USAGEDAY#<day>#<unit>`, in the list index under `USAGE#<unit>` for the
//! reports). A record is one transaction of the three.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem, Update};
use billing_domain::events::DomainEvent;
use billing_domain::kernel::ids::{SubscriptionId, UnitGrantId, UsageRecordId};
use billing_domain::kernel::money::Currency;
use billing_domain::kernel::page::{Page, PageRequest};
use billing_domain::kernel::ports::StoreError;
use billing_domain::usage::{
    AllowanceLimit, AllowancePeriod, Breakdown, Consumption, ConsumptionRefusal, DailyUsage,
    GrantBalance, LedgerEntry, LedgerKind, Unit, UnitBalance, UsageRecord, UsageRecordStatus,
    UsageRepo,
};
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use crate::items::{parse_ts, subscription_pk, ts};
use crate::{failed, key, s, unavailable, DynamoStore, Item};

const RECORD_SK: &str = "USAGE_RECORD";

pub(crate) fn allowance_sk(start: DateTime<Utc>) -> String {
    format!("ALLOWANCE#{}", ts(start))
}

fn record_pk(id: &UsageRecordId) -> String {
    format!("USAGE_RECORD#{id}")
}

/// The list-index partition of a subscription's usage records.
fn records_gsi1pk(subscription: &SubscriptionId) -> String {
    format!("SUB#{subscription}#USAGE")
}

fn day_sk(day: NaiveDate, unit: Unit) -> String {
    format!("USAGEDAY#{}#{unit}", day.format("%Y-%m-%d"))
}

/// The list-index partition of every subscription's daily totals of a unit (the reports').
pub(crate) fn usage_days_gsi1pk(unit: Unit) -> String {
    format!("USAGE#{unit}")
}

fn num(d: Decimal) -> AttributeValue {
    AttributeValue::N(d.normalize().to_string())
}

fn map(entries: impl IntoIterator<Item = (String, AttributeValue)>) -> AttributeValue {
    AttributeValue::M(entries.into_iter().collect())
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("allowance item: {what}"))
}

fn get_s<'a>(m: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    m.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or_else(|| corrupt(name))
}

fn get_n(m: &Item, name: &str) -> Result<Decimal, StoreError> {
    let raw = m
        .get(name)
        .and_then(|v| v.as_n().ok())
        .ok_or_else(|| corrupt(name))?;
    Decimal::from_str(raw)
        .or_else(|_| Decimal::from_scientific(raw))
        .map_err(|_| corrupt(name))
}

fn get_m<'a>(m: &'a Item, name: &str) -> Result<&'a Item, StoreError> {
    m.get(name)
        .and_then(|v| v.as_m().ok())
        .ok_or_else(|| corrupt(name))
}

fn get_opt_n(m: &Item, name: &str) -> Result<Option<Decimal>, StoreError> {
    match m.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(_) => get_n(m, name).map(Some),
    }
}

fn get_opt_s(m: &Item, name: &str) -> Option<String> {
    m.get(name).and_then(|v| v.as_s().ok()).cloned()
}

fn unit_of(raw: &str) -> Result<Unit, StoreError> {
    Unit::from_str(raw).map_err(|()| corrupt("unit"))
}

fn grant_value(g: &GrantBalance) -> AttributeValue {
    let mut m = vec![
        ("unit".to_owned(), s(g.unit.as_str())),
        ("units".to_owned(), num(g.units)),
        ("left".to_owned(), num(g.left)),
        ("expires_at".to_owned(), s(ts(g.expires_at))),
        ("granted_at".to_owned(), s(ts(g.granted_at))),
    ];
    if let Some(d) = &g.description {
        m.push(("description".to_owned(), s(d.clone())));
    }
    map(m)
}

fn grant_of(m: &Item) -> Result<GrantBalance, StoreError> {
    Ok(GrantBalance {
        unit: unit_of(get_s(m, "unit")?)?,
        units: get_n(m, "units")?,
        left: get_n(m, "left")?,
        expires_at: parse_ts("expires_at", get_s(m, "expires_at")?)?,
        description: get_opt_s(m, "description"),
        granted_at: parse_ts("granted_at", get_s(m, "granted_at")?)?,
    })
}

/// The item of a new allowance period.
pub(crate) fn period_item(p: &AllowancePeriod) -> Item {
    let units = p.units.iter().map(|(unit, b)| {
        let mut m = vec![
            ("limit".to_owned(), s(b.limit.as_str())),
            ("allocated".to_owned(), num(b.allocated)),
            ("rolled_over".to_owned(), num(b.rolled_over)),
            ("left".to_owned(), num(b.included_left)),
            ("promotional_used".to_owned(), num(b.promotional_used)),
            ("overage".to_owned(), num(b.overage)),
            ("alerted".to_owned(), num(Decimal::from(b.alerted))),
        ];
        if let Some(price) = b.overage_unit_price {
            m.push(("overage_unit_price".to_owned(), num(price)));
        }
        if let Some(max) = b.rollover_max {
            m.push(("rollover_max".to_owned(), num(max)));
        }
        (unit.as_str().to_owned(), map(m))
    });
    let grants = p
        .grants
        .iter()
        .map(|(id, g)| (id.to_string(), grant_value(g)));
    let mut item = key(subscription_pk(&p.subscription_id), &allowance_sk(p.start));
    item.insert("entity".into(), s("allowance_period"));
    item.insert("subscription_id".into(), s(p.subscription_id.to_string()));
    item.insert("customer_id".into(), s(p.customer_id.to_string()));
    item.insert("plan_id".into(), s(p.plan_id.to_string()));
    item.insert("currency".into(), s(p.currency.code()));
    item.insert("period_start".into(), s(ts(p.start)));
    item.insert("period_end".into(), s(ts(p.end)));
    item.insert("units".into(), map(units));
    item.insert("grants".into(), map(grants));
    if p.closed {
        item.insert("closed".into(), AttributeValue::Bool(true));
    }
    item
}

fn period_of(item: &Item) -> Result<AllowancePeriod, StoreError> {
    let mut units = BTreeMap::new();
    for (name, value) in get_m(item, "units")? {
        let m = value.as_m().map_err(|_| corrupt("units"))?;
        let alerted = get_n(m, "alerted")?;
        units.insert(
            unit_of(name)?,
            UnitBalance {
                limit: AllowanceLimit::parse(get_s(m, "limit")?).ok_or_else(|| corrupt("limit"))?,
                overage_unit_price: get_opt_n(m, "overage_unit_price")?,
                rollover_max: get_opt_n(m, "rollover_max")?,
                allocated: get_n(m, "allocated")?,
                rolled_over: get_n(m, "rolled_over")?,
                included_left: get_n(m, "left")?,
                promotional_used: get_n(m, "promotional_used")?,
                overage: get_n(m, "overage")?,
                alerted: u8::try_from(alerted.trunc().mantissa())
                    .map_err(|_| corrupt("alerted"))?,
            },
        );
    }
    let mut grants = BTreeMap::new();
    for (id, value) in get_m(item, "grants")? {
        let m = value.as_m().map_err(|_| corrupt("grants"))?;
        grants.insert(
            UnitGrantId::from_str(id).map_err(|_| corrupt("grant id"))?,
            grant_of(m)?,
        );
    }
    let currency = get_s(item, "currency")?;
    Ok(AllowancePeriod {
        subscription_id: get_s(item, "subscription_id")?
            .parse()
            .map_err(|_| corrupt("subscription_id"))?,
        customer_id: get_s(item, "customer_id")?
            .parse()
            .map_err(|_| corrupt("customer_id"))?,
        plan_id: get_s(item, "plan_id")?
            .parse()
            .map_err(|_| corrupt("plan_id"))?,
        currency: Currency::from_str(currency).map_err(|_| corrupt("currency"))?,
        start: parse_ts("period_start", get_s(item, "period_start")?)?,
        end: parse_ts("period_end", get_s(item, "period_end")?)?,
        units,
        grants,
        closed: item
            .get("closed")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        ledger: Vec::new(),
    })
}

fn record_item(r: &UsageRecord, remember_until: DateTime<Utc>) -> Item {
    let mut item = key(record_pk(&r.id), RECORD_SK);
    item.insert("entity".into(), s("usage_record"));
    item.insert(
        "gsi1pk".into(),
        s(format!("SUB#{}#USAGE", r.subscription_id)),
    );
    item.insert("gsi1sk".into(), s(format!("{}#{}", ts(r.created_at), r.id)));
    item.insert("id".into(), s(r.id.to_string()));
    item.insert("subscription_id".into(), s(r.subscription_id.to_string()));
    item.insert("customer_id".into(), s(r.customer_id.to_string()));
    item.insert("unit".into(), s(r.unit.as_str()));
    item.insert("units".into(), num(r.units));
    if let Some(d) = &r.description {
        item.insert("description".into(), s(d.clone()));
    }
    item.insert("occurred_at".into(), s(ts(r.occurred_at)));
    item.insert("period_start".into(), s(ts(r.period_start)));
    item.insert("period_end".into(), s(ts(r.period_end)));
    item.insert("promotional".into(), num(r.breakdown.promotional));
    item.insert("included".into(), num(r.breakdown.included));
    item.insert("overage".into(), num(r.breakdown.overage));
    item.insert(
        "grants_taken".into(),
        map(r
            .grants_taken
            .iter()
            .map(|(id, n)| (id.to_string(), num(*n)))),
    );
    item.insert("remaining".into(), num(r.remaining));
    item.insert("in_plan".into(), AttributeValue::Bool(r.in_plan));
    item.insert("status".into(), s(r.status.as_str()));
    if let Some(f) = &r.fingerprint {
        item.insert("fingerprint".into(), s(f.clone()));
    }
    item.insert("created_at".into(), s(ts(r.created_at)));
    item.insert(
        "expires_at".into(),
        AttributeValue::N(remember_until.timestamp().to_string()),
    );
    item
}

fn record_of(item: &Item) -> Result<UsageRecord, StoreError> {
    let mut grants_taken = Vec::new();
    for (id, n) in get_m(item, "grants_taken")? {
        let n = match n {
            AttributeValue::N(raw) => {
                Decimal::from_str(raw).map_err(|_| corrupt("grants_taken"))?
            }
            _ => return Err(corrupt("grants_taken")),
        };
        grants_taken.push((
            UnitGrantId::from_str(id).map_err(|_| corrupt("grant id"))?,
            n,
        ));
    }
    Ok(UsageRecord {
        id: get_s(item, "id")?.parse().map_err(|_| corrupt("id"))?,
        subscription_id: get_s(item, "subscription_id")?
            .parse()
            .map_err(|_| corrupt("subscription_id"))?,
        customer_id: get_s(item, "customer_id")?
            .parse()
            .map_err(|_| corrupt("customer_id"))?,
        unit: unit_of(get_s(item, "unit")?)?,
        units: get_n(item, "units")?,
        description: get_opt_s(item, "description"),
        occurred_at: parse_ts("occurred_at", get_s(item, "occurred_at")?)?,
        period_start: parse_ts("period_start", get_s(item, "period_start")?)?,
        period_end: parse_ts("period_end", get_s(item, "period_end")?)?,
        breakdown: Breakdown {
            promotional: get_n(item, "promotional")?,
            included: get_n(item, "included")?,
            overage: get_n(item, "overage")?,
        },
        grants_taken,
        remaining: get_n(item, "remaining")?,
        in_plan: item
            .get("in_plan")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .ok_or_else(|| corrupt("in_plan"))?,
        status: UsageRecordStatus::parse(get_s(item, "status")?)
            .ok_or_else(|| corrupt("status"))?,
        fingerprint: get_opt_s(item, "fingerprint"),
        created_at: parse_ts("created_at", get_s(item, "created_at")?)?,
        voided_at: get_opt_s(item, "voided_at")
            .map(|v| parse_ts("voided_at", &v))
            .transpose()?,
    })
}

fn ledger_sk(e: &LedgerEntry) -> String {
    format!("UNITLEDGER#{}#{}#{}", ts(e.at), e.grant_id, e.kind.as_str())
}

fn ledger_item(e: &LedgerEntry) -> Item {
    let mut item = key(subscription_pk(&e.subscription_id), &ledger_sk(e));
    item.insert("entity".into(), s("unit_ledger_entry"));
    item.insert("kind".into(), s(e.kind.as_str()));
    item.insert("grant_id".into(), s(e.grant_id.to_string()));
    item.insert("unit".into(), s(e.unit.as_str()));
    item.insert("units".into(), num(e.units));
    item.insert("at".into(), s(ts(e.at)));
    if let Some(d) = &e.description {
        item.insert("description".into(), s(d.clone()));
    }
    item
}

fn ledger_of(subscription: &SubscriptionId, item: &Item) -> Result<LedgerEntry, StoreError> {
    Ok(LedgerEntry {
        subscription_id: subscription.clone(),
        grant_id: get_s(item, "grant_id")?
            .parse()
            .map_err(|_| corrupt("grant_id"))?,
        kind: LedgerKind::parse(get_s(item, "kind")?).ok_or_else(|| corrupt("kind"))?,
        unit: unit_of(get_s(item, "unit")?)?,
        units: get_n(item, "units")?,
        at: parse_ts("at", get_s(item, "at")?)?,
        description: get_opt_s(item, "description"),
    })
}

/// The put of a ledger entry (written once: its key is the entry's own).
fn ledger_write(table: &str, e: &LedgerEntry) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(ledger_item(e)))
        .build()
        .map_err(unavailable)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// An update expression under construction: names and values numbered as they are added.
#[derive(Default)]
struct Expr {
    sets: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Expr {
    fn name(&mut self, n: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        if let Some((k, _)) = self.names.iter().find(|(_, v)| v.as_str() == n) {
            return k.clone();
        }
        self.names.insert(placeholder.clone(), n.to_owned());
        placeholder
    }

    fn value(&mut self, v: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), v);
        placeholder
    }

    fn path(&mut self, parts: &[&str]) -> String {
        parts
            .iter()
            .map(|p| self.name(p))
            .collect::<Vec<_>>()
            .join(".")
    }

    /// `path = path + delta` (nothing when `delta` is zero).
    fn add(&mut self, parts: &[&str], delta: Decimal) {
        if delta.is_zero() {
            return;
        }
        let path = self.path(parts);
        let v = self.value(num(delta.abs()));
        let op = if delta.is_sign_negative() { "-" } else { "+" };
        self.sets.push(format!("{path} = {path} {op} {v}"));
    }

    fn condition(&mut self, parts: &[&str], op: &str, value: AttributeValue) {
        let path = self.path(parts);
        let v = self.value(value);
        self.conditions.push(format!("{path} {op} {v}"));
    }

    fn update(self, table: &str, key: Item) -> Result<Update, StoreError> {
        let mut u = Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(format!("SET {}", self.sets.join(", ")))
            .condition_expression(self.conditions.join(" AND "));
        for (k, v) in self.names {
            u = u.expression_attribute_names(k, v);
        }
        for (k, v) in self.values {
            u = u.expression_attribute_values(k, v);
        }
        u.build().map_err(unavailable)
    }
}

/// The period's counters moved by a record's takes (`sign` +1 to take, −1 to give back), on
/// the condition that the period is open (and, taking, that the takes are there).
fn period_change(record: &UsageRecord, sign: Decimal) -> Expr {
    let mut e = Expr::default();
    let unit = record.unit.as_str();
    let b = record.breakdown;
    let exists = e.name("pk");
    let closed = e.name("closed");
    e.conditions.push(format!(
        "attribute_exists({exists}) AND attribute_not_exists({closed})"
    ));
    if record.in_plan {
        e.add(&["units", unit, "left"], -sign * b.included);
        e.add(&["units", unit, "promotional_used"], sign * b.promotional);
        e.add(&["units", unit, "overage"], sign * b.overage);
    }
    for (id, take) in &record.grants_taken {
        let id = id.to_string();
        e.add(&["grants", &id, "left"], -sign * *take);
        if sign.is_sign_positive() {
            e.condition(&["grants", &id, "left"], ">=", num(*take));
        }
    }
    e
}

/// The day's totals moved by a record (`sign` +1 to record, −1 to void): `used` (included and
/// promotional units) and `overage`.
fn day_change(
    table: &str,
    record: &UsageRecord,
    day: NaiveDate,
    sign: Decimal,
) -> Result<TransactWriteItem, StoreError> {
    let b = record.breakdown;
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(
            subscription_pk(&record.subscription_id),
            &day_sk(day, record.unit),
        )))
        .update_expression(
            "SET entity = :e, gsi1pk = :g, gsi1sk = :gs, customer_id = :c, #unit = :u, #day = :d \
             ADD #used :n, #overage :o",
        )
        .expression_attribute_names("#day", "day")
        .expression_attribute_names("#unit", "unit")
        .expression_attribute_names("#used", "used")
        .expression_attribute_names("#overage", "overage")
        .expression_attribute_values(":e", s("usage_day"))
        .expression_attribute_values(":g", s(usage_days_gsi1pk(record.unit)))
        .expression_attribute_values(
            ":gs",
            s(format!(
                "{}#{}",
                day.format("%Y-%m-%d"),
                record.subscription_id
            )),
        )
        .expression_attribute_values(":c", s(record.customer_id.to_string()))
        .expression_attribute_values(":u", s(record.unit.as_str()))
        .expression_attribute_values(":d", s(day.format("%Y-%m-%d").to_string()))
        .expression_attribute_values(":n", num(sign * (b.included + b.promotional)))
        .expression_attribute_values(":o", num(sign * b.overage))
        .build()
        .map_err(unavailable)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// An update's outcome: `None` when its condition failed.
fn unless_refused<T, R>(
    out: Result<
        T,
        aws_sdk_dynamodb::error::SdkError<
            aws_sdk_dynamodb::operation::update_item::UpdateItemError,
            R,
        >,
    >,
) -> Result<Option<T>, StoreError>
where
    R: std::fmt::Debug,
{
    match out {
        Ok(out) => Ok(Some(out)),
        Err(aws_sdk_dynamodb::error::SdkError::ServiceError(se))
            if se.err().is_conditional_check_failed_exception() =>
        {
            Ok(None)
        }
        Err(e) => Err(unavailable(e)),
    }
}

impl DynamoStore {
    /// An item as stored, read consistently.
    async fn item_at(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// The items of partition `pk` whose sort keys lie from `from` to `to`, in order, read
    /// consistently and following DynamoDB's pages.
    async fn items_between(
        &self,
        pk: String,
        from: String,
        to: String,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":from", s(from.clone()))
                .expression_attribute_values(":to", s(to.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }
}

#[async_trait]
impl UsageRepo for DynamoStore {
    async fn allowance_period(
        &self,
        subscription: &SubscriptionId,
        start: DateTime<Utc>,
    ) -> Result<Option<AllowancePeriod>, StoreError> {
        self.item_at(subscription_pk(subscription), &allowance_sk(start))
            .await?
            .as_ref()
            .map(period_of)
            .transpose()
    }

    async fn allowance_periods(
        &self,
        subscription: &SubscriptionId,
    ) -> Result<Vec<AllowancePeriod>, StoreError> {
        self.items_between(
            subscription_pk(subscription),
            "ALLOWANCE#".into(),
            "ALLOWANCE#~".into(),
        )
        .await?
        .iter()
        .map(period_of)
        .collect()
    }

    async fn record_usage(
        &self,
        c: &Consumption,
        remember_until: DateTime<Utc>,
        events: &[DomainEvent],
    ) -> Result<Result<(), ConsumptionRefusal>, StoreError> {
        let r = &c.record;
        let put_record = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record_item(r, remember_until)))
            .condition_expression("attribute_not_exists(pk) OR expires_at < :now")
            .expression_attribute_values(
                ":now",
                AttributeValue::N(r.created_at.timestamp().to_string()),
            )
            .build()
            .map_err(unavailable)?;
        let mut e = period_change(r, Decimal::ONE);
        let unit = r.unit.as_str();
        if r.in_plan {
            e.condition(&["units", unit, "left"], ">=", num(c.guard.at_least));
            if let Some(above) = c.guard.above {
                e.condition(&["units", unit, "left"], ">", num(above));
            }
            if let Some(exactly) = c.guard.exactly {
                e.condition(&["units", unit, "left"], "=", num(exactly));
                e.condition(
                    &["units", unit, "alerted"],
                    "=",
                    num(Decimal::from(c.alerted_before)),
                );
            }
            if let Some(t) = c.thresholds.last() {
                let path = e.path(&["units", unit, "alerted"]);
                let v = e.value(num(Decimal::from(*t)));
                e.sets.push(format!("{path} = {v}"));
            }
        }
        if e.sets.is_empty() {
            // Nothing taken (cannot happen for a positive record), still checked open.
            let path = e.path(&["subscription_id"]);
            e.sets.push(format!("{path} = {path}"));
        }
        let period_key = key(
            subscription_pk(&r.subscription_id),
            &allowance_sk(r.period_start),
        );
        let mut writes = vec![
            TransactWriteItem::builder().put(put_record).build(),
            TransactWriteItem::builder()
                .update(e.update(&self.table, period_key)?)
                .build(),
            day_change(&self.table, r, c.day, Decimal::ONE)?,
        ];
        writes.extend(self.event_writes(events)?);
        match self.transact(writes).await? {
            Ok(()) => Ok(Ok(())),
            Err(codes) if failed(&codes, 0) => Ok(Err(ConsumptionRefusal::Duplicate)),
            Err(codes) if failed(&codes, 1) => Ok(Err(ConsumptionRefusal::Stale)),
            Err(codes) => Err(crate::canceled(&codes)),
        }
    }

    async fn usage_record(&self, id: &UsageRecordId) -> Result<Option<UsageRecord>, StoreError> {
        self.item_at(record_pk(id), RECORD_SK)
            .await?
            .as_ref()
            .map(record_of)
            .transpose()
    }

    async fn list_usage_records(
        &self,
        subscription: &SubscriptionId,
        page: &PageRequest,
    ) -> Result<Page<UsageRecord>, StoreError> {
        let gsi1pk = records_gsi1pk(subscription);
        let start = match &page.starting_after {
            None => None,
            Some(raw) => {
                let id = UsageRecordId::from_str(raw).map_err(|_| StoreError::UnknownCursor)?;
                let item = self
                    .item_at(record_pk(&id), RECORD_SK)
                    .await?
                    .filter(|i| i.get("gsi1pk").and_then(|v| v.as_s().ok()) == Some(&gsi1pk))
                    .ok_or(StoreError::UnknownCursor)?;
                let mut start = Item::new();
                for name in ["pk", "sk", "gsi1pk", "gsi1sk"] {
                    if let Some(v) = item.get(name) {
                        start.insert(name.to_owned(), v.clone());
                    }
                }
                Some(start)
            }
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(crate::GSI1)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(gsi1pk))
            .scan_index_forward(false)
            .limit(i32::try_from(page.limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let mut rows = out.items.unwrap_or_default();
        let has_more = rows.len() > page.limit as usize;
        rows.truncate(page.limit as usize);
        Ok(Page {
            data: rows.iter().map(record_of).collect::<Result<_, _>>()?,
            has_more,
        })
    }

    async fn void_usage(
        &self,
        record: &UsageRecord,
    ) -> Result<Result<(), ConsumptionRefusal>, StoreError> {
        let void = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(record_pk(&record.id), RECORD_SK)))
            .update_expression("SET #status = :voided, voided_at = :at")
            .condition_expression("#status = :recorded")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":voided", s(UsageRecordStatus::Voided.as_str()))
            .expression_attribute_values(":recorded", s(UsageRecordStatus::Recorded.as_str()))
            .expression_attribute_values(
                ":at",
                s(ts(record.voided_at.unwrap_or(record.created_at))),
            )
            .build()
            .map_err(unavailable)?;
        let mut e = period_change(record, -Decimal::ONE);
        if e.sets.is_empty() {
            let path = e.path(&["subscription_id"]);
            e.sets.push(format!("{path} = {path}"));
        }
        let period_key = key(
            subscription_pk(&record.subscription_id),
            &allowance_sk(record.period_start),
        );
        let writes = vec![
            TransactWriteItem::builder().update(void).build(),
            TransactWriteItem::builder()
                .update(e.update(&self.table, period_key)?)
                .build(),
            day_change(
                &self.table,
                record,
                record.occurred_at.date_naive(),
                -Decimal::ONE,
            )?,
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(Ok(())),
            Err(codes) if failed(&codes, 0) || failed(&codes, 1) => {
                Ok(Err(ConsumptionRefusal::Stale))
            }
            Err(codes) => Err(crate::canceled(&codes)),
        }
    }

    async fn close_allowance_period(
        &self,
        subscription: &SubscriptionId,
        start: DateTime<Utc>,
    ) -> Result<Option<AllowancePeriod>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                subscription_pk(subscription),
                &allowance_sk(start),
            )))
            .update_expression("SET closed = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match unless_refused(out)? {
            Some(out) => out.attributes.as_ref().map(period_of).transpose(),
            None => Ok(None),
        }
    }

    async fn add_grant(
        &self,
        subscription: &SubscriptionId,
        start: DateTime<Utc>,
        id: &UnitGrantId,
        grant: &GrantBalance,
    ) -> Result<bool, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                subscription_pk(subscription),
                &allowance_sk(start),
            )))
            .update_expression("SET grants.#id = :grant")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(closed) \
                 AND attribute_not_exists(grants.#id)",
            )
            .expression_attribute_names("#id", id.to_string())
            .expression_attribute_values(":grant", grant_value(grant))
            .build()
            .map_err(unavailable)?;
        let writes = vec![
            TransactWriteItem::builder().update(update).build(),
            ledger_write(&self.table, &LedgerEntry::granted(subscription, id, grant))?,
        ];
        match self.transact(writes).await? {
            Ok(()) => Ok(true),
            Err(codes) if failed(&codes, 0) => Ok(false),
            Err(codes) => Err(crate::canceled(&codes)),
        }
    }

    async fn unit_ledger(
        &self,
        subscription: &SubscriptionId,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.items_between(
            subscription_pk(subscription),
            "UNITLEDGER#".into(),
            "UNITLEDGER#~".into(),
        )
        .await?
        .iter()
        .map(|item| ledger_of(subscription, item))
        .collect()
    }

    async fn daily_usage(
        &self,
        subscription: &SubscriptionId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DailyUsage>, StoreError> {
        let mut days = Vec::new();
        let items = self
            .items_between(
                subscription_pk(subscription),
                format!("USAGEDAY#{}", from.format("%Y-%m-%d")),
                format!("USAGEDAY#{}#~", to.format("%Y-%m-%d")),
            )
            .await?;
        for item in items {
            let day = daily_usage_of(&item)?;
            if !day.used.is_zero() || !day.overage.is_zero() {
                days.push(day);
            }
        }
        Ok(days)
    }

    async fn usage_by_day(
        &self,
        unit: Unit,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(SubscriptionId, DailyUsage)>, StoreError> {
        let mut rows = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(crate::GSI1)
                .key_condition_expression("gsi1pk = :pk AND gsi1sk BETWEEN :from AND :to")
                .expression_attribute_values(":pk", s(usage_days_gsi1pk(unit)))
                .expression_attribute_values(":from", s(from.format("%Y-%m-%d").to_string()))
                .expression_attribute_values(":to", s(format!("{}#~", to.format("%Y-%m-%d"))))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                let day = daily_usage_of(&item)?;
                if day.used.is_zero() && day.overage.is_zero() {
                    continue;
                }
                let sub = get_s(&item, "pk")?
                    .strip_prefix("SUB#")
                    .and_then(|id| SubscriptionId::from_str(id).ok())
                    .ok_or_else(|| corrupt("pk"))?;
                rows.push((sub, day));
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(rows),
            }
        }
    }
}

fn daily_usage_of(item: &Item) -> Result<DailyUsage, StoreError> {
    Ok(DailyUsage {
        day: NaiveDate::parse_from_str(get_s(item, "day")?, "%Y-%m-%d")
            .map_err(|_| corrupt("day"))?,
        unit: unit_of(get_s(item, "unit")?)?,
        used: get_n(item, "used")?,
        overage: get_n(item, "overage")?,
    })
}

impl DynamoStore {
    /// The put of a new allowance period, for the transaction that moves its subscription into
    /// the period.
    pub(crate) fn allowance_period_writes(
        &self,
        period: &AllowancePeriod,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(period_item(period)))
            .build()
            .map_err(unavailable)?;
        let mut writes = vec![TransactWriteItem::builder().put(put).build()];
        for entry in &period.ledger {
            writes.push(ledger_write(&self.table, entry)?);
        }
        Ok(writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_period_reads_back_as_written() {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
            .single()
            .expect("t");
        let mut units = BTreeMap::new();
        units.insert(
            Unit::Words,
            UnitBalance {
                limit: AllowanceLimit::Soft,
                overage_unit_price: Some(Decimal::new(2, 3)),
                rollover_max: None,
                allocated: Decimal::from(10000),
                rolled_over: Decimal::ZERO,
                included_left: Decimal::new(99995, 1),
                promotional_used: Decimal::ONE,
                overage: Decimal::ZERO,
                alerted: 80,
            },
        );
        let mut grants = BTreeMap::new();
        grants.insert(
            UnitGrantId::from_str("ugr_a").expect("id"),
            GrantBalance {
                unit: Unit::Words,
                units: Decimal::from(100),
                left: Decimal::from(99),
                expires_at: at,
                description: Some("welcome".into()),
                granted_at: at,
            },
        );
        let period = AllowancePeriod {
            subscription_id: "sub_a".parse().expect("id"),
            customer_id: "cus_a".parse().expect("id"),
            plan_id: "plan_a".parse().expect("id"),
            currency: Currency::Usd,
            start: at,
            end: at,
            units,
            grants,
            closed: true,
            ledger: Vec::new(),
        };
        assert_eq!(period_of(&period_item(&period)).expect("reads"), period);
    }
}
