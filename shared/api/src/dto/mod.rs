//! The JSON contract: request and response bodies, with their OpenAPI schemas, a file per
//! resource as `routes/` has them (plans, products, pre-orders, customers, subscriptions, invoices, coupons,
//! notifications, webhooks, test clock, meta). Here: the contract's enums and what the files
//! share. Money is a decimal string next to a `currency`; times are RFC 3339 UTC; lists are
//! `{"data": [...], "has_more": bool}`.

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

pub mod coupons;
mod customers;
mod invoices;
mod meta;
mod notifications;
mod plans;
pub mod preorders;
pub mod products;
mod subscriptions;
mod test_clock;
pub mod usage;
pub mod webhooks;

pub use customers::*;
pub use invoices::*;
pub use meta::*;
pub use notifications::*;
pub use plans::*;
pub use subscriptions::*;
pub use test_clock::*;
pub use webhooks::WebhookAck;

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
    SubscriptionUpdate = "subscription_update", Preorder = "preorder", TopUp = "top_up",
    SubscriptionFinal = "subscription_final",
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
api_enum!(LineKind => DLineKind { Subscription = "subscription", Proration = "proration", Discount = "discount", Product = "product", Usage = "usage" });

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
