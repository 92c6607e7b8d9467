use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

#[tokio::test]
async fn a_customer_is_stored_with_its_business_details() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let created = app
        .call(
            Method::POST,
            "/api/v1/customers",
            &admin,
            Some(json!({
                "name": "Acme Wholesale",
                "email": "billing@acme.example",
                "company": {"legal_name": "Acme Wholesale Ltd", "tax_id": "GB123456789"},
                "billing_address": {"line1": "1 Market St", "city": "London", "postal_code": "EC1A 1AA", "country": "gb"},
                "payment_terms": "net_30",
                "metadata": {"crm_id": "42"}
            })),
        )
        .await
        .ok(201);
    let id = created.body["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("cus_"));
    let read = app
        .get(&format!("/api/v1/customers/{id}"), &admin)
        .await
        .ok(200);
    assert_eq!(read.body["company"]["tax_id"], "GB123456789");
    assert_eq!(read.body["billing_address"]["country"], "GB");
    assert_eq!(read.body["payment_terms"], "net_30");
    assert_eq!(read.body["metadata"]["crm_id"], "42");

    let patched = app
        .call(
            Method::PATCH,
            &format!("/api/v1/customers/{id}"),
            &admin,
            Some(json!({"email": "ap@acme.example", "billing_address": null, "metadata": {"crm_id": "", "tier": "gold"}})),
        )
        .await
        .ok(200);
    assert_eq!(patched.body["email"], "ap@acme.example");
    assert!(patched.body["billing_address"].is_null());
    assert_eq!(patched.body["metadata"], json!({"tier": "gold"}));
    assert_eq!(patched.body["company"]["legal_name"], "Acme Wholesale Ltd");
}

#[tokio::test]
async fn a_customer_updates_its_own_details() {
    let app = TestApp::spawn().await;
    let id = app.create_customer("Self Service").await;
    let token = app.customer_token(&id);
    let patched = app
        .call(
            Method::PATCH,
            &format!("/api/v1/customers/{id}"),
            &token,
            Some(json!({"name": "Self Service GmbH"})),
        )
        .await
        .ok(200);
    assert_eq!(patched.body["name"], "Self Service GmbH");
}

#[tokio::test]
async fn customers_list_newest_first_in_pages() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(app.create_customer(&format!("Customer {i}")).await);
    }
    let first = app.get("/api/v1/customers?limit=2", &admin).await.ok(200);
    let page: Vec<&str> = first.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(page, [ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(first.body["has_more"], true);
    let rest = app
        .get(
            &format!("/api/v1/customers?limit=2&starting_after={}", ids[1]),
            &admin,
        )
        .await
        .ok(200);
    let page: Vec<&str> = rest.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(page, [ids[0].as_str()]);
    assert_eq!(rest.body["has_more"], false);
}

#[tokio::test]
async fn health_and_openapi_are_public() {
    let app = TestApp::spawn().await;
    let health = app
        .raw(Method::GET, "/api/v1/health", None, None, &[])
        .await
        .ok(200);
    assert_eq!(health.body["status"], "ok");
    let doc = app
        .raw(Method::GET, "/api/v1/openapi.json", None, None, &[])
        .await
        .ok(200);
    assert!(doc.body["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1")));
    assert!(doc.body["paths"]["/api/v1/subscriptions/{id}/pause"]["put"].is_object());
}
