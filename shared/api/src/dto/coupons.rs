//! Coupons, promotion codes and discounts, shaped like Stripe's.

use std::collections::BTreeSet;

use billing_domain::discounts::coupon::{
    Coupon, CouponDuration, CouponTerms, CouponValue, DiscountRequest, NewCoupon, NewPromotionCode,
    PromotionCode,
};
use billing_domain::kernel::ids::IdError;
use billing_domain::kernel::validation::{FieldError, Validator};
use billing_domain::subscriptions::object::{CouponTermsObject, DiscountObject, DurationKind};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::plans::plan_id_field;
use super::{decimal, money_in, Currency};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Duration {
    /// The first billed period only.
    Once,
    /// `duration_in_periods` billed periods.
    Repeating,
    Forever,
}

/// The plans a coupon is restricted to.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppliesTo {
    #[schema(example = json!(["plan_premium_month"]))]
    pub plans: Vec<String>,
}

/// `POST /coupons` (admins): one of `percent_off`, or `amount_off` with `currency`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCouponRequest {
    /// Optional readable id (`coupon_...`); generated when absent.
    #[schema(pattern = r"^coupon_[A-Za-z0-9_]{1,57}$", example = "coupon_spring25")]
    pub id: Option<String>,
    #[schema(min_length = 1, max_length = 100, example = "Spring sale")]
    pub name: String,
    /// A percentage, more than 0 and at most 100, as a decimal string.
    #[schema(example = "25")]
    pub percent_off: Option<String>,
    /// A fixed amount per billed period, as a decimal string in `currency`.
    #[schema(example = "10.00")]
    pub amount_off: Option<String>,
    pub currency: Option<Currency>,
    pub duration: Duration,
    /// With `repeating`: how many billed periods (1 to 120).
    #[schema(minimum = 1, maximum = 120)]
    pub duration_in_periods: Option<u32>,
    /// The last moment it can be redeemed (RFC 3339, at most ten years ahead).
    #[serde(default, deserialize_with = "crate::request::optional_time")]
    pub redeem_by: Option<DateTime<Utc>>,
    #[schema(minimum = 1)]
    pub max_redemptions: Option<u32>,
    #[schema(minimum = 1)]
    pub max_redemptions_per_customer: Option<u32>,
    /// Restrict to these plans; absent: every plan.
    pub applies_to: Option<AppliesTo>,
}

impl TryFrom<CreateCouponRequest> for NewCoupon {
    type Error = Vec<FieldError>;
    fn try_from(r: CreateCouponRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let id = r.id.as_deref().and_then(|raw| {
            v.check(
                raw.parse()
                    .map_err(|e: IdError| FieldError::new("id", e.to_string())),
            )
        });
        let value = match (&r.percent_off, &r.amount_off, r.currency) {
            (Some(p), None, None) => v
                .check(decimal("percent_off", p))
                .map(CouponValue::PercentOff),
            (None, Some(a), Some(currency)) => v
                .check(money_in("amount_off", a, currency.into()))
                .map(CouponValue::AmountOff),
            (None, Some(_), None) => {
                v.push(FieldError::new("currency", "is required with amount_off"));
                None
            }
            (Some(_), _, Some(_)) => {
                v.push(FieldError::new("currency", "goes with amount_off only"));
                None
            }
            (Some(_), Some(_), None) => {
                v.push(FieldError::new(
                    "amount_off",
                    "give either percent_off or amount_off",
                ));
                None
            }
            (None, None, _) => {
                v.push(FieldError::new(
                    "percent_off",
                    "give percent_off or amount_off",
                ));
                None
            }
        };
        let duration = match (r.duration, r.duration_in_periods) {
            (Duration::Once, None) => Some(CouponDuration::Once),
            (Duration::Forever, None) => Some(CouponDuration::Forever),
            (Duration::Repeating, Some(periods)) => Some(CouponDuration::Repeating { periods }),
            (Duration::Repeating, None) => {
                v.push(FieldError::new(
                    "duration_in_periods",
                    "is required with repeating",
                ));
                None
            }
            (Duration::Once | Duration::Forever, Some(_)) => {
                v.push(FieldError::new(
                    "duration_in_periods",
                    "goes with repeating only",
                ));
                None
            }
        };
        let plans: BTreeSet<_> = r
            .applies_to
            .unwrap_or_default()
            .plans
            .iter()
            .filter_map(|raw| v.check(plan_id_field("applies_to.plans", raw)))
            .collect();
        v.finish()?;
        match (value, duration) {
            (Some(value), Some(duration)) => Ok(NewCoupon {
                id,
                name: r.name,
                value,
                duration,
                redeem_by: r.redeem_by,
                max_redemptions: r.max_redemptions,
                max_redemptions_per_customer: r.max_redemptions_per_customer,
                applies_to_plans: plans,
            }),
            _ => Err(vec![FieldError::new("body", "invalid coupon")]),
        }
    }
}

/// What a coupon takes off and for how long (also on every discount made from it).
#[derive(Debug, Serialize, ToSchema)]
pub struct CouponTermsDto {
    #[schema(example = "coupon_spring25")]
    pub id: String,
    pub name: String,
    #[schema(example = "25")]
    pub percent_off: Option<String>,
    pub amount_off: Option<String>,
    pub currency: Option<Currency>,
    pub duration: Duration,
    pub duration_in_periods: Option<u32>,
    pub applies_to: AppliesTo,
}

impl From<&CouponTerms> for CouponTermsDto {
    fn from(t: &CouponTerms) -> Self {
        CouponTermsDto::from(CouponTermsObject::from(t))
    }
}

impl From<CouponTermsObject> for CouponTermsDto {
    fn from(t: CouponTermsObject) -> Self {
        CouponTermsDto {
            id: t.id,
            name: t.name,
            percent_off: t.percent_off,
            amount_off: t.amount_off,
            currency: t.currency.map(Into::into),
            duration: match t.duration {
                DurationKind::Once => Duration::Once,
                DurationKind::Repeating => Duration::Repeating,
                DurationKind::Forever => Duration::Forever,
            },
            duration_in_periods: t.duration_in_periods,
            applies_to: AppliesTo {
                plans: t.applies_to.plans,
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CouponResponse {
    #[serde(flatten)]
    pub terms: CouponTermsDto,
    pub redeem_by: Option<DateTime<Utc>>,
    pub max_redemptions: Option<u32>,
    pub max_redemptions_per_customer: Option<u32>,
    pub times_redeemed: u32,
    /// Whether it can still be redeemed (archived: false).
    pub valid: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl CouponResponse {
    pub fn at(c: &Coupon, now: DateTime<Utc>) -> Self {
        CouponResponse {
            terms: CouponTermsDto::from(&c.terms),
            redeem_by: c.redeem_by,
            max_redemptions: c.max_redemptions,
            max_redemptions_per_customer: c.max_redemptions_per_customer,
            times_redeemed: c.times_redeemed,
            valid: c.active
                && c.redeem_by.is_none_or(|t| now <= t)
                && c.max_redemptions.is_none_or(|m| c.times_redeemed < m),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// `POST /promotion-codes` (admins).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePromotionCodeRequest {
    /// What customers type; matched case-insensitively (3 to 40 letters, digits, `-`, `_`).
    #[schema(example = "SPRING25")]
    pub code: String,
    #[schema(example = "coupon_spring25")]
    pub coupon_id: String,
    /// RFC 3339, at most ten years ahead.
    #[serde(default, deserialize_with = "crate::request::optional_time")]
    pub expires_at: Option<DateTime<Utc>>,
    #[schema(minimum = 1)]
    pub max_redemptions: Option<u32>,
}

impl TryFrom<CreatePromotionCodeRequest> for NewPromotionCode {
    type Error = FieldError;
    fn try_from(r: CreatePromotionCodeRequest) -> Result<Self, Self::Error> {
        Ok(NewPromotionCode {
            code: r.code,
            coupon_id: r
                .coupon_id
                .parse()
                .map_err(|e: IdError| FieldError::new("coupon_id", e.to_string()))?,
            expires_at: r.expires_at,
            max_redemptions: r.max_redemptions,
        })
    }
}

/// `PATCH /promotion-codes/{id}` (admins).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePromotionCodeRequest {
    pub active: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PromotionCodeResponse {
    #[schema(example = "promo_1f0e3dad99908345f7439f8f")]
    pub id: String,
    #[schema(example = "SPRING25")]
    pub code: String,
    pub coupon_id: String,
    pub active: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_redemptions: Option<u32>,
    pub times_redeemed: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&PromotionCode> for PromotionCodeResponse {
    fn from(c: &PromotionCode) -> Self {
        PromotionCodeResponse {
            id: c.id.to_string(),
            code: c.code.clone(),
            coupon_id: c.coupon_id.to_string(),
            active: c.active,
            expires_at: c.expires_at,
            max_redemptions: c.max_redemptions,
            times_redeemed: c.times_redeemed,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A coupon or a promotion code to redeem: on `POST /subscriptions` and
/// `POST /subscriptions/{id}/discount`. Customers use promotion codes; operators may also give a
/// coupon id.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyDiscountRequest {
    #[schema(example = "coupon_spring25")]
    pub coupon: Option<String>,
    #[schema(example = "SPRING25")]
    pub promotion_code: Option<String>,
}

/// Parses what to redeem.
pub fn discount_request(
    coupon: Option<&str>,
    promotion_code: Option<String>,
) -> Result<DiscountRequest, FieldError> {
    Ok(DiscountRequest {
        coupon_id: coupon
            .map(|raw| {
                raw.parse()
                    .map_err(|e: IdError| FieldError::new("coupon", e.to_string()))
            })
            .transpose()?,
        promotion_code,
    })
}

/// A coupon applied to a subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct DiscountDto {
    pub coupon: CouponTermsDto,
    pub promotion_code: Option<String>,
    /// The first discounted period starts here.
    pub start: DateTime<Utc>,
    /// Periods starting from here are not discounted; `null`: forever.
    pub end: Option<DateTime<Utc>>,
}

impl From<DiscountObject> for DiscountDto {
    fn from(d: DiscountObject) -> Self {
        DiscountDto {
            coupon: CouponTermsDto::from(d.coupon),
            promotion_code: d.promotion_code,
            start: d.start,
            end: d.end,
        }
    }
}
