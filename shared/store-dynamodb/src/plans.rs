//! The plan catalogue (`PLAN#<id>` / `PLAN`, listed under `PLANS`).

use std::collections::BTreeSet;
use std::str::FromStr;

use billing_domain::catalogue::{Feature, Limit, Plan, PlanStatus, Tier, TierLimits};
use billing_domain::kernel::ids::PlanId;
use billing_domain::kernel::money::Currency;
use billing_domain::kernel::period::Interval;
use billing_domain::kernel::ports::StoreError;
use billing_domain::usage::{Allowance, AllowanceLimit, Unit};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::items::{corrupt, money, parse_ts, plan_pk, ts, EntityKeys, PLANS_GSI1PK};

use crate::{encode_entity, items, DynamoStore};
use async_trait::async_trait;
use billing_domain::catalogue::PlanRepo;

#[async_trait]
impl PlanRepo for DynamoStore {
    async fn get_plan(&self, id: &PlanId) -> Result<Option<Plan>, StoreError> {
        self.load::<PlanItem, _>(items::plan_pk(id), "PLAN").await
    }

    async fn list_plans(&self) -> Result<Vec<Plan>, StoreError> {
        self.query_all::<PlanItem>(items::PLANS_GSI1PK)
            .await?
            .into_iter()
            .map(Plan::try_from)
            .collect()
    }

    async fn insert_plan(&self, plan: &Plan) -> Result<(), StoreError> {
        self.insert(encode_entity::<_, Plan>(&PlanItem::from(plan))?)
            .await
    }

    async fn update_plan(&self, plan: &mut Plan) -> Result<(), StoreError> {
        self.replace::<_, Plan>(&PlanItem::from(&*plan), &mut plan.version)
            .await
    }
}

// ---- the item ----

#[derive(Debug, Serialize, Deserialize)]
pub struct LimitsItem {
    monthly_preorder_limit: Option<u32>,
    monthly_preorder_value_limit: Option<String>,
    early_access_days: u32,
    preorder_discount_percent: String,
    tracked_products_limit: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PlanItem {
    #[serde(flatten)]
    pub keys: EntityKeys,
    pub id: String,
    pub name: String,
    pub tier: Tier,
    pub interval: Interval,
    pub price: String,
    pub currency: Currency,
    pub trial_days: u32,
    pub features: Vec<Feature>,
    pub limits: LimitsItem,
    pub allow_multiple: bool,
    #[serde(default)]
    pub fallback_plan_id: Option<String>,
    #[serde(default)]
    pub renewal_reminder_days: Option<u32>,
    /// `keep` (absent) or `cancel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_preorders_at_end: Option<String>,
    /// Units included each period (absent: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowances: Vec<AllowanceRow>,
    /// A one-off bundle's days (absent: recurring).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_days: Option<u32>,
    pub status: PlanStatus,
}

/// An allowance as stored: units and prices as decimal strings.
#[derive(Debug, Serialize, Deserialize)]
pub struct AllowanceRow {
    unit: String,
    included: String,
    limit: String,
    #[serde(default)]
    overage_unit_price: Option<String>,
    #[serde(default)]
    rollover_max: Option<String>,
    #[serde(default)]
    top_up_unit_price: Option<String>,
}

impl From<&Allowance> for AllowanceRow {
    fn from(a: &Allowance) -> Self {
        AllowanceRow {
            unit: a.unit.as_str().to_owned(),
            included: a.included.to_string(),
            limit: a.limit.as_str().to_owned(),
            overage_unit_price: a.overage_unit_price.map(|p| p.to_string()),
            rollover_max: a.rollover_max.map(|m| m.to_string()),
            top_up_unit_price: a.top_up_unit_price.map(|p| p.to_string()),
        }
    }
}

impl TryFrom<&AllowanceRow> for Allowance {
    type Error = StoreError;
    fn try_from(r: &AllowanceRow) -> Result<Self, Self::Error> {
        let dec = |field: &'static str, raw: &str| Decimal::from_str(raw).map_err(corrupt(field));
        Ok(Allowance {
            unit: Unit::from_str(&r.unit)
                .map_err(|()| StoreError::Corrupt(format!("allowances.unit {}", r.unit)))?,
            included: dec("allowances.included", &r.included)?,
            limit: AllowanceLimit::parse(&r.limit)
                .ok_or_else(|| StoreError::Corrupt(format!("allowances.limit {}", r.limit)))?,
            overage_unit_price: r
                .overage_unit_price
                .as_deref()
                .map(|p| dec("allowances.overage_unit_price", p))
                .transpose()?,
            rollover_max: r
                .rollover_max
                .as_deref()
                .map(|m| dec("allowances.rollover_max", m))
                .transpose()?,
            top_up_unit_price: r
                .top_up_unit_price
                .as_deref()
                .map(|p| dec("allowances.top_up_unit_price", p))
                .transpose()?,
        })
    }
}

impl From<&Plan> for PlanItem {
    fn from(p: &Plan) -> Self {
        PlanItem {
            keys: EntityKeys {
                pk: plan_pk(&p.id),
                sk: "PLAN".into(),
                gsi1pk: PLANS_GSI1PK.into(),
                gsi1sk: format!("{}#{}#{}", p.tier as u8, p.interval as u8, p.id),
                entity: "plan".into(),
                created_at: ts(p.created_at),
                updated_at: ts(p.updated_at),
                version: p.version,
            },
            id: p.id.to_string(),
            name: p.name.clone(),
            tier: p.tier,
            interval: p.interval,
            price: p.price.amount().to_string(),
            currency: p.price.currency(),
            trial_days: p.trial_days,
            features: p.features.iter().copied().collect(),
            limits: LimitsItem {
                monthly_preorder_limit: p.limits.monthly_preorder_limit.as_option().copied(),
                monthly_preorder_value_limit: p
                    .limits
                    .monthly_preorder_value_limit
                    .as_option()
                    .map(|m| m.amount().to_string()),
                early_access_days: p.limits.early_access_days,
                preorder_discount_percent: p.limits.preorder_discount_percent.to_string(),
                tracked_products_limit: p.limits.tracked_products_limit.as_option().copied(),
            },
            allow_multiple: p.allow_multiple,
            fallback_plan_id: p.fallback_plan_id.as_ref().map(ToString::to_string),
            renewal_reminder_days: p.renewal_reminder_days,
            open_preorders_at_end: Some(p.open_preorders_at_end.as_str().to_owned()),
            allowances: p.allowances.iter().map(AllowanceRow::from).collect(),
            duration_days: p.duration_days,
            status: p.status,
        }
    }
}

impl TryFrom<PlanItem> for Plan {
    type Error = StoreError;
    fn try_from(i: PlanItem) -> Result<Self, Self::Error> {
        let value_limit = i
            .limits
            .monthly_preorder_value_limit
            .as_deref()
            .map(|v| money("limits.monthly_preorder_value_limit", v, i.currency))
            .transpose()?;
        Ok(Plan {
            id: PlanId::from_str(&i.id).map_err(corrupt("id"))?,
            name: i.name,
            tier: i.tier,
            interval: i.interval,
            price: money("price", &i.price, i.currency)?,
            trial_days: i.trial_days,
            features: i.features.into_iter().collect::<BTreeSet<_>>(),
            limits: TierLimits {
                monthly_preorder_limit: Limit::from_option(i.limits.monthly_preorder_limit),
                monthly_preorder_value_limit: Limit::from_option(value_limit),
                early_access_days: i.limits.early_access_days,
                preorder_discount_percent: Decimal::from_str(&i.limits.preorder_discount_percent)
                    .map_err(corrupt("limits.preorder_discount_percent"))?,
                tracked_products_limit: Limit::from_option(i.limits.tracked_products_limit),
            },
            allow_multiple: i.allow_multiple,
            fallback_plan_id: i
                .fallback_plan_id
                .as_deref()
                .map(PlanId::from_str)
                .transpose()
                .map_err(corrupt("fallback_plan_id"))?,
            renewal_reminder_days: i.renewal_reminder_days,
            open_preorders_at_end: match i.open_preorders_at_end.as_deref() {
                None => billing_domain::catalogue::OpenPreorders::Keep,
                Some(raw) => billing_domain::catalogue::OpenPreorders::parse(raw)
                    .ok_or_else(|| StoreError::Corrupt(format!("open_preorders_at_end {raw}")))?,
            },
            allowances: i
                .allowances
                .iter()
                .map(Allowance::try_from)
                .collect::<Result<_, _>>()?,
            duration_days: i.duration_days,
            status: i.status,
            created_at: parse_ts("created_at", &i.keys.created_at)?,
            updated_at: parse_ts("updated_at", &i.keys.updated_at)?,
            version: i.keys.version,
        })
    }
}
