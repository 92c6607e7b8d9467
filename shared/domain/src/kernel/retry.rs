//! Optimistic concurrency: every stored change is conditional on the version that was read.
//! When another writer came first, the change is read, decided and written again, a few times,
//! before the caller is told the thing is stale.

use crate::kernel::error::BillingError;
use crate::kernel::ports::StoreError;

/// How many times an update is read, decided and written before it gives up.
pub(crate) const CONFLICT_RETRIES: usize = 4;

/// How many times a change of a product's stock is tried: a product is the one item every
/// pre-order of it and every receipt writes, so many writers may meet there at once. Each lost
/// try means another writer's change was stored, so the tries needed grow with the writers
/// racing, never beyond them.
pub(crate) const STOCK_RETRIES: usize = 64;

/// What one try of an optimistic update came to.
pub(crate) enum Written<T> {
    /// Written (or nothing needed writing): the answer.
    Done(T),
    /// The conditional write lost to another writer: read and decide again.
    Conflict,
}

/// The outcome of a conditional write: `value` when it was written, [`Written::Conflict`] when
/// another writer came first, other store errors as they are.
pub(crate) fn written<T>(
    write: Result<(), StoreError>,
    value: T,
) -> Result<Written<T>, BillingError> {
    match write {
        Ok(()) => Ok(Written::Done(value)),
        Err(StoreError::VersionConflict) => Ok(Written::Conflict),
        Err(e) => Err(e.into()),
    }
}

/// Runs `$attempt` (a block that reads, decides and writes conditionally, answering
/// `Result<Written<T>, BillingError>`; `?` and `return` in it end the try) until it is not
/// beaten by another writer, at most [`CONFLICT_RETRIES`] times; then `$what` is stale. Only the
/// write's conflict, as the block reports it with [`written`], retries: any other error ends it.
/// (A macro, not a function over an async closure: the futures of an async closure that
/// borrows are not `Send` for every lifetime, and every caller must be `Send`.)
macro_rules! retry_on_conflict {
    ($what:expr, $attempt:block) => {
        $crate::kernel::retry::retry_on_conflict!(
            $what,
            tries = $crate::kernel::retry::CONFLICT_RETRIES,
            $attempt
        )
    };
    ($what:expr, tries = $tries:expr, $attempt:block) => {{
        let mut answer = Err($crate::kernel::error::BillingError::StaleVersion($what));
        for _ in 0..$tries {
            let attempt: Result<
                $crate::kernel::retry::Written<_>,
                $crate::kernel::error::BillingError,
            > = async { $attempt }.await;
            match attempt {
                Ok($crate::kernel::retry::Written::Done(value)) => {
                    answer = Ok(value);
                    break;
                }
                Ok($crate::kernel::retry::Written::Conflict) => continue,
                Err(e) => {
                    answer = Err(e);
                    break;
                }
            }
        }
        answer
    }};
}
pub(crate) use retry_on_conflict;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_conflicting_write_is_tried_again_then_reported_stale() {
        let mut tries = 0;
        let value = retry_on_conflict!("customer", {
            tries += 1;
            let write = if tries < 3 {
                Err(StoreError::VersionConflict)
            } else {
                Ok(())
            };
            written(write, tries)
        });
        assert_eq!(value.ok(), Some(3));

        let mut tries = 0;
        let stale = retry_on_conflict!("customer", {
            tries += 1;
            written(Err(StoreError::VersionConflict), ())
        });
        assert!(matches!(stale, Err(BillingError::StaleVersion("customer"))));
        assert_eq!(tries, CONFLICT_RETRIES);

        // Any other error ends it at once.
        let mut tries = 0;
        let failed = retry_on_conflict!("customer", {
            tries += 1;
            written(Err(StoreError::Unavailable("down".into())), ())
        });
        assert!(matches!(
            failed,
            Err(BillingError::Store(StoreError::Unavailable(_)))
        ));
        assert_eq!(tries, 1);
    }
}
