//! The billing domain: money, the plan catalogue, customers and subscriptions, and the ports
//! (repositories, clock) through which the outside world is reached.
//!
//! This crate must not depend on AWS, HTTP, Stripe or any runtime, and must never read the system
//! clock: time comes in through [`clock::Clock`] or a `now` argument.

pub mod access;
pub mod catalogue;
pub mod clock;
pub mod collection;
pub mod coupon;
pub mod credit;
pub mod customer;
pub mod discounts;
pub mod dunning;
pub mod error;
pub mod events;
pub mod ids;
pub mod invoice;
pub mod money;
pub mod notifications;
pub mod page;
pub mod payments;
pub mod period;
pub mod plan_change;
pub mod ports;
pub mod processor_reports;
pub mod proration;
pub mod refunds;
pub mod service;
pub mod subscription;
pub mod subscription_object;
pub mod validation;
pub mod webhooks;

#[cfg(test)]
pub(crate) mod testing;

pub use error::BillingError;
