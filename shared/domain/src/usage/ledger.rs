//! The unit ledger: promotional and top-up units granted, and what lapsed when a grant expired
//! unused. Written once each, with the change that causes it (a grant's write; the allocation
//! of the period at whose start a grant had expired).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::kernel::ids::{SubscriptionId, UnitGrantId};
use crate::usage::period::{AllowancePeriod, GrantBalance};
use crate::usage::Unit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerKind {
    /// Units granted (promotional, or bought as a top-up).
    Granted,
    /// What a grant had left when it expired: it stopped counting.
    Expired,
}

impl LedgerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LedgerKind::Granted => "granted",
            LedgerKind::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<LedgerKind> {
        match s {
            "granted" => Some(LedgerKind::Granted),
            "expired" => Some(LedgerKind::Expired),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    pub subscription_id: SubscriptionId,
    pub grant_id: UnitGrantId,
    pub kind: LedgerKind,
    pub unit: Unit,
    /// Granted units, or the units that lapsed (positive).
    pub units: Decimal,
    pub at: DateTime<Utc>,
    pub description: Option<String>,
}

impl LedgerEntry {
    pub fn granted(subscription: &SubscriptionId, id: &UnitGrantId, grant: &GrantBalance) -> Self {
        LedgerEntry {
            subscription_id: subscription.clone(),
            grant_id: id.clone(),
            kind: LedgerKind::Granted,
            unit: grant.unit,
            units: grant.units,
            at: grant.granted_at,
            description: grant.description.clone(),
        }
    }
}

impl AllowancePeriod {
    /// The grants of this period that expired by `at` with units left: what lapsed.
    pub fn lapsed_by(&self, at: DateTime<Utc>) -> Vec<LedgerEntry> {
        self.grants
            .iter()
            .filter(|(_, g)| !g.is_live(at) && g.left > Decimal::ZERO)
            .map(|(id, g)| LedgerEntry {
                subscription_id: self.subscription_id.clone(),
                grant_id: id.clone(),
                kind: LedgerKind::Expired,
                unit: g.unit,
                units: g.left,
                at: g.expires_at,
                description: g.description.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::testing::t0;
    use chrono::Duration;
    use rust_decimal_macros::dec;
    use std::collections::BTreeMap;

    #[test]
    fn only_grants_expired_with_units_left_lapse() {
        let grant = |left, days| GrantBalance {
            unit: Unit::Pages,
            units: dec!(100),
            left,
            expires_at: t0() + Duration::days(days),
            description: None,
            granted_at: t0(),
        };
        let mut grants = BTreeMap::new();
        grants.insert("ugr_spent".parse().expect("id"), grant(dec!(0), 10));
        grants.insert("ugr_lapsed".parse().expect("id"), grant(dec!(40), 10));
        grants.insert("ugr_live".parse().expect("id"), grant(dec!(40), 90));
        let period = AllowancePeriod {
            subscription_id: "sub_1".parse().expect("id"),
            customer_id: "cus_1".parse().expect("id"),
            plan_id: "plan_1".parse().expect("id"),
            currency: crate::kernel::money::Currency::Usd,
            start: t0(),
            end: t0() + Duration::days(30),
            units: BTreeMap::new(),
            grants,
            closed: true,
            ledger: Vec::new(),
        };
        let lapsed = period.lapsed_by(t0() + Duration::days(30));
        assert_eq!(lapsed.len(), 1);
        assert_eq!(lapsed[0].grant_id.as_str(), "ugr_lapsed");
        assert_eq!(lapsed[0].units, dec!(40));
        assert_eq!(lapsed[0].at, t0() + Duration::days(10));
    }
}
