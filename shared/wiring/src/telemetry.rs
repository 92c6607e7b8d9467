//! Logging: JSON lines in Lambda, readable text locally. `RUST_LOG` filters.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // A second init (tests, the local stack) is harmless: the first subscriber stays.
    let _ = if in_lambda {
        builder.json().without_time().try_init()
    } else {
        builder.try_init()
    };
}
