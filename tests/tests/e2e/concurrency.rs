//! Optimistic concurrency: concurrent updates never lose one another.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::app::TestApp;

#[tokio::test]
async fn two_concurrent_updates_from_the_same_version_one_wins_the_other_gets_409() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let customer = app.create_customer("Racy").await;
    let sub = app
        .subscribe(&admin, &customer, "plan_premium_month")
        .await
        .ok(201);
    let id = sub.body["id"].as_str().expect("id");
    let etag = sub.etag.clone().expect("etag");
    let path = format!("/api/v1/subscriptions/{id}");
    let left = json!({"metadata": {"writer": "left"}}).to_string();
    let right = json!({"metadata": {"writer": "right"}}).to_string();
    let if_match = [("if-match", etag.as_str())];
    let (a, b) = tokio::join!(
        app.raw(Method::PATCH, &path, Some(&admin), Some(left), &if_match),
        app.raw(Method::PATCH, &path, Some(&admin), Some(right), &if_match),
    );
    let mut statuses = [a.status.as_u16(), b.status.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let winner = if a.status.as_u16() == 200 { &a } else { &b };
    let stored = app.get(&path, &admin).await.ok(200);
    assert_eq!(
        stored.body["metadata"]["writer"],
        winner.body["metadata"]["writer"]
    );
}

#[tokio::test]
async fn many_concurrent_updates_lose_nothing_that_was_acknowledged() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let customer = app.create_customer("Busy").await;
    let sub = app
        .subscribe(&admin, &customer, "plan_premium_month")
        .await
        .ok(201);
    let id = sub.body["id"].as_str().expect("id");
    let first_version: usize = sub
        .etag
        .as_deref()
        .map(|e| e.trim_matches('"').parse().expect("numeric etag"))
        .expect("etag");
    let path = format!("/api/v1/subscriptions/{id}");
    let answers = join_all((0..12).map(|i| {
        app.call(
            Method::PATCH,
            &path,
            &admin,
            Some(json!({"metadata": {format!("k{i}"): "v"}})),
        )
    }))
    .await;
    let mut acknowledged = Vec::new();
    for (i, answer) in answers.iter().enumerate() {
        match answer.status.as_u16() {
            200 => acknowledged.push(format!("k{i}")),
            409 => {}
            other => panic!("unexpected {other}: {answer:?}"),
        }
    }
    assert!(!acknowledged.is_empty());
    let stored = app.get(&path, &admin).await.ok(200);
    for key in &acknowledged {
        assert_eq!(
            stored.body["metadata"][key], "v",
            "acknowledged update {key} was lost: {stored:?}"
        );
    }
    // The ETag counts exactly the acknowledged writes.
    assert_eq!(
        stored.etag,
        Some(format!("\"{}\"", first_version + acknowledged.len()))
    );
}

#[tokio::test]
async fn concurrent_subscribes_for_one_customer_create_exactly_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin();
    let customer = app.create_customer("Eager").await;
    let answers =
        join_all((0..8).map(|_| app.subscribe(&admin, &customer, "plan_basic_month"))).await;
    let created = answers.iter().filter(|a| a.status.as_u16() == 201).count();
    let refused = answers.iter().filter(|a| a.status.as_u16() == 409).count();
    assert_eq!((created, refused), (1, 7), "{answers:?}");
    let listed = app
        .get(
            &format!("/api/v1/subscriptions?customer_id={customer}"),
            &admin,
        )
        .await
        .ok(200);
    assert_eq!(
        listed.body["data"].as_array().map(Vec::len),
        Some(1),
        "{listed:?} {answers:?}"
    );
}
