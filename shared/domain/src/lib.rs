//! The billing domain: money, the plan catalogue, customers and subscriptions, and the ports
//! (repositories, clock) through which the outside world is reached, in one folder per
//! capability.
//!
//! This crate must not depend on AWS, HTTP, Stripe or any runtime, and must never read the system
//! clock: time comes in through [`kernel::clock::Clock`] or a `now` argument.

pub mod catalogue;
pub mod collection;
pub mod customers;
pub mod discounts;
pub mod events;
pub mod inventory;
pub mod invoicing;
pub mod kernel;
pub mod notifications;
pub mod preorders;
pub mod stripe_events;
pub mod subscriptions;
pub mod usage;
pub mod webhooks;

pub use kernel::error::BillingError;
