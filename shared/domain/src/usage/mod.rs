//! Metered allowances: plans include units per period (pages, words, characters, tokens);
//! each period of a subscription gets an allowance period holding counters (never a list of
//! records); usage records take units from promotional grants and the included units, within a
//! hard limit or past a soft one (overage, billed on the next invoice). Rules: docs/usage.md.
//!
//! ```text
//!  subscribe ──► allowance period 1 (included, + promotional grants)
//!  renewal   ──► period n closed (its overage becomes a `usage` line on the renewal invoice)
//!                period n+1 allocated (included + rollover, unexpired grants carried)
//! ```

mod closing;
pub mod ledger;
pub mod period;
pub mod record;
mod recording;
mod repo;
mod reports;
mod topups;

pub use ledger::{LedgerEntry, LedgerKind};
pub use period::{AllowancePeriod, GrantBalance, UnitBalance};
pub use record::{
    Breakdown, Consumption, IncludedGuard, UsageRecord, UsageRecordStatus, UsageRequest,
    ALERT_THRESHOLDS,
};
pub use recording::{Entitlement, UnitGrantRequest, UsageSummary};
pub use repo::{ConsumptionRefusal, DailyUsage, UsageRepo};
pub use reports::MAX_REPORT_DAYS;
pub use topups::{TopUp, TopUpRequest, TOP_UP_VALID_DAYS};

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::kernel::validation::FieldError;

/// What an allowance counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    Pages,
    Words,
    Characters,
    Tokens,
}

impl Unit {
    pub const ALL: [Unit; 4] = [Unit::Pages, Unit::Words, Unit::Characters, Unit::Tokens];

    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Pages => "pages",
            Unit::Words => "words",
            Unit::Characters => "characters",
            Unit::Tokens => "tokens",
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Unit {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Unit::ALL.into_iter().find(|u| u.as_str() == s).ok_or(())
    }
}

/// What happens when a period's units run out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllowanceLimit {
    /// Usage past the balance is refused (`allowance_exhausted`).
    Hard,
    /// Usage past the balance is recorded as overage and billed on the next invoice.
    Soft,
}

impl AllowanceLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            AllowanceLimit::Hard => "hard",
            AllowanceLimit::Soft => "soft",
        }
    }

    pub fn parse(s: &str) -> Option<AllowanceLimit> {
        match s {
            "hard" => Some(AllowanceLimit::Hard),
            "soft" => Some(AllowanceLimit::Soft),
            _ => None,
        }
    }
}

/// Units of one kind a plan includes each period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowance {
    pub unit: Unit,
    /// Included each period (for a one-off bundle: once).
    pub included: Decimal,
    pub limit: AllowanceLimit,
    /// Price of one unit past the balance, in the plan's currency (soft limits); `None`: overage
    /// is counted and not charged.
    pub overage_unit_price: Option<Decimal>,
    /// Unused included units carried into the next period, at most this many; `None`: none.
    pub rollover_max: Option<Decimal>,
    /// Price of one unit bought as a top-up, in the plan's currency; `None`: no top-ups of this
    /// unit.
    pub top_up_unit_price: Option<Decimal>,
}

/// Most decimal places a count of units has.
pub const UNIT_SCALE: u32 = 6;
/// Most decimal places of a price per unit.
pub const UNIT_PRICE_SCALE: u32 = 6;
/// The largest count of units anywhere (a quadrillion).
pub const MAX_UNITS: Decimal = Decimal::from_parts(0xA4C6_8000, 0x3_8D7E, 0, false, 0);

/// A count of units: from 0 (or above it, when `positive`) to [`MAX_UNITS`], with at most
/// [`UNIT_SCALE`] decimal places.
pub fn check_units(field: &str, value: Decimal, positive: bool) -> Result<Decimal, FieldError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(FieldError::new(field, "must not be negative"));
    }
    if positive && value.is_zero() {
        return Err(FieldError::new(field, "must be greater than 0"));
    }
    if value > MAX_UNITS {
        return Err(FieldError::new(field, "must be at most 1000000000000000"));
    }
    let value = value.normalize();
    if value.scale() > UNIT_SCALE {
        return Err(FieldError::new(
            field,
            format!("at most {UNIT_SCALE} decimal places"),
        ));
    }
    Ok(value)
}

/// A price per unit: from 0 to 1,000,000 with at most [`UNIT_PRICE_SCALE`] decimal places.
fn check_unit_price(field: &str, price: Decimal) -> Result<(), FieldError> {
    if price.is_sign_negative() && !price.is_zero() {
        return Err(FieldError::new(field, "must not be negative"));
    }
    if price.normalize().scale() > UNIT_PRICE_SCALE || price > Decimal::from(1_000_000) {
        return Err(FieldError::new(
            field,
            format!("at most 1000000, with at most {UNIT_PRICE_SCALE} decimal places"),
        ));
    }
    Ok(())
}

/// Checks a plan's allowances: each unit once, counts and prices in range.
pub fn validate_allowances(allowances: &[Allowance]) -> Vec<FieldError> {
    let mut errors = Vec::new();
    for (n, a) in allowances.iter().enumerate() {
        let at = |f: &str| format!("allowances[{n}].{f}");
        if allowances[..n].iter().any(|b| b.unit == a.unit) {
            errors.push(FieldError::new(at("unit"), "each unit once"));
        }
        if let Err(e) = check_units(&at("included"), a.included, false) {
            errors.push(e);
        }
        if let Some(max) = a.rollover_max {
            if let Err(e) = check_units(&at("rollover.max"), max, false) {
                errors.push(e);
            }
        }
        if let Some(price) = a.overage_unit_price {
            if price.is_sign_negative() && !price.is_zero() {
                errors.push(FieldError::new(
                    at("overage_unit_price"),
                    "must not be negative",
                ));
            } else if price.normalize().scale() > UNIT_PRICE_SCALE
                || price > Decimal::from(1_000_000)
            {
                errors.push(FieldError::new(
                    at("overage_unit_price"),
                    format!("at most 1000000, with at most {UNIT_PRICE_SCALE} decimal places"),
                ));
            }
            if a.limit == AllowanceLimit::Hard {
                errors.push(FieldError::new(
                    at("overage_unit_price"),
                    "a hard limit has no overage; leave it null",
                ));
            }
        }
        if let Some(price) = a.top_up_unit_price {
            if let Err(e) = check_unit_price(&at("top_up_unit_price"), price) {
                errors.push(e);
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn max_units_is_a_quadrillion() {
        assert_eq!(MAX_UNITS, dec!(1000000000000000));
    }

    #[test]
    fn units_are_checked() {
        assert_eq!(check_units("u", dec!(10.500), true), Ok(dec!(10.5)));
        assert!(check_units("u", dec!(0), true).is_err());
        assert!(check_units("u", dec!(0), false).is_ok());
        assert!(check_units("u", dec!(-1), false).is_err());
        assert!(check_units("u", dec!(0.0000001), true).is_err());
        assert!(check_units("u", dec!(1000000000000001), true).is_err());
    }

    #[test]
    fn allowances_report_each_bad_field() {
        let a = Allowance {
            unit: Unit::Pages,
            included: dec!(-1),
            limit: AllowanceLimit::Hard,
            overage_unit_price: Some(dec!(0.01)),
            rollover_max: None,
            top_up_unit_price: None,
        };
        let errors = validate_allowances(&[
            a.clone(),
            Allowance {
                included: dec!(5),
                ..a
            },
        ]);
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "allowances[0].included",
                "allowances[0].overage_unit_price",
                "allowances[1].unit",
                "allowances[1].overage_unit_price"
            ]
        );
    }
}
