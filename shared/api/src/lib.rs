//! The HTTP API: API Gateway (HTTP API, payload 2.0) requests in, JSON or problem+json out.
//!
//! Owns authentication, the route table shared by the functions, the local gateway and
//! `template.yaml`, the JSON contract, idempotency keys and the OpenAPI document. Business rules
//! live in `billing-domain`; this crate only parses, authorizes, calls the domain and encodes.

pub mod auth;
pub mod config;
pub mod dto;
mod idempotency;
pub mod openapi;
pub mod problem;
pub mod request;
pub mod routes;
pub mod state;
pub mod telemetry;

pub use routes::{handle, match_route, Endpoint, Function, Route, ROUTES};
pub use state::AppState;
