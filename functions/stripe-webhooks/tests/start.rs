//! The deployed function refuses to start without its signing secret: run as Lambda would run
//! it, outside the local stack, it exits at once naming the variable (and never takes an event
//! checked with an empty key).

use std::process::Command;

fn start(extra: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stripe-webhooks"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_REGION", "us-east-1")
        .env("JWT_SECRET", "test-secret")
        .env("JWT_ISSUER", "https://issuer.example")
        .env("JWT_AUDIENCE", "billing");
    for (name, value) in extra {
        command.env(name, value);
    }
    let out = command.output().expect("the function runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn without_stripe_webhook_secret_outside_the_local_stack_the_function_does_not_start() {
    for unset in [vec![], vec![("STRIPE_WEBHOOK_SECRET", "  ")]] {
        let (started, stderr) = start(&unset);
        assert!(!started, "it started without a secret");
        assert!(stderr.contains("STRIPE_WEBHOOK_SECRET"), "{stderr}");
    }
}
