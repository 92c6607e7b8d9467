//! Pre-orders and a subscription's pre-order usage (the first source document's shapes).

use billing_domain::catalogue::Limit;
use billing_domain::kernel::validation::FieldError;
use billing_domain::preorders::placing::PreorderUsageReport;
use billing_domain::preorders::preorder::{
    NewPreorder, Preorder, PreorderStatus as DPreorderStatus,
};
use billing_domain::preorders::usage_percentages;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Currency;

api_enum!(
    /// Where a pre-order stands: `reserved` (stock held, charged at release), `backordered`
    /// (waiting for stock), `allocated` (being charged), `fulfilled` (paid and shipped),
    /// `requires_action` (the customer must authenticate the charge), `payment_failed`,
    /// `canceled`.
    PreorderStatus => DPreorderStatus {
    Reserved = "reserved", Backordered = "backordered", Allocated = "allocated",
    Fulfilled = "fulfilled", RequiresAction = "requires_action", PaymentFailed = "payment_failed",
    Canceled = "canceled",
});

/// `POST /subscriptions/{id}/pre-orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePreorderRequest {
    #[schema(example = "prod_3f9a1c2b4d5e6f708192a3b4")]
    pub product_id: String,
    #[schema(minimum = 1, maximum = 10000, example = 3)]
    pub quantity: u32,
    /// 1 (first) to 5; default 3. Backorders are allocated by it before the tier.
    #[schema(minimum = 1, maximum = 5, example = 3)]
    pub priority_level: Option<u8>,
}

impl TryFrom<CreatePreorderRequest> for NewPreorder {
    type Error = Vec<FieldError>;
    fn try_from(r: CreatePreorderRequest) -> Result<Self, Self::Error> {
        Ok(NewPreorder {
            product_id: r.product_id.parse().map_err(
                |e: billing_domain::kernel::ids::IdError| {
                    vec![FieldError::new("product_id", e.to_string())]
                },
            )?,
            quantity: r.quantity,
            priority_level: r.priority_level,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PreorderResponse {
    #[schema(example = "po_3f9a1c2b4d5e6f708192a3b4")]
    pub id: String,
    pub subscription_id: String,
    pub customer_id: String,
    pub product_id: String,
    pub quantity: u32,
    pub priority_level: u8,
    pub status: PreorderStatus,
    pub currency: Currency,
    /// Decimal strings in `currency`.
    #[schema(example = "19.99")]
    pub unit_price: String,
    /// The tier's discount, per cent.
    #[schema(example = "5")]
    pub discount_percent: String,
    #[schema(example = "59.97")]
    pub subtotal: String,
    #[schema(example = "3.00")]
    pub discount: String,
    #[schema(example = "56.97")]
    pub total: String,
    pub release_at: Option<DateTime<Utc>>,
    /// The invoice it was charged on, once charged.
    pub invoice_id: Option<String>,
    /// While `payment_failed`: when the charge is tried again (`null` after the last try).
    pub next_payment_attempt: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&Preorder> for PreorderResponse {
    fn from(p: &Preorder) -> Self {
        PreorderResponse {
            id: p.id.to_string(),
            subscription_id: p.subscription_id.to_string(),
            customer_id: p.customer_id.to_string(),
            product_id: p.product_id.to_string(),
            quantity: p.quantity,
            priority_level: p.priority_level,
            status: p.status.into(),
            currency: p.price.total.currency().into(),
            unit_price: p.price.unit_price.amount().to_string(),
            discount_percent: p.price.discount_percent.normalize().to_string(),
            subtotal: p.price.subtotal.amount().to_string(),
            discount: p.price.discount.amount().to_string(),
            total: p.price.total.amount().to_string(),
            release_at: p.release_at,
            invoice_id: p.invoice_id.as_ref().map(ToString::to_string),
            next_payment_attempt: p.retry_at,
            created_at: p.created_at,
        }
    }
}

/// Whole per cents of each limit used, rounded down; `null` for an unlimited limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsagePercentage {
    pub orders: Option<u32>,
    pub value: Option<u32>,
}

/// `GET /subscriptions/{id}/usage`: the current pre-order month against the tier's limits.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreorderUsageResponse {
    pub subscription_id: String,
    #[schema(example = 8)]
    pub current_month_preorders: u32,
    /// `null`: unlimited.
    #[schema(example = 10)]
    pub monthly_preorder_limit: Option<u32>,
    /// The month's pre-orders at their discounted totals, a decimal string.
    #[schema(example = "2500.00")]
    pub current_preorder_value: String,
    /// `null`: unlimited.
    #[schema(example = "5000.00")]
    pub total_preorder_value_limit: Option<String>,
    pub usage_percentage: UsagePercentage,
    pub currency: Currency,
    /// When this pre-order month began.
    pub period_start: DateTime<Utc>,
    /// When the counters reset (the next pre-order month begins).
    pub resets_at: DateTime<Utc>,
}

impl From<&PreorderUsageReport> for PreorderUsageResponse {
    fn from(r: &PreorderUsageReport) -> Self {
        let limits = &r.plan.limits;
        let (orders, value) = usage_percentages(limits, &r.used);
        PreorderUsageResponse {
            subscription_id: r.subscription_id.to_string(),
            current_month_preorders: r.used.count,
            monthly_preorder_limit: match limits.monthly_preorder_limit {
                Limit::Limited(n) => Some(n),
                Limit::Unlimited => None,
            },
            current_preorder_value: r.used.value.amount().to_string(),
            total_preorder_value_limit: limits
                .monthly_preorder_value_limit
                .as_option()
                .map(|m| m.amount().to_string()),
            usage_percentage: UsagePercentage { orders, value },
            currency: r.used.value.currency().into(),
            period_start: r.month.start,
            resets_at: r.month.end,
        }
    }
}
