//! Billing intervals and calendar arithmetic for billing periods.
//!
//! Periods are computed from the billing cycle anchor, never from the previous period's end, as
//! Stripe does: a monthly subscription anchored on 31 January renews on the last day of February
//! and then on 31 March (not 28 March). Weekly periods are exact multiples of seven days.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Week,
    TwoWeeks,
    Month,
    Quarter,
    Year,
}

impl Interval {
    pub const ALL: [Interval; 5] = [
        Interval::Week,
        Interval::TwoWeeks,
        Interval::Month,
        Interval::Quarter,
        Interval::Year,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Interval::Week => "week",
            Interval::TwoWeeks => "two_weeks",
            Interval::Month => "month",
            Interval::Quarter => "quarter",
            Interval::Year => "year",
        }
    }

    /// The end of the `n`-th period after `anchor` (n = 1 is the end of the first period).
    /// `None` only when the date leaves chrono's range.
    pub fn nth_period_end(self, anchor: DateTime<Utc>, n: u32) -> Option<DateTime<Utc>> {
        match self {
            Interval::Week => anchor.checked_add_signed(Duration::weeks(i64::from(n))),
            Interval::TwoWeeks => anchor.checked_add_signed(Duration::weeks(2 * i64::from(n))),
            Interval::Month => anchor.checked_add_months(Months::new(n)),
            Interval::Quarter => anchor.checked_add_months(Months::new(n.checked_mul(3)?)),
            Interval::Year => anchor.checked_add_months(Months::new(n.checked_mul(12)?)),
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interval {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Interval::ALL
            .into_iter()
            .find(|i| i.as_str() == s)
            .ok_or(())
    }
}

/// A half-open billing period `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone};
    use proptest::prelude::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0)
            .single()
            .expect("valid date")
    }

    #[test]
    fn monthly_from_the_31st_clamps_then_recovers() {
        let anchor = at(2026, 1, 31);
        assert_eq!(
            Interval::Month.nth_period_end(anchor, 1),
            Some(at(2026, 2, 28))
        );
        assert_eq!(
            Interval::Month.nth_period_end(anchor, 2),
            Some(at(2026, 3, 31))
        );
        assert_eq!(
            Interval::Month.nth_period_end(anchor, 3),
            Some(at(2026, 4, 30))
        );
        // leap year
        assert_eq!(
            Interval::Month.nth_period_end(at(2028, 1, 31), 1),
            Some(at(2028, 2, 29))
        );
    }

    #[test]
    fn quarter_and_year_are_calendar_months() {
        assert_eq!(
            Interval::Quarter.nth_period_end(at(2026, 11, 30), 1),
            Some(at(2027, 2, 28))
        );
        assert_eq!(
            Interval::Year.nth_period_end(at(2028, 2, 29), 1),
            Some(at(2029, 2, 28))
        );
        assert_eq!(
            Interval::Year.nth_period_end(at(2028, 2, 29), 4),
            Some(at(2032, 2, 29))
        );
    }

    #[test]
    fn weeks_are_seven_days() {
        assert_eq!(
            Interval::Week.nth_period_end(at(2026, 12, 28), 1),
            Some(at(2027, 1, 4))
        );
        assert_eq!(
            Interval::TwoWeeks.nth_period_end(at(2026, 12, 28), 2),
            Some(at(2027, 1, 25))
        );
    }

    proptest! {
        #[test]
        fn monthly_periods_keep_the_anchor_day_when_the_month_has_it(
            y in 2000i32..2100, m in 1u32..=12, d in 1u32..=31, n in 1u32..240
        ) {
            prop_assume!(chrono::NaiveDate::from_ymd_opt(y, m, d).is_some());
            let anchor = at(y, m, d);
            let end = Interval::Month.nth_period_end(anchor, n).expect("in range");
            let months = (end.year() - y) * 12 + end.month() as i32 - m as i32;
            prop_assert_eq!(months, n as i32);
            prop_assert!(end.day() == d || (end.day() < d && (end + Duration::days(1)).day() == 1));
            prop_assert_eq!(end.time(), anchor.time());
        }

        #[test]
        fn period_ends_increase_strictly(
            y in 2000i32..2100, m in 1u32..=12, d in 1u32..=28, n in 0u32..100,
            interval in proptest::sample::select(Interval::ALL.to_vec())
        ) {
            let anchor = at(y, m, d);
            let a = interval.nth_period_end(anchor, n).expect("in range");
            let b = interval.nth_period_end(anchor, n + 1).expect("in range");
            prop_assert!(b > a);
        }
    }
}
