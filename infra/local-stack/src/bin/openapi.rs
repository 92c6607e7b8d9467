//! `openapi`: prints the OpenAPI document the API serves at `/api/v1/openapi.json` (what
//! `make test` lints with redocly and turns into a client).

use utoipa::OpenApi;

fn main() -> anyhow::Result<()> {
    let document = billing_api::openapi::ApiDoc::openapi().to_pretty_json()?;
    println!("{document}");
    Ok(())
}
