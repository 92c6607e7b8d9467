//! Coupons, promotion codes and redemptions.
//!
//! - `COUPON#<id>` / `COUPON`: the coupon, with its `times_redeemed` counter (list: gsi1
//!   `COUPONS`).
//! - `COUPON#<id>` / `REDEEMED_BY#<customer>`: how often one customer redeemed it (only for
//!   coupons with a per-customer limit).
//! - `PROMO#<id>` / `PROMOTION_CODE`: a promotion code and its counter (list: gsi1
//!   `COUPON#<id>#CODES`); `PROMO_CODE#<CODE>` / `PROMO_CODE`: the guard that makes the code
//!   unique and finds it.
//!
//! A redemption is three conditional updates (coupon, code, customer counter) placed in the
//! transaction that stores the discounted subscription: each increments its counter only while
//! under its limit and bumps the item's version, so an operator's concurrent change of the
//! coupon or code conflicts instead of losing a count.

use std::collections::BTreeSet;
use std::str::FromStr;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use billing_domain::discounts::coupon::{
    Coupon, CouponDuration, CouponTerms, CouponValue, Discount, PromotionCode, Redemption,
    RedemptionLimit,
};
use billing_domain::discounts::CouponRepo;
use billing_domain::kernel::ids::{CouponId, PlanId, PromotionCodeId};
use billing_domain::kernel::money::{Currency, Money};
use billing_domain::kernel::ports::StoreError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::items::{corrupt, parse_opt_ts, parse_ts, ts, EntityKeys};
use crate::{canceled, encode, encode_entity, key, n, s, unavailable, DynamoStore};

const COUPONS_GSI1PK: &str = "COUPONS";

fn coupon_pk(id: &CouponId) -> String {
    format!("COUPON#{id}")
}
fn promotion_code_pk(id: &PromotionCodeId) -> String {
    format!("PROMO#{id}")
}
fn code_guard_pk(code: &str) -> String {
    format!("PROMO_CODE#{code}")
}
fn coupon_codes_gsi1pk(id: &CouponId) -> String {
    format!("COUPON#{id}#CODES")
}

/// A coupon's terms, as kept on the coupon and on every discount made from it.
#[derive(Debug, Serialize, Deserialize)]
pub struct TermsItem {
    id: String,
    name: String,
    percent_off: Option<String>,
    amount_off: Option<String>,
    currency: Option<Currency>,
    duration: String,
    duration_in_periods: Option<u32>,
    applies_to_plans: Vec<String>,
}

impl From<&CouponTerms> for TermsItem {
    fn from(t: &CouponTerms) -> Self {
        let (percent_off, amount_off, currency) = match t.value {
            CouponValue::PercentOff(p) => (Some(p.to_string()), None, None),
            CouponValue::AmountOff(m) => (None, Some(m.amount().to_string()), Some(m.currency())),
        };
        TermsItem {
            id: t.id.to_string(),
            name: t.name.clone(),
            percent_off,
            amount_off,
            currency,
            duration: t.duration.as_str().into(),
            duration_in_periods: match t.duration {
                CouponDuration::Repeating { periods } => Some(periods),
                CouponDuration::Once | CouponDuration::Forever => None,
            },
            applies_to_plans: t.applies_to_plans.iter().map(ToString::to_string).collect(),
        }
    }
}

impl TryFrom<TermsItem> for CouponTerms {
    type Error = StoreError;
    fn try_from(i: TermsItem) -> Result<Self, Self::Error> {
        let value = match (i.percent_off, i.amount_off, i.currency) {
            (Some(p), None, _) => {
                CouponValue::PercentOff(Decimal::from_str(&p).map_err(corrupt("percent_off"))?)
            }
            (None, Some(a), Some(currency)) => CouponValue::AmountOff(
                Money::new(
                    Decimal::from_str(&a).map_err(corrupt("amount_off"))?,
                    currency,
                )
                .map_err(corrupt("amount_off"))?,
            ),
            _ => return Err(StoreError::Corrupt("coupon value".into())),
        };
        let duration = match (i.duration.as_str(), i.duration_in_periods) {
            ("once", _) => CouponDuration::Once,
            ("forever", _) => CouponDuration::Forever,
            ("repeating", Some(periods)) => CouponDuration::Repeating { periods },
            _ => return Err(StoreError::Corrupt("coupon duration".into())),
        };
        Ok(CouponTerms {
            id: CouponId::from_str(&i.id).map_err(corrupt("coupon id"))?,
            name: i.name,
            value,
            duration,
            applies_to_plans: i
                .applies_to_plans
                .iter()
                .map(|p| PlanId::from_str(p))
                .collect::<Result<BTreeSet<_>, _>>()
                .map_err(corrupt("applies_to_plans"))?,
        })
    }
}

/// A subscription's discount.
#[derive(Debug, Serialize, Deserialize)]
pub struct DiscountItem {
    coupon: TermsItem,
    promotion_code: Option<String>,
    start: String,
    end: Option<String>,
}

impl From<&Discount> for DiscountItem {
    fn from(d: &Discount) -> Self {
        DiscountItem {
            coupon: TermsItem::from(&d.coupon),
            promotion_code: d.promotion_code.clone(),
            start: ts(d.start),
            end: d.end.map(ts),
        }
    }
}

impl TryFrom<DiscountItem> for Discount {
    type Error = StoreError;
    fn try_from(i: DiscountItem) -> Result<Self, Self::Error> {
        Ok(Discount {
            coupon: CouponTerms::try_from(i.coupon)?,
            promotion_code: i.promotion_code,
            start: parse_ts("discount.start", &i.start)?,
            end: parse_opt_ts("discount.end", &i.end)?,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CouponItem {
    #[serde(flatten)]
    keys: EntityKeys,
    terms: TermsItem,
    redeem_by: Option<String>,
    max_redemptions: Option<u32>,
    max_redemptions_per_customer: Option<u32>,
    times_redeemed: u32,
    active: bool,
}

impl From<&Coupon> for CouponItem {
    fn from(c: &Coupon) -> Self {
        CouponItem {
            keys: EntityKeys {
                pk: coupon_pk(c.id()),
                sk: "COUPON".into(),
                gsi1pk: COUPONS_GSI1PK.into(),
                gsi1sk: format!("{}#{}", ts(c.created_at), c.id()),
                entity: "coupon".into(),
                created_at: ts(c.created_at),
                updated_at: ts(c.updated_at),
                version: c.version,
            },
            terms: TermsItem::from(&c.terms),
            redeem_by: c.redeem_by.map(ts),
            max_redemptions: c.max_redemptions,
            max_redemptions_per_customer: c.max_redemptions_per_customer,
            times_redeemed: c.times_redeemed,
            active: c.active,
        }
    }
}

impl TryFrom<CouponItem> for Coupon {
    type Error = StoreError;
    fn try_from(i: CouponItem) -> Result<Self, Self::Error> {
        Ok(Coupon {
            terms: CouponTerms::try_from(i.terms)?,
            redeem_by: parse_opt_ts("redeem_by", &i.redeem_by)?,
            max_redemptions: i.max_redemptions,
            max_redemptions_per_customer: i.max_redemptions_per_customer,
            times_redeemed: i.times_redeemed,
            active: i.active,
            created_at: parse_ts("created_at", &i.keys.created_at)?,
            updated_at: parse_ts("updated_at", &i.keys.updated_at)?,
            version: i.keys.version,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct PromotionCodeItem {
    #[serde(flatten)]
    keys: EntityKeys,
    id: String,
    code: String,
    coupon_id: String,
    active: bool,
    expires_at: Option<String>,
    max_redemptions: Option<u32>,
    times_redeemed: u32,
}

impl From<&PromotionCode> for PromotionCodeItem {
    fn from(c: &PromotionCode) -> Self {
        PromotionCodeItem {
            keys: EntityKeys {
                pk: promotion_code_pk(&c.id),
                sk: "PROMOTION_CODE".into(),
                gsi1pk: coupon_codes_gsi1pk(&c.coupon_id),
                gsi1sk: format!("{}#{}", ts(c.created_at), c.id),
                entity: "promotion_code".into(),
                created_at: ts(c.created_at),
                updated_at: ts(c.updated_at),
                version: c.version,
            },
            id: c.id.to_string(),
            code: c.code.clone(),
            coupon_id: c.coupon_id.to_string(),
            active: c.active,
            expires_at: c.expires_at.map(ts),
            max_redemptions: c.max_redemptions,
            times_redeemed: c.times_redeemed,
        }
    }
}

impl TryFrom<PromotionCodeItem> for PromotionCode {
    type Error = StoreError;
    fn try_from(i: PromotionCodeItem) -> Result<Self, Self::Error> {
        Ok(PromotionCode {
            id: PromotionCodeId::from_str(&i.id).map_err(corrupt("id"))?,
            code: i.code,
            coupon_id: CouponId::from_str(&i.coupon_id).map_err(corrupt("coupon_id"))?,
            active: i.active,
            expires_at: parse_opt_ts("expires_at", &i.expires_at)?,
            max_redemptions: i.max_redemptions,
            times_redeemed: i.times_redeemed,
            created_at: parse_ts("created_at", &i.keys.created_at)?,
            updated_at: parse_ts("updated_at", &i.keys.updated_at)?,
            version: i.keys.version,
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct CodeGuardItem {
    pk: String,
    sk: String,
    entity: String,
    promotion_code_id: String,
}

impl DynamoStore {
    /// One counter increment under its limit (and, for coupons and codes, while active).
    fn counted(
        &self,
        pk: String,
        sk: &str,
        counter: &str,
        max: Option<u32>,
        must_be_active: bool,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut conditions = Vec::new();
        let mut update = Update::builder()
            .table_name(self.table())
            .set_key(Some(key(pk, sk)))
            .expression_attribute_names("#count", counter)
            .expression_attribute_values(":one", n(1));
        if must_be_active {
            conditions.push("attribute_exists(pk) AND #active = :true");
            update = update
                .update_expression("SET #count = #count + :one, #version = #version + :one")
                .expression_attribute_names("#active", "active")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(
                    ":true",
                    aws_sdk_dynamodb::types::AttributeValue::Bool(true),
                );
            if let Some(max) = max {
                conditions.push("#count < :max");
                update = update.expression_attribute_values(":max", n(u64::from(max)));
            }
        } else {
            update = update
                .update_expression("SET #entity = :entity ADD #count :one")
                .expression_attribute_names("#entity", "entity")
                .expression_attribute_values(":entity", s("coupon_redemptions"));
            if let Some(max) = max {
                conditions.push("(attribute_not_exists(#count) OR #count < :max)");
                update = update.expression_attribute_values(":max", n(u64::from(max)));
            }
        }
        if !conditions.is_empty() {
            update = update.condition_expression(conditions.join(" AND "));
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(unavailable)?)
            .build())
    }

    /// The writes that count `redemption`, each with the limit it enforces, to place in the
    /// subscription's transaction.
    pub(crate) fn redemption_writes(
        &self,
        redemption: &Redemption,
    ) -> Result<Vec<(TransactWriteItem, RedemptionLimit)>, StoreError> {
        let mut writes = vec![(
            self.counted(
                coupon_pk(&redemption.coupon_id),
                "COUPON",
                "times_redeemed",
                redemption.max_redemptions,
                true,
            )?,
            RedemptionLimit::Coupon,
        )];
        if let Some((code, max)) = &redemption.promotion_code {
            writes.push((
                self.counted(
                    promotion_code_pk(code),
                    "PROMOTION_CODE",
                    "times_redeemed",
                    *max,
                    true,
                )?,
                RedemptionLimit::PromotionCode,
            ));
        }
        if let Some(max) = redemption.max_redemptions_per_customer {
            writes.push((
                self.counted(
                    coupon_pk(&redemption.coupon_id),
                    &format!("REDEEMED_BY#{}", redemption.customer_id),
                    "redemptions",
                    Some(max),
                    false,
                )?,
                RedemptionLimit::Customer,
            ));
        }
        Ok(writes)
    }
}

#[async_trait]
impl CouponRepo for DynamoStore {
    async fn insert_coupon(&self, coupon: &Coupon) -> Result<(), StoreError> {
        self.insert(encode_entity::<_, Coupon>(&CouponItem::from(coupon))?)
            .await
    }

    async fn get_coupon(&self, id: &CouponId) -> Result<Option<Coupon>, StoreError> {
        self.load::<CouponItem, _>(coupon_pk(id), "COUPON").await
    }

    async fn list_coupons(&self) -> Result<Vec<Coupon>, StoreError> {
        self.newest_first::<CouponItem, _>(COUPONS_GSI1PK).await
    }

    async fn update_coupon(&self, coupon: &mut Coupon) -> Result<(), StoreError> {
        self.replace::<_, Coupon>(&CouponItem::from(&*coupon), &mut coupon.version)
            .await
    }

    async fn insert_promotion_code(&self, code: &PromotionCode) -> Result<(), StoreError> {
        let put = |item| {
            Put::builder()
                .table_name(self.table())
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(unavailable)
        };
        let guard = encode(&CodeGuardItem {
            pk: code_guard_pk(&code.code),
            sk: "PROMO_CODE".into(),
            entity: "promotion_code_name".into(),
            promotion_code_id: code.id.to_string(),
        })?;
        let outcome = self
            .transact(vec![
                TransactWriteItem::builder()
                    .put(put(encode_entity::<_, PromotionCode>(
                        &PromotionCodeItem::from(code),
                    )?)?)
                    .build(),
                TransactWriteItem::builder().put(put(guard)?).build(),
            ])
            .await?;
        match outcome {
            Ok(()) => Ok(()),
            Err(codes) if codes.iter().any(|c| c == "ConditionalCheckFailed") => {
                Err(StoreError::AlreadyExists)
            }
            Err(codes) => Err(canceled(&codes)),
        }
    }

    async fn get_promotion_code(
        &self,
        id: &PromotionCodeId,
    ) -> Result<Option<PromotionCode>, StoreError> {
        self.load::<PromotionCodeItem, _>(promotion_code_pk(id), "PROMOTION_CODE")
            .await
    }

    async fn find_promotion_code(&self, code: &str) -> Result<Option<PromotionCode>, StoreError> {
        let Some(guard) = self
            .get::<CodeGuardItem>(code_guard_pk(code), "PROMO_CODE")
            .await?
        else {
            return Ok(None);
        };
        let id = PromotionCodeId::from_str(&guard.promotion_code_id)
            .map_err(corrupt("promotion_code_id"))?;
        self.get_promotion_code(&id).await
    }

    async fn list_promotion_codes(
        &self,
        coupon_id: &CouponId,
    ) -> Result<Vec<PromotionCode>, StoreError> {
        self.newest_first::<PromotionCodeItem, _>(&coupon_codes_gsi1pk(coupon_id))
            .await
    }

    async fn update_promotion_code(&self, code: &mut PromotionCode) -> Result<(), StoreError> {
        self.replace::<_, PromotionCode>(&PromotionCodeItem::from(&*code), &mut code.version)
            .await
    }
}
