//! End-to-end tests: HTTP through the local gateway (API Gateway events) into the handlers, and
//! the real AWS SDK against the emulator started by `make test` (infra/scripts/emulator.sh).
//! A missing emulator fails these tests loudly; they never skip.

mod access;
mod app;
mod auth;
mod bad_input;
mod billing;
mod concurrency;
mod coupons;
mod credit;
mod customers;
mod events;
mod idempotency;
mod invoices;
mod notifications;
mod plan_changes;
mod plans;
mod preorders;
mod products;
mod recurring_items;
mod stripe_events;
mod subscriptions;
mod template;
mod tracked_products;
mod usage;
mod webhooks;
