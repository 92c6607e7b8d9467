//! Proration by the second, as Stripe does it: when a plan changes at `at` inside the period
//! `[start, end)`, the customer gets a credit for the unused time of the old price and a charge
//! for the remaining time of the new price. Each line is rounded once (see [`crate::kernel::money`]), so
//! the net amount is within one minor unit of the exact difference.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::kernel::money::{Money, MoneyError};
use crate::kernel::period::Period;

/// The two lines of a prorated plan change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proration {
    /// Credit for the unused time on the old price (zero or negative).
    pub credit: Money,
    /// Charge for the remaining time on the new price (zero or positive).
    pub charge: Money,
    /// The part of the period still to run, `[at, end)`.
    pub remaining: Period,
}

impl Proration {
    /// `charge + credit`: positive for an upgrade (charged now), negative for a downgrade
    /// (credited to the next invoice).
    pub fn net(&self) -> Result<Money, MoneyError> {
        self.charge.checked_add(&self.credit)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProrationError {
    #[error("the change time is outside the period")]
    OutsidePeriod,
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// The unused share of `period` at `at`, in seconds: `(end - at) / (end - start)`.
pub fn unused_fraction(period: Period, at: DateTime<Utc>) -> Result<Decimal, ProrationError> {
    if at < period.start || at > period.end || period.end <= period.start {
        return Err(ProrationError::OutsidePeriod);
    }
    let total = (period.end - period.start).num_seconds();
    let remaining = (period.end - at).num_seconds();
    Decimal::from(remaining)
        .checked_div(Decimal::from(total))
        .ok_or(ProrationError::Money(MoneyError::Overflow))
}

/// Prorates a change from `old_price` to `new_price` at `at` within `period`.
pub fn prorate(
    old_price: Money,
    new_price: Money,
    period: Period,
    at: DateTime<Utc>,
) -> Result<Proration, ProrationError> {
    if old_price.currency() != new_price.currency() {
        return Err(
            MoneyError::CurrencyMismatch(old_price.currency(), new_price.currency()).into(),
        );
    }
    let fraction = unused_fraction(period, at)?;
    let share = |price: Money| -> Result<Money, ProrationError> {
        let exact = price
            .amount()
            .checked_mul(fraction)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::round(exact, price.currency()))
    };
    let credit = Money::zero(old_price.currency()).checked_sub(&share(old_price)?)?;
    Ok(Proration {
        credit,
        charge: share(new_price)?,
        remaining: Period {
            start: at,
            end: period.end,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::money::Currency;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn usd(v: Decimal) -> Money {
        Money::new(v, Currency::Usd).expect("usd")
    }

    fn november() -> Period {
        Period {
            start: Utc
                .with_ymd_and_hms(2026, 11, 1, 0, 0, 0)
                .single()
                .expect("date"),
            end: Utc
                .with_ymd_and_hms(2026, 12, 1, 0, 0, 0)
                .single()
                .expect("date"),
        }
    }

    #[test]
    fn basic_to_premium_on_day_10_of_a_30_day_month_is_charged_to_the_cent() {
        let p = november();
        let at = p.start + Duration::days(10);
        let proration = prorate(usd(dec!(29.99)), usd(dec!(79.99)), p, at).expect("prorates");
        // 20 of 30 days remain: credit 29.99 × 2/3 = 19.9933… → 19.99; charge 79.99 × 2/3 = 53.3266… → 53.33
        assert_eq!(proration.credit, usd(dec!(-19.99)));
        assert_eq!(proration.charge, usd(dec!(53.33)));
        assert_eq!(proration.net(), Ok(usd(dec!(33.34))));
        assert_eq!(
            proration.remaining,
            Period {
                start: at,
                end: p.end
            }
        );
    }

    #[test]
    fn a_downgrade_nets_a_credit() {
        let p = november();
        let proration = prorate(
            usd(dec!(199.99)),
            usd(dec!(79.99)),
            p,
            p.start + Duration::days(15),
        )
        .expect("prorates");
        assert!(proration.net().expect("same currency").is_negative());
    }

    #[test]
    fn changes_at_the_edges_and_outside() {
        let p = november();
        let at_start = prorate(usd(dec!(10)), usd(dec!(20)), p, p.start).expect("ok");
        assert_eq!(
            (at_start.credit, at_start.charge),
            (usd(dec!(-10)), usd(dec!(20)))
        );
        let at_end = prorate(usd(dec!(10)), usd(dec!(20)), p, p.end).expect("ok");
        assert_eq!(at_end.net(), Ok(usd(dec!(0))));
        assert_eq!(
            prorate(
                usd(dec!(10)),
                usd(dec!(20)),
                p,
                p.end + Duration::seconds(1)
            ),
            Err(ProrationError::OutsidePeriod)
        );
        let eur = Money::new(dec!(20), Currency::Eur).expect("eur");
        assert!(prorate(usd(dec!(10)), eur, p, p.start).is_err());
    }

    proptest! {
        #[test]
        fn the_net_is_within_one_minor_unit_of_the_exact_difference(
            old in 0i64..1_000_000, new in 0i64..1_000_000, elapsed in 0i64..=2_592_000
        ) {
            let p = november();
            let at = p.start + Duration::seconds(elapsed);
            let old = Money::from_minor_units(old, Currency::Usd);
            let new = Money::from_minor_units(new, Currency::Usd);
            let proration = prorate(old, new, p, at).expect("prorates");
            let fraction = unused_fraction(p, at).expect("inside");
            let exact = (new.amount() - old.amount()) * fraction;
            let net = proration.net().expect("same currency").amount();
            prop_assert!((net - exact).abs() <= dec!(0.01), "net {} exact {}", net, exact);
            prop_assert!(!proration.credit.amount().is_sign_positive() || proration.credit.amount().is_zero());
            prop_assert!(proration.credit.amount().abs() <= old.amount());
            prop_assert!(proration.charge.amount() <= new.amount());
        }
    }
}
