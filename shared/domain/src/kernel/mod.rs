//! What every capability uses: money and currencies, billing periods, ids, the clock, pages of
//! lists, input validation, errors, who is acting, the repository ports and the `Billing`
//! service that holds them.

pub mod access;
pub mod clock;
pub mod error;
pub mod ids;
pub mod money;
pub mod page;
pub mod period;
pub mod ports;
pub(crate) mod retry;
pub mod service;
pub mod validation;

#[cfg(test)]
pub(crate) mod testing;
