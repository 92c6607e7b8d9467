//! The JSON contract: request and response bodies, with their OpenAPI schemas.
//! Money is a decimal string next to a `currency`; times are RFC 3339 UTC; lists are
//! `{"data": [...], "has_more": bool}`.

pub mod coupons;
pub mod webhooks;

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use billing_domain::catalogue::{self, Limit, Plan, TierLimits};
use billing_domain::customers::{self as customer, Customer};
use billing_domain::kernel::money::{self, Money};
use billing_domain::kernel::page::Page;
use billing_domain::kernel::period;
use billing_domain::kernel::validation::{FieldError, Validator};
use billing_domain::subscriptions::object::SubscriptionObject;
use billing_domain::subscriptions::{self as subscription, Subscription};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// An enum of the contract, mirroring a domain enum value for value.
macro_rules! api_enum {
    ($(#[$meta:meta])* $name:ident => $domain:ident { $($variant:ident = $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        pub enum $name { $(#[serde(rename = $text)] $variant),+ }
        impl From<$domain> for $name {
            fn from(v: $domain) -> Self { match v { $($domain::$variant => $name::$variant),+ } }
        }
        impl From<$name> for $domain {
            fn from(v: $name) -> Self { match v { $($name::$variant => $domain::$variant),+ } }
        }
    };
}

use billing_domain::customers::credit::CreditTransactionKind as DCreditTransactionKind;
use billing_domain::invoicing::{
    BillingReason as DBillingReason, Invoice, InvoiceLine, InvoiceStatus as DInvoiceStatus,
    LineKind as DLineKind, PaymentStatus as DPaymentStatus,
    RefundDestination as DRefundDestination, RefundReason as DRefundReason,
    RefundStatus as DRefundStatus,
};
use billing_domain::notifications::{EmailSuppression, SuppressionReason as DSuppressionReason};
use billing_domain::webhooks::{
    DeliveryStatus as DDeliveryStatus, EndpointStatus as DEndpointStatus,
};
use catalogue::{Feature as DFeature, PlanStatus as DPlanStatus, Tier as DTier};
use customer::PaymentTerms as DPaymentTerms;
use money::Currency as DCurrency;
use period::Interval as DInterval;
use subscription::{CancellationReason as DReason, SubscriptionStatus as DStatus};

api_enum!(EndpointStatus => DEndpointStatus { Enabled = "enabled", Disabled = "disabled" });
api_enum!(
    /// Why an address gets no more email: it bounced for good, or its owner marked an email
    /// as spam.
    SuppressionReason => DSuppressionReason { Bounce = "bounce", Complaint = "complaint" });
api_enum!(DeliveryStatus => DDeliveryStatus { Pending = "pending", Succeeded = "succeeded", Failed = "failed" });
api_enum!(Tier => DTier { Free = "free", Basic = "basic", Premium = "premium", Enterprise = "enterprise" });
api_enum!(Interval => DInterval { Week = "week", TwoWeeks = "two_weeks", Month = "month", Quarter = "quarter", Year = "year" });
api_enum!(Currency => DCurrency { Usd = "usd", Eur = "eur", Gbp = "gbp", Cad = "cad", Aud = "aud", Chf = "chf", Jpy = "jpy" });
api_enum!(PlanStatus => DPlanStatus { Active = "active", Archived = "archived" });
api_enum!(Feature => DFeature {
    ApiAccess = "api_access", PrioritySupport = "priority_support", CustomReporting = "custom_reporting",
    AdvancedAnalytics = "advanced_analytics", BulkOperations = "bulk_operations",
    DedicatedManager = "dedicated_manager", Sla = "sla", CustomIntegrations = "custom_integrations",
    WhiteLabel = "white_label",
});
api_enum!(PaymentTerms => DPaymentTerms {
    DueOnReceipt = "due_on_receipt", Net15 = "net_15", Net30 = "net_30", Net45 = "net_45",
    Net60 = "net_60", Net90 = "net_90",
});
api_enum!(SubscriptionStatus => DStatus {
    Trialing = "trialing", Active = "active", Paused = "paused", PastDue = "past_due",
    Canceled = "canceled", Expired = "expired", Incomplete = "incomplete",
});
api_enum!(CancellationReason => DReason {
    TooExpensive = "too_expensive", MissingFeatures = "missing_features",
    SwitchedService = "switched_service", Unused = "unused", CustomerService = "customer_service",
    TooComplex = "too_complex", LowQuality = "low_quality", Other = "other",
});

api_enum!(InvoiceStatus => DInvoiceStatus {
    Draft = "draft", Open = "open", Paid = "paid", Void = "void", Uncollectible = "uncollectible",
});
api_enum!(BillingReason => DBillingReason {
    SubscriptionCreate = "subscription_create", SubscriptionCycle = "subscription_cycle",
    SubscriptionUpdate = "subscription_update",
});
api_enum!(RefundReason => DRefundReason {
    Duplicate = "duplicate", Fraudulent = "fraudulent", RequestedByCustomer = "requested_by_customer",
});
api_enum!(
    /// Where refunded money goes: back to the card through Stripe, or to the customer's credit
    /// balance, spent on the next invoices.
    RefundDestination => DRefundDestination {
    PaymentMethod = "payment_method", CreditBalance = "credit_balance",
});
api_enum!(RefundStatus => DRefundStatus {
    Pending = "pending", Succeeded = "succeeded", Failed = "failed",
});
api_enum!(PaymentStatus => DPaymentStatus {
    Succeeded = "succeeded", RequiresAction = "requires_action", Processing = "processing",
    Failed = "failed",
});
api_enum!(LineKind => DLineKind { Subscription = "subscription", Proration = "proration", Discount = "discount" });

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`) in a PATCH.
fn double_option<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A decimal amount written as a string, e.g. "29.99".
pub fn decimal(field: &str, raw: &str) -> Result<Decimal, FieldError> {
    let trimmed = raw.trim();
    let plain = !trimmed.is_empty()
        && trimmed.len() <= 30
        && trimmed
            .trim_start_matches('-')
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.');
    if !plain {
        return Err(FieldError::new(
            field,
            "must be a decimal string like \"29.99\"",
        ));
    }
    Decimal::from_str(trimmed)
        .map_err(|_| FieldError::new(field, "must be a decimal string like \"29.99\""))
}

fn money_in(field: &str, raw: &str, currency: DCurrency) -> Result<Money, FieldError> {
    let amount = decimal(field, raw)?;
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(FieldError::new(field, "must not be negative"));
    }
    Money::input(amount, currency).map_err(|e| FieldError::new(field, e.to_string()))
}

/// Lists: a page of items and whether more follow.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T: ToSchema> List<T> {
    pub fn from_page<U>(page: Page<U>, f: impl FnMut(U) -> T) -> Self {
        List {
            data: page.data.into_iter().map(f).collect(),
            has_more: page.has_more,
        }
    }
}

// ---- plans -------------------------------------------------------------------------------

/// The tier's limits; `null` means unlimited.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanLimits {
    #[schema(minimum = 0, maximum = 4294967295_u64)]
    pub monthly_preorder_limit: Option<u32>,
    /// Decimal string in the plan's currency.
    #[schema(pattern = r"^\d{1,15}(\.\d{1,2})?$", example = "5000.00")]
    pub monthly_preorder_value_limit: Option<String>,
    #[schema(minimum = 0, maximum = 365)]
    pub early_access_days: u32,
    /// Per cent, as a decimal string ("2.5").
    #[schema(pattern = r"^\d{1,3}(\.\d{1,4})?$", example = "2.5")]
    pub preorder_discount_percent: String,
    #[schema(minimum = 0, maximum = 4294967295_u64)]
    pub tracked_products_limit: Option<u32>,
}

impl From<&TierLimits> for PlanLimits {
    fn from(l: &TierLimits) -> Self {
        PlanLimits {
            monthly_preorder_limit: l.monthly_preorder_limit.as_option().copied(),
            monthly_preorder_value_limit: l
                .monthly_preorder_value_limit
                .as_option()
                .map(|m| m.amount().to_string()),
            early_access_days: l.early_access_days,
            preorder_discount_percent: l.preorder_discount_percent.normalize().to_string(),
            tracked_products_limit: l.tracked_products_limit.as_option().copied(),
        }
    }
}

impl PlanLimits {
    fn into_domain(self, currency: DCurrency) -> Result<TierLimits, Vec<FieldError>> {
        let mut v = Validator::new();
        let value_limit = self.monthly_preorder_value_limit.as_deref().map(|raw| {
            v.check(money_in(
                "limits.monthly_preorder_value_limit",
                raw,
                currency,
            ))
        });
        let discount = v.check(decimal(
            "limits.preorder_discount_percent",
            &self.preorder_discount_percent,
        ));
        v.finish()?;
        Ok(TierLimits {
            monthly_preorder_limit: Limit::from_option(self.monthly_preorder_limit),
            monthly_preorder_value_limit: match value_limit {
                Some(Some(m)) => Limit::Limited(m),
                _ => Limit::Unlimited,
            },
            early_access_days: self.early_access_days,
            preorder_discount_percent: discount.unwrap_or_default(),
            tracked_products_limit: Limit::from_option(self.tracked_products_limit),
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlanResponse {
    #[schema(example = "plan_premium_month")]
    pub id: String,
    #[schema(example = "Premium (monthly)")]
    pub name: String,
    pub tier: Tier,
    pub interval: Interval,
    /// Price per interval, decimal string.
    #[schema(example = "79.99")]
    pub price: String,
    pub currency: Currency,
    pub trial_days: u32,
    pub features: Vec<Feature>,
    pub limits: PlanLimits,
    /// Whether a customer may hold this plan next to another live subscription.
    pub allow_multiple: bool,
    /// Where a subscription that ends at its period end moves the customer (the free plan).
    pub fallback_plan_id: Option<String>,
    /// Days before each renewal the customer is reminded (0: never; default 7). A period not
    /// longer than that (a week) gets no reminder.
    pub renewal_reminder_days: u32,
    pub status: PlanStatus,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Plan> for PlanResponse {
    fn from(p: &Plan) -> Self {
        PlanResponse {
            id: p.id.to_string(),
            name: p.name.clone(),
            tier: p.tier.into(),
            interval: p.interval.into(),
            price: p.price.amount().to_string(),
            currency: p.price.currency().into(),
            trial_days: p.trial_days,
            features: p.features.iter().map(|f| (*f).into()).collect(),
            limits: (&p.limits).into(),
            allow_multiple: p.allow_multiple,
            fallback_plan_id: p.fallback_plan_id.as_ref().map(ToString::to_string),
            renewal_reminder_days: p.reminder_days(),
            status: p.status.into(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePlanRequest {
    /// Optional readable id (`plan_...`); generated when absent.
    #[schema(pattern = r"^plan_[A-Za-z0-9_]{1,59}$")]
    pub id: Option<String>,
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    pub tier: Tier,
    pub interval: Interval,
    #[schema(pattern = r"^\d{1,15}(\.\d{1,2})?$", example = "79.99")]
    pub price: String,
    pub currency: Currency,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 730)]
    pub trial_days: u32,
    /// Defaults to the tier's standard features.
    pub features: Option<BTreeSet<Feature>>,
    /// Defaults to the tier's standard limits.
    pub limits: Option<PlanLimits>,
    #[serde(default)]
    pub allow_multiple: bool,
    /// A free plan the customer moves to when a subscription on this one ends at its period end.
    #[schema(example = "plan_free_month")]
    pub fallback_plan_id: Option<String>,
    /// Days before each renewal the customer is reminded; 0 turns the reminder off. Default 7
    /// (a period not longer than that, a week, gets none).
    #[schema(minimum = 0, maximum = 60, example = 7)]
    pub renewal_reminder_days: Option<u32>,
}

fn plan_id_field(
    field: &str,
    raw: &str,
) -> Result<billing_domain::kernel::ids::PlanId, FieldError> {
    raw.parse()
        .map_err(|e: billing_domain::kernel::ids::IdError| FieldError::new(field, e.to_string()))
}

impl TryFrom<CreatePlanRequest> for catalogue::NewPlan {
    type Error = Vec<FieldError>;
    fn try_from(r: CreatePlanRequest) -> Result<Self, Self::Error> {
        let currency: DCurrency = r.currency.into();
        let mut v = Validator::new();
        let id = r.id.as_deref().and_then(|raw| {
            v.check(
                raw.parse()
                    .map_err(|e: billing_domain::kernel::ids::IdError| {
                        FieldError::new("id", e.to_string())
                    }),
            )
        });
        let price = v.check(money_in("price", &r.price, currency));
        let fallback_plan_id = r
            .fallback_plan_id
            .as_deref()
            .and_then(|raw| v.check(plan_id_field("fallback_plan_id", raw)));
        let limits = match r.limits.map(|l| l.into_domain(currency)) {
            Some(Ok(l)) => Some(l),
            Some(Err(errors)) => {
                v.extend(errors);
                None
            }
            None => None,
        };
        v.finish()?;
        Ok(catalogue::NewPlan {
            id,
            name: r.name,
            tier: r.tier.into(),
            interval: r.interval.into(),
            price: price.unwrap_or_else(|| Money::zero(currency)),
            trial_days: r.trial_days,
            features: r.features.map(|f| f.into_iter().map(Into::into).collect()),
            limits,
            allow_multiple: r.allow_multiple,
            fallback_plan_id,
            renewal_reminder_days: r.renewal_reminder_days,
        })
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePlanRequest {
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 730)]
    pub trial_days: Option<u32>,
    pub features: Option<BTreeSet<Feature>>,
    pub limits: Option<PlanLimits>,
    pub allow_multiple: Option<bool>,
    /// `null` removes the fallback.
    #[serde(default, deserialize_with = "double_option")]
    pub fallback_plan_id: Option<Option<String>>,
    /// `null` goes back to the default (7 days).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(minimum = 0, maximum = 60)]
    pub renewal_reminder_days: Option<Option<u32>>,
}

impl UpdatePlanRequest {
    pub fn into_patch(self, currency: DCurrency) -> Result<catalogue::PlanPatch, Vec<FieldError>> {
        Ok(catalogue::PlanPatch {
            name: self.name,
            trial_days: self.trial_days,
            features: self
                .features
                .map(|f| f.into_iter().map(Into::into).collect()),
            limits: self.limits.map(|l| l.into_domain(currency)).transpose()?,
            allow_multiple: self.allow_multiple,
            fallback_plan_id: self
                .fallback_plan_id
                .map(|f| {
                    f.as_deref()
                        .map(|raw| plan_id_field("fallback_plan_id", raw))
                        .transpose()
                })
                .transpose()
                .map_err(|e| vec![e])?,
            renewal_reminder_days: self.renewal_reminder_days,
        })
    }
}

// ---- customers ---------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressDto {
    #[schema(max_length = 200, example = "1 Market St")]
    pub line1: String,
    pub line2: Option<String>,
    #[schema(max_length = 100, example = "San Francisco")]
    pub city: String,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "US")]
    pub country: String,
}

impl From<AddressDto> for customer::Address {
    fn from(a: AddressDto) -> Self {
        customer::Address {
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            state: a.state,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

impl From<&customer::Address> for AddressDto {
    fn from(a: &customer::Address) -> Self {
        AddressDto {
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyDto {
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub registration_number: Option<String>,
    pub industry: Option<String>,
    pub website: Option<String>,
    pub phone: Option<String>,
}

impl From<CompanyDto> for customer::Company {
    fn from(c: CompanyDto) -> Self {
        customer::Company {
            legal_name: c.legal_name,
            tax_id: c.tax_id,
            registration_number: c.registration_number,
            industry: c.industry,
            website: c.website,
            phone: c.phone,
        }
    }
}

impl From<&customer::Company> for CompanyDto {
    fn from(c: &customer::Company) -> Self {
        CompanyDto {
            legal_name: c.legal_name.clone(),
            tax_id: c.tax_id.clone(),
            registration_number: c.registration_number.clone(),
            industry: c.industry.clone(),
            website: c.website.clone(),
            phone: c.phone.clone(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomerRequest {
    #[schema(min_length = 1, max_length = 200, example = "Acme Wholesale Ltd")]
    pub name: String,
    #[schema(example = "billing@acme.example")]
    pub email: String,
    pub company: Option<CompanyDto>,
    pub billing_address: Option<AddressDto>,
    pub shipping_address: Option<AddressDto>,
    pub payment_terms: Option<PaymentTerms>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl From<CreateCustomerRequest> for customer::NewCustomer {
    fn from(r: CreateCustomerRequest) -> Self {
        customer::NewCustomer {
            name: r.name,
            email: r.email,
            company: r.company.map(Into::into),
            billing_address: r.billing_address.map(Into::into),
            shipping_address: r.shipping_address.map(Into::into),
            payment_terms: r.payment_terms.map(Into::into),
            metadata: r.metadata,
        }
    }
}

/// Fields to change; `null` clears an optional one. Metadata merges; an empty value removes a key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCustomerRequest {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub email: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub company: Option<Option<CompanyDto>>,
    #[serde(default, deserialize_with = "double_option")]
    pub billing_address: Option<Option<AddressDto>>,
    #[serde(default, deserialize_with = "double_option")]
    pub shipping_address: Option<Option<AddressDto>>,
    pub payment_terms: Option<PaymentTerms>,
    pub metadata: Option<BTreeMap<String, String>>,
}

impl From<UpdateCustomerRequest> for customer::CustomerPatch {
    fn from(r: UpdateCustomerRequest) -> Self {
        customer::CustomerPatch {
            name: r.name,
            email: r.email,
            company: r.company.map(|c| c.map(Into::into)),
            billing_address: r.billing_address.map(|a| a.map(Into::into)),
            shipping_address: r.shipping_address.map(|a| a.map(Into::into)),
            payment_terms: r.payment_terms.map(Into::into),
            metadata: r.metadata,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerResponse {
    #[schema(example = "cus_8f14e45fceea167a5a36dedd")]
    pub id: String,
    pub name: String,
    pub email: String,
    pub company: Option<CompanyDto>,
    pub billing_address: Option<AddressDto>,
    pub shipping_address: Option<AddressDto>,
    pub payment_terms: PaymentTerms,
    pub metadata: BTreeMap<String, String>,
    /// The Stripe customer, created with the first payment method.
    #[schema(example = "cus_NffrFeUfNV2Hib")]
    pub stripe_customer_id: Option<String>,
    /// Charged when a subscription names no payment method of its own.
    pub default_payment_method_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Customer> for CustomerResponse {
    fn from(c: &Customer) -> Self {
        CustomerResponse {
            id: c.id.to_string(),
            name: c.name.clone(),
            email: c.email.to_string(),
            company: c.company.as_ref().map(Into::into),
            billing_address: c.billing_address.as_ref().map(Into::into),
            shipping_address: c.shipping_address.as_ref().map(Into::into),
            payment_terms: c.payment_terms.into(),
            metadata: c.metadata.clone(),
            stripe_customer_id: c.processor_customer_id.clone(),
            default_payment_method_id: c.default_payment_method_id.clone(),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

// ---- subscriptions -----------------------------------------------------------------------

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscriptionRequest {
    #[schema(example = "cus_8f14e45fceea167a5a36dedd")]
    pub customer_id: String,
    #[schema(example = "plan_premium_month")]
    pub subscription_plan_id: String,
    /// A Stripe payment method id (`pm_...`).
    #[schema(example = "pm_card_visa")]
    pub payment_method_id: Option<String>,
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub auto_renew: bool,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Operators: trial days for this subscription instead of the plan's (0: no trial). Sent by
    /// a customer, 422: a customer gets the plan's trial, once.
    #[schema(minimum = 0, maximum = 730)]
    pub trial_days: Option<u32>,
    /// Operators: a coupon id to apply.
    #[schema(example = "coupon_spring25")]
    pub coupon: Option<String>,
    /// A promotion code to redeem (case-insensitive).
    #[schema(example = "SPRING25")]
    pub promotion_code: Option<String>,
}

fn yes() -> bool {
    true
}

impl TryFrom<CreateSubscriptionRequest> for subscription::NewSubscription {
    type Error = Vec<FieldError>;
    fn try_from(r: CreateSubscriptionRequest) -> Result<Self, Self::Error> {
        let mut v = Validator::new();
        let customer_id = v.check(r.customer_id.parse().map_err(
            |e: billing_domain::kernel::ids::IdError| FieldError::new("customer_id", e.to_string()),
        ));
        let plan_id = v.check(r.subscription_plan_id.parse().map_err(
            |e: billing_domain::kernel::ids::IdError| {
                FieldError::new("subscription_plan_id", e.to_string())
            },
        ));
        let discount = v.check(coupons::discount_request(
            r.coupon.as_deref(),
            r.promotion_code,
        ));
        v.finish()?;
        match (customer_id, plan_id) {
            (Some(customer_id), Some(plan_id)) => Ok(subscription::NewSubscription {
                customer_id,
                plan_id,
                payment_method_id: r.payment_method_id,
                auto_renew: r.auto_renew,
                metadata: r.metadata,
                trial_days: r.trial_days,
                discount: discount.unwrap_or_default(),
            }),
            _ => Err(vec![FieldError::new("body", "invalid subscription")]),
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// Resume automatically at this time (RFC 3339, at most ten years ahead); absent = until
    /// resumed.
    #[serde(default, deserialize_with = "crate::request::optional_time")]
    pub resumes_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelSubscriptionRequest {
    pub reason: Option<CancellationReason>,
    #[schema(max_length = 1000)]
    pub comment: Option<String>,
    /// Cancel now instead of at the end of the current period.
    #[serde(default)]
    pub immediately: bool,
}

impl From<CancelSubscriptionRequest> for subscription::CancelRequest {
    fn from(r: CancelSubscriptionRequest) -> Self {
        subscription::CancelRequest {
            reason: r.reason.map(Into::into),
            comment: r.comment,
            immediately: r.immediately,
        }
    }
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscriptionRequest {
    pub auto_renew: Option<bool>,
    /// Merged into the current metadata; an empty value removes a key.
    pub metadata: Option<BTreeMap<String, String>>,
    /// `false` reactivates a subscription set to cancel at period end.
    pub cancel_at_period_end: Option<bool>,
}

impl From<UpdateSubscriptionRequest> for subscription::SubscriptionPatch {
    fn from(r: UpdateSubscriptionRequest) -> Self {
        subscription::SubscriptionPatch {
            auto_renew: r.auto_renew,
            metadata: r.metadata,
            cancel_at_period_end: r.cancel_at_period_end,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancellationDto {
    pub reason: Option<CancellationReason>,
    pub comment: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PauseDto {
    pub paused_at: DateTime<Utc>,
    pub resumes_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionResponse {
    #[schema(example = "sub_1f0e3dad99908345f7439f8f")]
    pub id: String,
    pub customer_id: String,
    pub plan_id: String,
    pub status: SubscriptionStatus,
    pub auto_renew: bool,
    pub payment_method_id: Option<String>,
    pub current_period_start: DateTime<Utc>,
    pub current_period_end: DateTime<Utc>,
    pub billing_cycle_anchor: DateTime<Utc>,
    pub trial_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub canceled_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub cancellation: Option<CancellationDto>,
    pub pause: Option<PauseDto>,
    pub metadata: BTreeMap<String, String>,
    /// The newest invoice: the first period's, then each renewal's.
    pub latest_invoice_id: Option<String>,
    /// While past due: when the open invoice is charged again (`null`: no more retries).
    pub next_payment_attempt: Option<DateTime<Utc>>,
    /// A downgrade waiting for the end of the period.
    pub scheduled_plan_id: Option<String>,
    /// The coupon applied to its invoices.
    pub discount: Option<coupons::DiscountDto>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Subscription> for SubscriptionResponse {
    fn from(s: &Subscription) -> Self {
        SubscriptionResponse::from(SubscriptionObject::from(s))
    }
}

/// The same fields as the events' `subscription` ([`SubscriptionObject`]), described for the
/// OpenAPI document; a test keeps the two equal.
impl From<SubscriptionObject> for SubscriptionResponse {
    fn from(s: SubscriptionObject) -> Self {
        SubscriptionResponse {
            id: s.id,
            customer_id: s.customer_id,
            plan_id: s.plan_id,
            status: s.status.into(),
            auto_renew: s.auto_renew,
            payment_method_id: s.payment_method_id,
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            billing_cycle_anchor: s.billing_cycle_anchor,
            trial_end: s.trial_end,
            cancel_at_period_end: s.cancel_at_period_end,
            canceled_at: s.canceled_at,
            ended_at: s.ended_at,
            cancellation: s.cancellation.map(|c| CancellationDto {
                reason: c.reason.map(Into::into),
                comment: c.comment,
            }),
            pause: s.pause.map(|p| PauseDto {
                paused_at: p.paused_at,
                resumes_at: p.resumes_at,
            }),
            metadata: s.metadata,
            latest_invoice_id: s.latest_invoice_id,
            next_payment_attempt: s.next_payment_attempt,
            scheduled_plan_id: s.scheduled_plan_id,
            discount: s.discount.map(coupons::DiscountDto::from),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    #[schema(example = "ok")]
    pub status: String,
    pub version: String,
}

// ---- invoices ----------------------------------------------------------------------------

/// One line of an invoice; credits and discounts are negative.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceLineDto {
    pub kind: LineKind,
    pub description: String,
    #[schema(example = "79.99")]
    pub amount: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

/// An invoice. `total = subtotal - discount` = the sum of the lines;
/// `amount_due = max(total - credit_applied - amount_paid, 0)`; a negative total is
/// `credit_issued` to the customer's credit balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceResponse {
    #[schema(example = "in_0cc175b9c0f1b6a831c399e2")]
    pub id: String,
    pub status: InvoiceStatus,
    /// Why it was made: `subscription_create`, `subscription_cycle` (a renewal) or
    /// `subscription_update` (a plan change).
    pub billing_reason: BillingReason,
    /// Its subscription, customer, totals, period and lines, as a preview shows them.
    #[serde(flatten)]
    pub figures: InvoiceFigures,
    pub amount_paid: String,
    pub attempt_count: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Every charge attempt, oldest first.
    pub payments: Vec<PaymentDto>,
    #[schema(example = "0.00")]
    pub amount_refunded: String,
    pub refunds: Vec<RefundDto>,
    /// Disputes (chargebacks) of its payments, as Stripe reported them; oldest first.
    pub disputes: Vec<DisputeDto>,
    pub created_at: DateTime<Utc>,
}

fn line_dtos(lines: &[InvoiceLine]) -> Vec<InvoiceLineDto> {
    lines
        .iter()
        .map(|l| InvoiceLineDto {
            kind: l.kind.into(),
            description: l.description.clone(),
            amount: l.amount.amount().to_string(),
            period_start: l.period.start,
            period_end: l.period.end,
        })
        .collect()
}

/// What an invoice bills, stored or previewed: its totals, period and lines. A preview of the
/// next invoice (`GET /subscriptions/{id}/upcoming-invoice`, nothing stored or charged) is
/// exactly this; a stored invoice has it too.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceFigures {
    pub subscription_id: String,
    pub customer_id: String,
    pub currency: Currency,
    pub subtotal: String,
    pub discount: String,
    pub total: String,
    /// The customer's credit spent on it (paid before any card is charged); for a preview, the
    /// credit as it stands now.
    #[schema(example = "0.00")]
    pub credit_applied: String,
    /// Credit it gives the customer's balance (its total is negative).
    #[schema(example = "0.00")]
    pub credit_issued: String,
    pub amount_due: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub lines: Vec<InvoiceLineDto>,
}

impl TryFrom<&Invoice> for InvoiceFigures {
    type Error = money::MoneyError;
    fn try_from(i: &Invoice) -> Result<Self, Self::Error> {
        let text = |m: Money| m.amount().to_string();
        Ok(InvoiceFigures {
            subscription_id: i.subscription_id.to_string(),
            customer_id: i.customer_id.to_string(),
            currency: i.currency.into(),
            subtotal: text(i.subtotal()?),
            discount: text(i.discount()?),
            total: text(i.total()?),
            credit_applied: text(i.credit_spent()),
            credit_issued: text(i.credit_issued()),
            amount_due: text(i.amount_due()?),
            period_start: i.period.start,
            period_end: i.period.end,
            lines: line_dtos(&i.lines),
        })
    }
}

/// `POST /subscriptions/{id}/change-plan`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlanRequest {
    #[schema(example = "plan_premium_month")]
    pub plan_id: String,
    /// Operators: prorate an immediate change by the second (default true). A customer's
    /// immediate change is always prorated; sent by a customer, 422.
    pub prorate: Option<bool>,
    /// Default: upgrades at once, downgrades at the end of the period. A customer's immediate
    /// change that would leave credit (a downgrade now) is a 422: only operators apply those.
    pub at_period_end: Option<bool>,
}

/// One charge attempt of an invoice.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentDto {
    /// Stripe's PaymentIntent id.
    #[schema(example = "pi_3MtwBwLkdIwHu7ix28a3tqPa")]
    pub stripe_payment_intent_id: Option<String>,
    pub attempt: u32,
    #[schema(example = "79.99")]
    pub amount: String,
    pub status: PaymentStatus,
    /// Stripe's decline code, e.g. `card_declined` or `insufficient_funds`.
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// `PUT /customers/{id}/payment-method`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodRequest {
    /// A Stripe PaymentMethod id, e.g. `pm_card_visa` in test mode.
    #[schema(example = "pm_card_visa")]
    pub payment_method_id: String,
}

/// The test clock's time.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TestClockResponse {
    pub now: DateTime<Utc>,
}

/// `POST /test-clock/advance`: one of `to` or `by_seconds`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdvanceTestClockRequest {
    /// RFC 3339, at most ten years ahead.
    #[serde(default, deserialize_with = "crate::request::optional_time")]
    pub to: Option<DateTime<Utc>>,
    #[schema(minimum = 0)]
    pub by_seconds: Option<i64>,
}

impl TryFrom<&Invoice> for InvoiceResponse {
    type Error = money::MoneyError;
    fn try_from(i: &Invoice) -> Result<Self, Self::Error> {
        let text = |m: Money| m.amount().to_string();
        Ok(InvoiceResponse {
            id: i.id.to_string(),
            status: i.status.into(),
            billing_reason: i.billing_reason.into(),
            figures: InvoiceFigures::try_from(i)?,
            amount_paid: text(i.amount_paid),
            attempt_count: i.attempt_count,
            next_attempt_at: i.next_attempt_at,
            payments: i
                .payments
                .iter()
                .map(|p| PaymentDto {
                    stripe_payment_intent_id: p.processor_payment_id.clone(),
                    attempt: p.attempt,
                    amount: text(p.amount),
                    status: p.status.into(),
                    failure_code: p.failure_code.clone(),
                    failure_message: p.failure_message.clone(),
                    created_at: p.created_at,
                })
                .collect(),
            amount_refunded: text(i.amount_refunded()?),
            refunds: i
                .refunds
                .iter()
                .map(|r| RefundDto {
                    stripe_refund_id: r.processor_refund_id.clone(),
                    to: r.destination.into(),
                    stripe_payment_intent_id: r.processor_payment_id.clone(),
                    amount: text(r.amount),
                    reason: r.reason.map(Into::into),
                    status: r.status.into(),
                    created_at: r.created_at,
                })
                .collect(),
            disputes: i
                .disputes
                .iter()
                .map(|d| DisputeDto {
                    stripe_dispute_id: d.processor_dispute_id.clone(),
                    stripe_payment_intent_id: d.processor_payment_id.clone(),
                    amount: text(d.amount),
                    reason: d.reason.clone(),
                    status: d.status.as_str().to_owned(),
                    created_at: d.created_at,
                    updated_at: d.updated_at,
                })
                .collect(),
            created_at: i.created_at,
        })
    }
}

/// A dispute (chargeback) of a payment. While it is open or once it is lost, the payment cannot
/// also be refunded.
#[derive(Debug, Serialize, ToSchema)]
pub struct DisputeDto {
    #[schema(example = "dp_1Nispe2eZvKYlo2Cd31jOCgZ")]
    pub stripe_dispute_id: String,
    pub stripe_payment_intent_id: String,
    #[schema(example = "79.99")]
    pub amount: String,
    /// The bank's reason, as Stripe gives it (`fraudulent`, `product_not_received`...).
    #[schema(example = "fraudulent")]
    pub reason: String,
    /// Stripe's dispute status: `needs_response`, `under_review`, `won`, `lost`,
    /// `warning_needs_response`, `warning_under_review`, `warning_closed` or `prevented`.
    #[schema(example = "needs_response")]
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A customer's credit in one currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditBalanceDto {
    pub currency: Currency,
    #[schema(example = "20.00")]
    pub amount: String,
}

/// `GET /customers/{id}/credit-balance`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditBalanceResponse {
    pub customer_id: String,
    /// One entry per currency the customer has or had credit in.
    pub balances: Vec<CreditBalanceDto>,
}

impl CreditBalanceResponse {
    pub fn new(customer_id: &str, balances: &[Money]) -> Self {
        CreditBalanceResponse {
            customer_id: customer_id.to_owned(),
            balances: balances
                .iter()
                .map(|m| CreditBalanceDto {
                    currency: m.currency().into(),
                    amount: m.amount().to_string(),
                })
                .collect(),
        }
    }
}

api_enum!(
    /// Why a customer's credit changed.
    CreditTransactionKind => DCreditTransactionKind {
    AppliedToInvoice = "applied_to_invoice", InvoiceCredit = "invoice_credit",
    InvoiceVoided = "invoice_voided", Refund = "refund",
});

/// One change of a customer's credit balance.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditTransactionDto {
    #[schema(example = "in_0cc175b9c0f1b6a831c399e2:applied")]
    pub id: String,
    pub kind: CreditTransactionKind,
    /// Positive adds credit, negative spends it.
    #[schema(example = "-20.00")]
    pub amount: String,
    pub currency: Currency,
    pub invoice_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<&billing_domain::customers::credit::CreditTransaction> for CreditTransactionDto {
    fn from(t: &billing_domain::customers::credit::CreditTransaction) -> Self {
        CreditTransactionDto {
            id: t.id.clone(),
            kind: t.kind.into(),
            amount: t.amount.amount().to_string(),
            currency: t.amount.currency().into(),
            invoice_id: t.invoice_id.as_ref().map(ToString::to_string),
            created_at: t.created_at,
        }
    }
}

/// A refund of a payment.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundDto {
    /// Stripe's refund; `null` for a refund to the credit balance.
    #[schema(example = "re_1Nispe2eZvKYlo2Cd31jOCgZ")]
    pub stripe_refund_id: Option<String>,
    pub to: RefundDestination,
    pub stripe_payment_intent_id: String,
    #[schema(example = "10.00")]
    pub amount: String,
    pub reason: Option<RefundReason>,
    /// `pending` while the processor has not answered (its amount is held), then `succeeded`
    /// or `failed` (its amount is free again).
    pub status: RefundStatus,
    pub created_at: DateTime<Utc>,
}

/// `POST /invoices/{id}/refunds` (operators).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundInvoiceRequest {
    /// A decimal string in the invoice's currency; omitted: all that is left to refund (`null`
    /// is refused: only leaving it out means the rest).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, example = "10.00")]
    pub amount: Option<Option<String>>,
    pub reason: Option<RefundReason>,
    /// `payment_method` (the default) or `credit_balance`.
    pub to: Option<RefundDestination>,
}

impl RefundInvoiceRequest {
    /// `request_key`: the caller's `Idempotency-Key`, hashed (see [`crate::idempotency::request_key`]).
    pub fn into_domain(
        self,
        request_key: Option<String>,
    ) -> Result<billing_domain::invoicing::refunds::RefundRequest, FieldError> {
        Ok(billing_domain::invoicing::refunds::RefundRequest {
            amount: match self.amount {
                None => None,
                Some(None) => {
                    return Err(FieldError::new(
                        "amount",
                        "must be a decimal string; leave it out to refund the rest",
                    ))
                }
                Some(Some(raw)) => Some(decimal("amount", &raw)?),
            },
            reason: self.reason.map(Into::into),
            request_key,
            to: self.to.map(Into::into).unwrap_or_default(),
        })
    }
}

/// The answer to a Stripe webhook delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    pub received: bool,
    /// The event was received before; nothing was done again.
    pub duplicate: bool,
}

/// `GET/PUT /customers/{id}/notification-preferences`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPreferencesResponse {
    pub customer_id: String,
    /// Every kind of email and whether it is sent.
    #[schema(example = json!({"renewal_reminder": true, "payment_receipt": true}))]
    pub kinds: BTreeMap<String, bool>,
    /// The kinds that are always sent (receipts, payment failures, payments waiting for the
    /// customer, refunds).
    pub always_sent: Vec<String>,
    /// The addresses chosen; none confirmed: the customer's own email address.
    pub addresses: Vec<String>,
    /// Addresses a customer added that get no email until their owner follows the link in
    /// the confirmation email sent to them (operators' additions are confirmed at once).
    pub pending_confirmation: Vec<String>,
    /// Where email goes now: the confirmed addresses, or the customer's own.
    pub recipients: Vec<String>,
    /// Recipients that get no email at all since they bounced or complained; lift with
    /// `DELETE /customers/{id}/email-suppressions/{address}` once the mailbox works.
    pub suppressed: Vec<SuppressedAddress>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// An address that gets no more email.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressedAddress {
    #[schema(example = "ap@acme.example")]
    pub address: String,
    pub reason: SuppressionReason,
    /// What the receiving mail server said, when it said something.
    #[schema(example = "smtp; 550 5.1.1 user unknown")]
    pub detail: Option<String>,
    pub suppressed_at: DateTime<Utc>,
}

impl From<&EmailSuppression> for SuppressedAddress {
    fn from(s: &EmailSuppression) -> Self {
        SuppressedAddress {
            address: s.address.clone(),
            reason: s.reason.into(),
            detail: s.detail.clone(),
            suppressed_at: s.suppressed_at,
        }
    }
}

impl NotificationPreferencesResponse {
    pub fn new(
        prefs: &billing_domain::notifications::NotificationPreferences,
        customer: &Customer,
        suppressed: &[EmailSuppression],
    ) -> Self {
        use billing_domain::notifications::NotificationKind;
        NotificationPreferencesResponse {
            customer_id: customer.id.to_string(),
            kinds: NotificationKind::ALL
                .into_iter()
                .map(|k| (k.as_str().to_owned(), prefs.is_enabled(k)))
                .collect(),
            always_sent: NotificationKind::ALL
                .into_iter()
                .filter(|k| k.always_sent())
                .map(|k| k.as_str().to_owned())
                .collect(),
            addresses: prefs
                .addresses
                .iter()
                .map(|a| a.email.as_str().to_owned())
                .collect(),
            pending_confirmation: prefs.pending().map(|a| a.as_str().to_owned()).collect(),
            recipients: prefs
                .recipients(customer)
                .iter()
                .map(|a| a.as_str().to_owned())
                .collect(),
            suppressed: suppressed.iter().map(SuppressedAddress::from).collect(),
            updated_at: prefs.updated_at,
        }
    }
}

/// `PUT /customers/{id}/notification-preferences`: what is given replaces what was there.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateNotificationPreferencesRequest {
    /// Kind → on or off. Turning off a kind that is always sent is a 422.
    #[schema(example = json!({"renewal_reminder": false}))]
    pub kinds: Option<BTreeMap<String, bool>>,
    /// Up to 5 addresses; `[]` goes back to the customer's own.
    #[schema(max_items = 5, example = json!(["accounts@acme.example"]))]
    pub addresses: Option<Vec<String>>,
}

impl From<UpdateNotificationPreferencesRequest>
    for billing_domain::notifications::PreferencesUpdate
{
    fn from(r: UpdateNotificationPreferencesRequest) -> Self {
        billing_domain::notifications::PreferencesUpdate {
            kinds: r.kinds,
            addresses: r.addresses,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use billing_domain::discounts::coupon::{CouponDuration, CouponTerms, CouponValue, Discount};
    use billing_domain::kernel::money::{Currency as Cur, Money};
    use billing_domain::subscriptions::{Cancellation, Pause};
    use chrono::TimeZone;
    use rust_decimal::Decimal;

    /// The API's answer and the events' `subscription` are the same JSON, field for field, with
    /// every optional part present and absent.
    #[test]
    fn the_api_shows_a_subscription_as_its_events_carry_it() {
        let at = Utc
            .with_ymd_and_hms(2026, 12, 7, 10, 0, 0)
            .single()
            .expect("time");
        let plan: billing_domain::kernel::ids::PlanId = "plan_premium_month".parse().expect("id");
        let full = Subscription {
            id: "sub_1f0e3dad99908345f7439f8f".parse().expect("id"),
            customer_id: "cus_979769ed49fc4069843eb071".parse().expect("id"),
            plan_id: plan.clone(),
            interval: period::Interval::Month,
            status: DStatus::PastDue,
            auto_renew: false,
            payment_method_id: Some("pm_card_visa".into()),
            billing_cycle_anchor: at,
            periods_elapsed: 2,
            current_period_start: at,
            current_period_end: at + chrono::Duration::days(31),
            trial_end: Some(at),
            cancel_at_period_end: true,
            canceled_at: Some(at),
            ended_at: Some(at),
            cancellation: Some(Cancellation {
                reason: Some(DReason::TooExpensive),
                comment: Some("later".into()),
            }),
            pause: Some(Pause {
                paused_at: at,
                resumes_at: Some(at),
            }),
            metadata: [("po".to_owned(), "PO-7".to_owned())].into(),
            exclusive: true,
            latest_invoice_id: Some("in_1def0af669964d5897006083".parse().expect("id")),
            next_payment_attempt: Some(at),
            scheduled_plan_id: Some(plan.clone()),
            pending_lines: Vec::new(),
            successor_plan_id: None,
            discount: Some(Discount {
                coupon: CouponTerms {
                    id: "coupon_spring25".parse().expect("id"),
                    name: "Spring".into(),
                    value: CouponValue::AmountOff(
                        Money::new(Decimal::new(500, 2), Cur::Usd).expect("money"),
                    ),
                    duration: CouponDuration::Repeating { periods: 3 },
                    applies_to_plans: [plan].into(),
                },
                promotion_code: Some("SPRING25".into()),
                start: at,
                end: Some(at),
            }),
            trial_reminder_sent: false,
            renewal_reminder_days: 7,
            reminded_period_end: None,
            events: Default::default(),
            as_stored: None,
            created_at: at,
            updated_at: at,
            version: 3,
        };
        let mut sparse = full.clone();
        sparse.payment_method_id = None;
        sparse.trial_end = None;
        sparse.canceled_at = None;
        sparse.ended_at = None;
        sparse.cancellation = None;
        sparse.pause = None;
        sparse.latest_invoice_id = None;
        sparse.next_payment_attempt = None;
        sparse.scheduled_plan_id = None;
        sparse.discount = None;
        for sub in [full, sparse] {
            let api = serde_json::to_value(SubscriptionResponse::from(&sub)).expect("json");
            let event = serde_json::to_value(SubscriptionObject::from(&sub)).expect("json");
            assert_eq!(api, event);
        }
    }
}
