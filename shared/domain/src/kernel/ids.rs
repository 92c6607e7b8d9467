//! Typed, prefixed identifiers (`cus_…`, `sub_…`, `plan_…`), as Stripe spells them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "expected an id like {prefix}… (letters, digits and _ after the prefix, at most 64 characters)"
)]
pub struct IdError {
    pub prefix: &'static str,
}

macro_rules! prefixed_id {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new random id.
            pub fn generate() -> Self {
                let raw = uuid::Uuid::new_v4().simple().to_string();
                Self(format!("{}{}", $prefix, &raw[..24]))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let rest = s.strip_prefix($prefix).ok_or(IdError { prefix: $prefix })?;
                let valid = !rest.is_empty()
                    && s.len() <= 64
                    && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if valid {
                    Ok(Self(s.to_owned()))
                } else {
                    Err(IdError { prefix: $prefix })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                raw.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_id!(
    /// A customer (a company that subscribes).
    CustomerId,
    "cus_"
);
prefixed_id!(
    /// A subscription of one customer to one plan.
    SubscriptionId,
    "sub_"
);
prefixed_id!(
    /// A plan of the catalogue (tier × interval × price).
    PlanId,
    "plan_"
);

prefixed_id!(
    /// A usage record: units a subscription consumed ([`crate::usage`]).
    UsageRecordId,
    "ur_"
);

prefixed_id!(
    /// A grant of promotional units to a subscription.
    UnitGrantId,
    "ugr_"
);

prefixed_id!(
    /// An invoice: what a subscription owes for a period.
    InvoiceId,
    "in_"
);

prefixed_id!(
    /// A coupon: a discount operators define (`coupon_spring25`).
    CouponId,
    "coupon_"
);

prefixed_id!(
    /// A promotion code: a customer-facing code that redeems a coupon.
    PromotionCodeId,
    "promo_"
);

prefixed_id!(
    /// An operator's webhook endpoint.
    WebhookEndpointId,
    "we_"
);

prefixed_id!(
    /// One event's delivery to one webhook endpoint.
    WebhookDeliveryId,
    "whd_"
);

prefixed_id!(
    /// A product of the catalogue that can be stocked and pre-ordered.
    ProductId,
    "prod_"
);

prefixed_id!(
    /// A subscriber's pre-order of a product.
    PreorderId,
    "po_"
);

prefixed_id!(
    /// Stock asked of a product's supplier.
    PurchaseOrderId,
    "pur_"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_ids_carry_their_prefix_and_parse_back() {
        let id = SubscriptionId::generate();
        assert!(id.as_str().starts_with("sub_"));
        assert_eq!(id.as_str().len(), 28);
        assert_eq!(id.as_str().parse::<SubscriptionId>(), Ok(id));
    }

    #[test]
    fn ids_of_another_kind_are_refused() {
        assert!("cus_abc".parse::<SubscriptionId>().is_err());
        assert!("sub_".parse::<SubscriptionId>().is_err());
        assert!("sub_a-b".parse::<SubscriptionId>().is_err());
        assert!("plan_premium_month".parse::<PlanId>().is_ok());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".{0,80}") {
            let _ = s.parse::<CustomerId>();
        }
    }
}
