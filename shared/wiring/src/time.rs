//! Where "now" comes from: the system clock when deployed, or the test clock stored in the
//! table (local stack and tests), which every function and process then reads alike.

use billing_domain::kernel::clock::Clock;
use billing_domain::kernel::ports::StoreError;
use billing_store_dynamodb::DynamoStore;
use chrono::{DateTime, SubsecRound, Utc};

/// The real clock, for deployed functions.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    pub fn now_utc() -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}

impl Clock for SystemClock {
    /// Microsecond precision: what the store keeps, so an answer and a later read agree.
    fn now(&self) -> DateTime<Utc> {
        SystemClock::now_utc()
    }
}

#[derive(Clone, Debug)]
pub enum TimeSource {
    System,
    /// The test clock in this store's table. It starts at the system time when first read and
    /// then moves only when advanced.
    TestClock(DynamoStore),
}

impl TimeSource {
    pub fn is_test_clock(&self) -> bool {
        matches!(self, TimeSource::TestClock(_))
    }

    pub async fn now(&self) -> Result<DateTime<Utc>, StoreError> {
        match self {
            TimeSource::System => Ok(SystemClock.now()),
            TimeSource::TestClock(store) => match store.test_clock().await? {
                Some(now) => Ok(now),
                None => {
                    store.set_test_clock(SystemClock.now()).await?;
                    store
                        .test_clock()
                        .await?
                        .ok_or_else(|| StoreError::Corrupt("the test clock was not stored".into()))
                }
            },
        }
    }
}
