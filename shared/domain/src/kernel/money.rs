//! Money: a `rust_decimal::Decimal` amount with an explicit ISO 4217 currency.
//!
//! Rounding rule (the only one in the product): amounts are rounded to the currency's minor unit
//! with half away from zero ("commercial rounding": 0.005 USD becomes 0.01, -0.005 becomes -0.01),
//! in [`Money::round`]. Every `Money` value holds an amount already at the currency's minor unit;
//! intermediate results (rates, proration fractions) stay `Decimal` until they are rounded once.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// The rounding strategy applied by [`Money::round`].
pub const ROUNDING: RoundingStrategy = RoundingStrategy::MidpointAwayFromZero;

/// ISO 4217 currencies the product bills in, with their minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Currency {
    Usd,
    Eur,
    Gbp,
    Cad,
    Aud,
    Chf,
    Jpy,
}

impl Currency {
    /// All supported currencies.
    pub const ALL: [Currency; 7] = [
        Currency::Usd,
        Currency::Eur,
        Currency::Gbp,
        Currency::Cad,
        Currency::Aud,
        Currency::Chf,
        Currency::Jpy,
    ];

    /// The lowercase ISO 4217 code, as Stripe spells it.
    pub fn code(self) -> &'static str {
        match self {
            Currency::Usd => "usd",
            Currency::Eur => "eur",
            Currency::Gbp => "gbp",
            Currency::Cad => "cad",
            Currency::Aud => "aud",
            Currency::Chf => "chf",
            Currency::Jpy => "jpy",
        }
    }

    /// Number of decimal digits of the minor unit (cents: 2; yen: 0).
    pub fn minor_units(self) -> u32 {
        match self {
            Currency::Usd
            | Currency::Eur
            | Currency::Gbp
            | Currency::Cad
            | Currency::Aud
            | Currency::Chf => 2,
            Currency::Jpy => 0,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code().eq_ignore_ascii_case(s))
            .ok_or_else(|| MoneyError::UnknownCurrency(s.to_owned()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown or unsupported currency {0:?}")]
    UnknownCurrency(String),
    #[error("{amount} has more decimal places than {currency} allows ({minor_units})")]
    TooPrecise {
        amount: Decimal,
        currency: Currency,
        minor_units: u32,
    },
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount out of range")]
    Overflow,
    #[error("must be at most {MAX_MINOR_UNITS} minor units (what the payment processor takes)")]
    TooLarge,
    #[error("amount must not be negative")]
    Negative,
}

/// The largest amount taken from outside (a price, a coupon's amount off, a limit), in minor
/// units: the most Stripe charges at once (99,999,999, so $999,999.99). Every sum of such
/// amounts the service makes stays far inside what `Decimal` holds, and every money operation
/// is checked anyway.
pub const MAX_MINOR_UNITS: i64 = 99_999_999;

/// An amount of money in one currency, always at the currency's minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    amount: Decimal,
    currency: Currency,
}

impl Money {
    /// Exact construction: fails when `amount` has more decimals than the currency's minor unit.
    pub fn new(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let amount = amount.normalize();
        if amount.scale() > currency.minor_units() {
            return Err(MoneyError::TooPrecise {
                amount,
                currency,
                minor_units: currency.minor_units(),
            });
        }
        Ok(Self::at_minor_unit(amount, currency))
    }

    /// An amount from outside: exact ([`Money::new`]) and at most [`MAX_MINOR_UNITS`] either way.
    pub fn input(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let money = Self::new(amount, currency)?;
        match money.to_minor_units() {
            Ok(units) if units.checked_abs().is_some_and(|u| u <= MAX_MINOR_UNITS) => Ok(money),
            _ => Err(MoneyError::TooLarge),
        }
    }

    /// Construction from a computed amount, rounded once with [`ROUNDING`].
    pub fn round(amount: Decimal, currency: Currency) -> Self {
        Self::at_minor_unit(
            amount.round_dp_with_strategy(currency.minor_units(), ROUNDING),
            currency,
        )
    }

    pub fn zero(currency: Currency) -> Self {
        Self::at_minor_unit(Decimal::ZERO, currency)
    }

    fn at_minor_unit(mut amount: Decimal, currency: Currency) -> Self {
        amount.rescale(currency.minor_units());
        Self { amount, currency }
    }

    /// From integer minor units (what Stripe sends).
    pub fn from_minor_units(units: i64, currency: Currency) -> Self {
        Self::at_minor_unit(Decimal::new(units, currency.minor_units()), currency)
    }

    /// To integer minor units (what Stripe takes); fails rather than wraps.
    pub fn to_minor_units(&self) -> Result<i64, MoneyError> {
        let scaled = self
            .amount
            .checked_mul(Decimal::from(10i64.pow(self.currency.minor_units())))
            .ok_or(MoneyError::Overflow)?;
        i64::try_from(scaled).map_err(|_| MoneyError::Overflow)
    }

    pub fn amount(&self) -> Decimal {
        self.amount
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    pub fn is_negative(&self) -> bool {
        self.amount.is_sign_negative() && !self.amount.is_zero()
    }

    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let sum = self
            .amount
            .checked_add(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::at_minor_unit(sum, self.currency))
    }

    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let diff = self
            .amount
            .checked_sub(other.amount)
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::at_minor_unit(diff, self.currency))
    }

    /// `percent` per cent of this amount (e.g. 2.5 for a 2.5% discount), rounded once.
    pub fn percent(&self, percent: Decimal) -> Result<Money, MoneyError> {
        let share = self
            .amount
            .checked_mul(percent)
            .and_then(|v| v.checked_div(Decimal::ONE_HUNDRED))
            .ok_or(MoneyError::Overflow)?;
        Ok(Self::round(share, self.currency))
    }

    /// Splits into `parts` amounts that differ by at most one minor unit and add up exactly to
    /// this amount; the larger parts come first.
    pub fn split_evenly(&self, parts: u32) -> Result<Vec<Money>, MoneyError> {
        if parts == 0 {
            return Ok(Vec::new());
        }
        let minor = Decimal::new(1, self.currency.minor_units());
        let units = self
            .amount
            .checked_div(minor)
            .ok_or(MoneyError::Overflow)?
            .trunc();
        let n = Decimal::from(parts);
        let base = units.checked_div(n).ok_or(MoneyError::Overflow)?.trunc();
        let remainder = base
            .checked_mul(n)
            .and_then(|whole| units.checked_sub(whole))
            .ok_or(MoneyError::Overflow)?;
        (0..parts)
            .map(|i| {
                let extra = if Decimal::from(i) < remainder.abs() {
                    if remainder.is_sign_negative() {
                        -Decimal::ONE
                    } else {
                        Decimal::ONE
                    }
                } else {
                    Decimal::ZERO
                };
                let part = base
                    .checked_add(extra)
                    .and_then(|u| u.checked_mul(minor))
                    .ok_or(MoneyError::Overflow)?;
                Ok(Self::at_minor_unit(part, self.currency))
            })
            .collect()
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.amount, self.currency.code().to_uppercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn usd(amount: Decimal) -> Money {
        Money::new(amount, Currency::Usd).expect("valid usd")
    }

    #[test]
    fn amounts_render_at_the_minor_unit() {
        assert_eq!(usd(dec!(29.9)).amount().to_string(), "29.90");
        assert_eq!(usd(dec!(5000)).amount().to_string(), "5000.00");
        assert_eq!(
            Money::new(dec!(1500), Currency::Jpy)
                .expect("jpy")
                .amount()
                .to_string(),
            "1500"
        );
    }

    #[test]
    fn exact_construction_refuses_sub_cent_amounts() {
        assert!(matches!(
            Money::new(dec!(0.001), Currency::Usd),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(Money::new(dec!(10.5), Currency::Jpy).is_err());
        // trailing zeros are not extra precision
        assert!(Money::new(dec!(1.2300), Currency::Usd).is_ok());
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(
            Money::round(dec!(0.005), Currency::Usd).amount(),
            dec!(0.01)
        );
        assert_eq!(
            Money::round(dec!(0.015), Currency::Usd).amount(),
            dec!(0.02)
        );
        assert_eq!(
            Money::round(dec!(-0.005), Currency::Usd).amount(),
            dec!(-0.01)
        );
        assert_eq!(
            Money::round(dec!(0.0049), Currency::Usd).amount(),
            dec!(0.00)
        );
        assert_eq!(Money::round(dec!(2.5), Currency::Jpy).amount(), dec!(3));
    }

    #[test]
    fn tier_discount_is_rounded_once() {
        // 2.5% of 33.33 = 0.83325 -> 0.83
        assert_eq!(
            usd(dec!(33.33)).percent(dec!(2.5)).expect("ok"),
            usd(dec!(0.83))
        );
        // 7.5% of 0.10 = 0.0075 -> 0.01
        assert_eq!(
            usd(dec!(0.10)).percent(dec!(7.5)).expect("ok"),
            usd(dec!(0.01))
        );
    }

    #[test]
    fn minor_units_for_stripe() {
        assert_eq!(usd(dec!(79.99)).to_minor_units(), Ok(7999));
        assert_eq!(
            Money::new(dec!(1500), Currency::Jpy)
                .expect("jpy")
                .to_minor_units(),
            Ok(1500)
        );
        assert_eq!(
            Money::from_minor_units(2999, Currency::Usd),
            usd(dec!(29.99))
        );
        assert_eq!(
            Money::new(Decimal::MAX, Currency::Usd)
                .and_then(|m| m.split_evenly(3))
                .err(),
            Some(MoneyError::Overflow)
        );
        let huge = Money::new(Decimal::MAX, Currency::Usd);
        if let Ok(huge) = huge {
            assert_eq!(huge.to_minor_units(), Err(MoneyError::Overflow));
        }
    }

    #[test]
    fn currencies_never_mix() {
        let eur = Money::new(dec!(1), Currency::Eur).expect("eur");
        assert_eq!(
            usd(dec!(1)).checked_add(&eur),
            Err(MoneyError::CurrencyMismatch(Currency::Usd, Currency::Eur))
        );
        assert!(usd(dec!(1)).checked_sub(&eur).is_err());
    }

    #[test]
    fn currency_codes_parse_case_insensitively() {
        assert_eq!("USD".parse::<Currency>(), Ok(Currency::Usd));
        assert_eq!("jpy".parse::<Currency>(), Ok(Currency::Jpy));
        assert!("xxx".parse::<Currency>().is_err());
    }

    fn any_currency() -> impl Strategy<Value = Currency> {
        proptest::sample::select(Currency::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn split_parts_add_back_to_the_total(units in -10_000_000i64..10_000_000, parts in 1u32..400, currency in any_currency()) {
            let total = Money::from_minor_units(units, currency);
            let split = total.split_evenly(parts).expect("in range");
            prop_assert_eq!(split.len() as u32, parts);
            let mut sum = Money::zero(currency);
            for part in &split {
                sum = sum.checked_add(part).expect("same currency");
            }
            prop_assert_eq!(sum, total);
            let minor = Decimal::new(1, currency.minor_units());
            let max = split.iter().map(Money::amount).max().expect("non-empty");
            let min = split.iter().map(Money::amount).min().expect("non-empty");
            prop_assert!(max - min <= minor);
        }

        #[test]
        fn rounding_is_never_off_by_more_than_half_a_minor_unit(mantissa in -1_000_000_000_000i64..1_000_000_000_000, scale in 0u32..10, currency in any_currency()) {
            let exact = Decimal::new(mantissa, scale);
            let rounded = Money::round(exact, currency);
            let half = Decimal::new(5, currency.minor_units() + 1);
            prop_assert!((rounded.amount() - exact).abs() <= half);
            prop_assert!(rounded.amount().scale() == currency.minor_units());
        }

        #[test]
        fn minor_units_round_trip(units in proptest::num::i64::ANY.prop_map(|v| v / 1000), currency in any_currency()) {
            let money = Money::from_minor_units(units, currency);
            prop_assert_eq!(money.to_minor_units(), Ok(units));
        }

        #[test]
        fn addition_then_subtraction_is_identity(a in -1_000_000_000i64..1_000_000_000, b in -1_000_000_000i64..1_000_000_000, currency in any_currency()) {
            let a = Money::from_minor_units(a, currency);
            let b = Money::from_minor_units(b, currency);
            prop_assert_eq!(a.checked_add(&b).and_then(|s| s.checked_sub(&b)), Ok(a));
        }

        #[test]
        fn percent_of_an_amount_is_rounded_to_the_minor_unit(units in 0i64..100_000_000, pct in 0u32..=10_000) {
            let money = Money::from_minor_units(units, Currency::Usd);
            let pct = Decimal::new(i64::from(pct), 2);
            let share = money.percent(pct).expect("in range");
            let exact = money.amount() * pct / Decimal::ONE_HUNDRED;
            prop_assert!((share.amount() - exact).abs() <= Decimal::new(5, 3));
        }
    }

    #[test]
    fn amounts_from_outside_stop_at_what_the_processor_takes() {
        assert!(Money::input(dec!(999999.99), Currency::Usd).is_ok());
        assert!(Money::input(dec!(-999999.99), Currency::Usd).is_ok());
        for too_large in [
            dec!(1000000.00),
            Decimal::MAX,
            dec!(9999999999999999999999999999),
        ] {
            assert_eq!(
                Money::input(too_large, Currency::Usd),
                Err(MoneyError::TooLarge)
            );
        }
        assert_eq!(
            Money::input(dec!(99999999), Currency::Jpy).map(|m| m.amount()),
            Ok(dec!(99999999))
        );
        assert!(Money::input(dec!(100000000), Currency::Jpy).is_err());
    }
}
