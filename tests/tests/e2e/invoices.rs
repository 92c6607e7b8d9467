//! Invoices in the store: one per subscription period whatever the retries, conditional updates,
//! newest-first lists.

use billing_domain::invoicing::InvoiceRepo;
use billing_domain::invoicing::{Invoice, InvoiceLine, InvoiceStatus, LineKind};
use billing_domain::kernel::ids::{CustomerId, SubscriptionId};
use billing_domain::kernel::money::{Currency, Money};
use billing_domain::kernel::page::PageRequest;
use billing_domain::kernel::period::{Interval, Period};
use billing_domain::kernel::ports::StoreError;
use chrono::{DateTime, TimeZone, Utc};
use futures::future::join_all;
use serde_json::json;

use crate::app::TestApp;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2027, 1, 31, 9, 0, 0)
        .single()
        .expect("date")
}

fn period(n: u32) -> Period {
    Period {
        start: Interval::Month.nth_period_end(start(), n).expect("date"),
        end: Interval::Month
            .nth_period_end(start(), n + 1)
            .expect("date"),
    }
}

fn renewal(sub: &SubscriptionId, n: u32) -> Invoice {
    let p = period(n);
    Invoice::draft(
        sub.clone(),
        "cus_invoiced".parse::<CustomerId>().expect("id"),
        Currency::Usd,
        p,
        vec![InvoiceLine {
            kind: LineKind::Subscription,
            description: "Premium (monthly)".into(),
            amount: Money::from_minor_units(7999, Currency::Usd),
            period: p,
        }],
        p.start,
    )
    .expect("valid")
}

#[tokio::test]
async fn a_period_is_invoiced_once_however_many_workers_race() {
    let app = TestApp::spawn().await;
    let sub = SubscriptionId::generate();
    let attempts: Vec<Invoice> = (0..6).map(|_| renewal(&sub, 1)).collect();
    let results = join_all(attempts.iter().map(|i| app.store.insert_invoice(i))).await;
    let won: Vec<usize> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(won.len(), 1, "{results:?}");
    assert!(results
        .iter()
        .all(|r| matches!(r, Ok(()) | Err(StoreError::AlreadyExists))));
    let stored = app
        .store
        .find_period_invoice(&sub, period(1).start)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored.id, attempts[won[0]].id);
    assert_eq!(
        stored.total(),
        Ok(Money::from_minor_units(7999, Currency::Usd))
    );
    // The period of February (28 days, from the 31 January anchor) is stored as computed.
    assert_eq!(stored.period, period(1));
    assert!(app
        .store
        .find_period_invoice(&sub, period(2).start)
        .await
        .expect("read")
        .is_none());
}

#[tokio::test]
async fn invoice_updates_are_conditional_on_the_version_read() {
    let app = TestApp::spawn().await;
    let sub = SubscriptionId::generate();
    let mut invoice = renewal(&sub, 0);
    app.store.insert_invoice(&invoice).await.expect("insert");
    let mut stale = invoice.clone();
    invoice.finalize(period(0).start).expect("finalize");
    invoice
        .record_payment(
            "pi_e2e",
            Money::from_minor_units(7999, Currency::Usd),
            period(0).start,
        )
        .expect("pay");
    app.store
        .update_invoice(&mut invoice)
        .await
        .expect("update");
    stale.void(period(0).start).expect("void in memory");
    assert!(matches!(
        app.store.update_invoice(&mut stale).await,
        Err(StoreError::VersionConflict)
    ));
    let stored = app
        .store
        .get_invoice(&invoice.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(stored.status, InvoiceStatus::Paid);
    assert_eq!(stored.amount_due(), Ok(Money::zero(Currency::Usd)));
    assert_eq!(stored.attempt_count, 1);
    assert_eq!(stored, invoice);
}

#[tokio::test]
async fn a_subscriptions_invoices_list_newest_first_in_pages() {
    let app = TestApp::spawn().await;
    let sub = SubscriptionId::generate();
    let mut ids = Vec::new();
    for n in 0..3 {
        let invoice = renewal(&sub, n);
        app.store.insert_invoice(&invoice).await.expect("insert");
        ids.push(invoice.id);
    }
    // Another subscription's invoice never shows up.
    app.store
        .insert_invoice(&renewal(&SubscriptionId::generate(), 0))
        .await
        .expect("insert");
    let first = app
        .store
        .list_invoices(
            &sub,
            &PageRequest {
                limit: 2,
                starting_after: None,
            },
        )
        .await
        .expect("list");
    assert_eq!(
        first.data.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        [ids[2].clone(), ids[1].clone()]
    );
    assert!(first.has_more);
    let rest = app
        .store
        .list_invoices(
            &sub,
            &PageRequest {
                limit: 2,
                starting_after: Some(ids[1].to_string()),
            },
        )
        .await
        .expect("list");
    assert_eq!(
        rest.data.iter().map(|i| i.id.clone()).collect::<Vec<_>>(),
        [ids[0].clone()]
    );
    assert!(!rest.has_more);
}

/// A customer subscribed through the API (which invoiced the first period), with an invoice
/// for the second period stored beside it.
async fn invoiced_customer(app: &TestApp, name: &str) -> (String, String, Invoice) {
    let customer = app.create_customer(name).await;
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_premium_month")
        .await
        .ok(201);
    let sub_id: SubscriptionId = sub.body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("sub id");
    let start: DateTime<Utc> = sub.body["current_period_end"]
        .as_str()
        .expect("end")
        .parse()
        .expect("time");
    let p = Period {
        start,
        end: Interval::Month.nth_period_end(start, 1).expect("date"),
    };
    let mut invoice = Invoice::draft(
        sub_id.clone(),
        customer.parse().expect("customer id"),
        Currency::Usd,
        p,
        vec![
            InvoiceLine {
                kind: LineKind::Subscription,
                description: "Premium (monthly)".into(),
                amount: Money::from_minor_units(7999, Currency::Usd),
                period: p,
            },
            InvoiceLine {
                kind: LineKind::Discount,
                description: "WELCOME10".into(),
                amount: Money::from_minor_units(-800, Currency::Usd),
                period: p,
            },
        ],
        p.start,
    )
    .expect("valid");
    invoice.finalize(p.start).expect("finalize");
    app.store.insert_invoice(&invoice).await.expect("insert");
    (customer, sub_id.to_string(), invoice)
}

#[tokio::test]
async fn invoices_are_read_with_lines_and_totals_that_add_up() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let (_, sub, invoice) = invoiced_customer(&app, "Invoiced").await;
    let listed = app
        .get(&format!("/api/v1/subscriptions/{sub}/invoices"), &admin)
        .await
        .ok(200);
    // The first period's invoice, paid at subscription, and the stored one, newest first.
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(listed.body["data"][0]["id"], invoice.id.to_string());
    assert_eq!(listed.body["data"][1]["status"], "paid");
    assert_eq!(listed.body["data"][1]["amount_paid"], "79.99");
    assert_eq!(listed.body["has_more"], false);
    let read = app
        .get(&format!("/api/v1/invoices/{}", invoice.id), &admin)
        .await
        .ok(200);
    let body = &read.body;
    assert_eq!(body["status"], "open");
    assert_eq!(body["currency"], "usd");
    assert_eq!(
        (
            body["subtotal"].as_str(),
            body["discount"].as_str(),
            body["total"].as_str()
        ),
        (Some("79.99"), Some("8.00"), Some("71.99"))
    );
    assert_eq!(
        (body["amount_due"].as_str(), body["amount_paid"].as_str()),
        (Some("71.99"), Some("0.00"))
    );
    assert_eq!(body["lines"][1]["kind"], "discount");
    assert_eq!(body["lines"][1]["amount"], "-8.00");
    assert_eq!(body["subscription_id"], sub.as_str());
}

#[tokio::test]
async fn a_customer_reads_only_its_own_invoices() {
    let app = TestApp::spawn().await;
    let (a, sub_a, invoice_a) = invoiced_customer(&app, "Alpha").await;
    let (_, sub_b, invoice_b) = invoiced_customer(&app, "Beta").await;
    let token_a = app.customer_token(&a);
    app.get(&format!("/api/v1/invoices/{}", invoice_a.id), &token_a)
        .await
        .ok(200);
    app.get(&format!("/api/v1/subscriptions/{sub_a}/invoices"), &token_a)
        .await
        .ok(200);
    app.get(&format!("/api/v1/invoices/{}", invoice_b.id), &token_a)
        .await
        .problem(404);
    app.get(&format!("/api/v1/subscriptions/{sub_b}/invoices"), &token_a)
        .await
        .problem(404);
    app.get("/api/v1/invoices/in_missing", &app.admin())
        .await
        .problem(404);
    let bad_cursor = app
        .get(
            &format!(
                "/api/v1/subscriptions/{sub_a}/invoices?starting_after={}",
                invoice_b.id
            ),
            &app.admin(),
        )
        .await
        .problem(422);
    assert_eq!(bad_cursor.fields(), ["starting_after"]);
}

#[tokio::test]
async fn the_revenue_report_nets_refunds_per_month_and_per_plan() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("Revenue").await;
    let admin = app.admin();
    let premium = app
        .subscribe(&admin, &customer, "plan_premium_month")
        .await
        .ok(201)
        .body;
    app.subscribe(&admin, &customer, "plan_pages_1000_month")
        .await
        .ok(201);
    let invoice = premium["latest_invoice_id"].as_str().expect("invoice");
    app.refund(
        invoice,
        json!({"amount": "9.99", "reason": "requested_by_customer"}),
    )
    .await
    .ok(201);
    let today = chrono::Utc::now().date_naive();
    let path = |group: &str| {
        format!(
            "/api/v1/reports/revenue?from={}&to={}&group_by={group}",
            today - chrono::Duration::days(1),
            today + chrono::Duration::days(1)
        )
    };
    app.get(&path("plan"), &app.customer_token(&customer))
        .await
        .problem(403);
    let by_plan = app.get(&path("plan"), &admin).await.ok(200).body;
    assert_eq!(
        by_plan["data"],
        json!([
            {"month": null, "plan_id": "plan_pages_1000_month", "currency": "usd",
             "paid": "50.00", "refunded": "0.00", "net": "50.00"},
            {"month": null, "plan_id": "plan_premium_month", "currency": "usd",
             "paid": "79.99", "refunded": "9.99", "net": "70.00"}
        ])
    );
    assert_eq!(by_plan["totals"][0]["net"], "120.00");
    let by_month = app.get(&path("month"), &admin).await.ok(200).body;
    let cents: i64 = by_month["data"]
        .as_array()
        .expect("rows")
        .iter()
        .filter_map(|r| {
            r["net"]
                .as_str()
                .and_then(|n| n.replace('.', "").parse::<i64>().ok())
        })
        .sum();
    assert_eq!(cents, 12_000);
    app.get("/api/v1/reports/revenue?group_by=tier", &admin)
        .await
        .problem(422);
}
