//! `mint-token admin` or `mint-token customer cus_...`: prints a local HS256 token (24 h) signed
//! with `JWT_SECRET`.

use std::env;

fn main() -> anyhow::Result<()> {
    let mut args = env::args().skip(1);
    let role = args.next().unwrap_or_else(|| "admin".into());
    let customer_id = args.next();
    let secret = env::var("JWT_SECRET").unwrap_or_else(|_| "local-dev-secret".into());
    let sub = match &customer_id {
        Some(id) => format!("user-{id}"),
        None => format!("local-{role}"),
    };
    let now = chrono::Utc::now().timestamp();
    let token = local_stack::token::mint(
        &secret,
        &sub,
        &[role.as_str()],
        customer_id.as_deref(),
        now,
        86_400,
    )?;
    println!("{token}");
    Ok(())
}
