//! Customer email, end to end: the API and the test clock make billing events, the relay puts
//! them on the bus, the bus's rule fills the notifications queue, the notifier renders the
//! templates and sends through SES; the tests read what was sent from the emulator's SES store.

use chrono::Duration;
use reqwest::Method;
use serde_json::{json, Value};

use crate::app::{ses_bounce, time, TestApp};

fn with_prefix<'a>(subjects: &'a [String], prefix: &str) -> Vec<&'a String> {
    subjects.iter().filter(|s| s.starts_with(prefix)).collect()
}

fn body_of<'a>(emails: &'a [Value], subject_prefix: &str) -> Vec<&'a str> {
    emails
        .iter()
        .filter(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.starts_with(subject_prefix))
        })
        .filter_map(|m| m["body"].as_str())
        .collect()
}

fn day(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%-d %B %Y").to_string()
}

#[tokio::test]
async fn subscribing_confirms_once_each_renewal_sends_one_receipt_and_a_failed_renewal_names_the_retry(
) {
    let app = TestApp::with_test_clock().await;
    let customer = app
        .create_customer("<script>alert('owned')</script> GmbH")
        .await;
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_premium_month")
        .await
        .ok(201)
        .body;
    let id = sub["id"].as_str().expect("id");
    assert_eq!(
        app.notify().await,
        2,
        "invoice.paid and subscription.created"
    );
    let subjects = app.email_subjects().await;
    assert_eq!(
        with_prefix(&subjects, "Welcome to Premium (monthly)").len(),
        1,
        "{subjects:?}"
    );
    assert_eq!(
        with_prefix(&subjects, "Your Billing receipt: $79.99").len(),
        1
    );
    let emails = app.emails().await;
    for email in &emails {
        let html = email["body"].as_str().expect("html");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&#60;script&#62;alert(&#39;owned&#39;)&#60;/script&#62; GmbH"),
            "{html}"
        );
        assert_eq!(email["source"], crate::app::MAIL_FROM);
    }
    let receipt = body_of(&emails, "Your Billing receipt")[0];
    assert!(receipt.contains("Premium (monthly)"));
    assert!(receipt.contains("Total"));
    assert!(receipt.contains(sub["latest_invoice_id"].as_str().expect("invoice")));

    // Two renewals: one receipt each, with the renewal's total.
    let first_end = time(&sub["current_period_end"]);
    app.advance(json!({"to": (first_end + Duration::hours(1)).to_rfc3339()}))
        .await;
    let renewed = app.subscription(id).await;
    app.advance(
        json!({"to": (time(&renewed["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    let subjects = app.email_subjects().await;
    assert_eq!(
        with_prefix(&subjects, "Your Billing receipt: $79.99").len(),
        3,
        "{subjects:?}"
    );

    // The card fails at the next renewal: one email with the amount, the retry date and the
    // link to update the card.
    app.set_payment_method(&customer, "pm_card_chargeCustomerFail")
        .await;
    let current = app.subscription(id).await;
    let due = time(&current["current_period_end"]);
    app.advance(json!({"to": (due + Duration::hours(1)).to_rfc3339()}))
        .await;
    let emails = app.emails().await;
    let failed = body_of(&emails, "Action needed: your payment of $79.99 failed");
    assert_eq!(failed.len(), 1, "{:?}", app.email_subjects().await);
    assert!(
        failed[0].contains(&day(due + Duration::days(3))),
        "{}",
        failed[0]
    );
    assert!(failed[0].contains(&format!(
        "https://portal.example/customers/{customer}/payment-method"
    )));
    assert_eq!(
        with_prefix(&app.email_subjects().await, "Welcome").len(),
        1,
        "renewals confirm nothing again"
    );
}

#[tokio::test]
async fn an_annual_subscription_is_reminded_seven_days_before_each_renewal_once() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Yearly Inc").await;
    let plan = app
        .get("/api/v1/plans/plan_premium_year", &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(plan["renewal_reminder_days"], 7);
    let price = plan["price"].as_str().expect("price").to_owned();
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_premium_year")
        .await
        .ok(201)
        .body;
    let end = time(&sub["current_period_end"]);
    let reminders = |subjects: &[String]| {
        with_prefix(subjects, "Your Premium (annual) subscription renews on").len()
    };
    app.advance(json!({"to": (end - Duration::days(7) - Duration::hours(1)).to_rfc3339()}))
        .await;
    assert_eq!(reminders(&app.email_subjects().await), 0);
    app.advance(json!({"to": (end - Duration::days(7) + Duration::hours(1)).to_rfc3339()}))
        .await;
    app.advance(json!({"to": (end - Duration::days(1)).to_rfc3339()}))
        .await;
    let subjects = app.email_subjects().await;
    assert_eq!(reminders(&subjects), 1, "{subjects:?}");
    let emails = app.emails().await;
    let reminder = body_of(&emails, "Your Premium (annual) subscription renews on")[0];
    assert!(reminder.contains(&day(end)), "{reminder}");
    assert!(reminder.contains(&format!("${price}")), "{reminder}");

    // The renewal, then the next year's reminder.
    app.advance(json!({"to": (end + Duration::hours(1)).to_rfc3339()}))
        .await;
    let renewed = app.subscription(sub["id"].as_str().expect("id")).await;
    let next_end = time(&renewed["current_period_end"]);
    app.advance(json!({"to": (next_end - Duration::days(6)).to_rfc3339()}))
        .await;
    let subjects = app.email_subjects().await;
    assert_eq!(reminders(&subjects), 2, "{subjects:?}");
    assert_eq!(
        with_prefix(&subjects, &format!("Your Billing receipt: ${price}")).len(),
        2
    );
}

#[tokio::test]
async fn a_redelivered_notification_sends_nothing_twice() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Twice Ltd").await;
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_basic_month")
        .await
        .ok(201)
        .body;
    app.call(
        Method::DELETE,
        &format!("/api/v1/subscriptions/{}", sub["id"].as_str().expect("id")),
        &app.admin(),
        Some(json!({"reason": "too_expensive"})),
    )
    .await
    .ok(200);
    assert_eq!(app.notify().await, 3);
    let sent = app.email_subjects().await;
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent
        .iter()
        .any(|s| s.starts_with("Your Basic (monthly) subscription will end on")));
    // SQS delivers at least once: every message comes again, some twice.
    let envelopes = app.delivered_envelopes().await;
    assert_eq!(envelopes.len(), 3);
    let queue = app
        .jobs
        .notifications_queue
        .as_ref()
        .expect("notifications queue");
    for body in envelopes.iter().chain(envelopes.iter().take(1)) {
        queue.send_body(body).await.expect("sent");
    }
    assert_eq!(app.notify().await, 4, "every redelivery is handled");
    assert_eq!(
        app.email_subjects().await,
        sent,
        "and nothing is sent again"
    );
}

#[tokio::test]
async fn the_unsubscribe_link_turns_reminders_off_but_receipts_still_go() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Quiet GmbH").await;
    let own = app.customer_token(&customer);
    let sub = app
        .subscribe(&own, &customer, "plan_basic_year")
        .await
        .ok(201)
        .body;
    let end = time(&sub["current_period_end"]);
    app.advance(json!({"to": (end - Duration::days(6)).to_rfc3339()}))
        .await;
    let emails = app.emails().await;
    let reminder = body_of(&emails, "Your Basic (annual) subscription renews on");
    assert_eq!(reminder.len(), 1);
    let link = reminder[0]
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.contains("/notification-preferences/unsubscribe"))
        .expect("an unsubscribe link")
        .replace("&#38;", "&");
    assert!(link.contains("kind=renewal_reminder"), "{link}");
    let path = link.trim_start_matches(&app.base).to_owned();
    // A forged signature changes nothing.
    let forged = format!(
        "{}0",
        path.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    let refused = app
        .raw(Method::POST, &forged, None, None, &[])
        .await
        .problem(422);
    assert_eq!(refused.fields(), ["query.signature"]);
    // Following the link shows a page; its button unsubscribes.
    let page = app.raw(Method::GET, &path, None, None, &[]).await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(page.content_type.starts_with("text/html"));
    let prefs_path = format!("/api/v1/customers/{customer}/notification-preferences");
    assert_eq!(
        app.get(&prefs_path, &own).await.ok(200).body["kinds"]["renewal_reminder"],
        true,
        "the page alone changes nothing"
    );
    let done = app.raw(Method::POST, &path, None, None, &[]).await;
    assert_eq!(done.status.as_u16(), 200);
    let prefs = app.get(&prefs_path, &own).await.ok(200).body;
    assert_eq!(prefs["kinds"]["renewal_reminder"], false);
    assert_eq!(prefs["kinds"]["payment_receipt"], true);

    // A year on: the receipt goes, the reminder does not.
    app.advance(json!({"to": (end + Duration::hours(1)).to_rfc3339()}))
        .await;
    let renewed = app
        .get(
            &format!("/api/v1/subscriptions/{}", sub["id"].as_str().expect("id")),
            &own,
        )
        .await
        .ok(200)
        .body;
    app.advance(
        json!({"to": (time(&renewed["current_period_end"]) - Duration::days(1)).to_rfc3339()}),
    )
    .await;
    let subjects = app.email_subjects().await;
    assert_eq!(
        with_prefix(&subjects, "Your Basic (annual) subscription renews on").len(),
        1,
        "{subjects:?}"
    );
    assert_eq!(with_prefix(&subjects, "Your Billing receipt").len(), 2);
}

#[tokio::test]
async fn preferences_choose_the_addresses_and_cannot_turn_receipts_off() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Many Inboxes").await;
    let own = app.customer_token(&customer);
    let path = format!("/api/v1/customers/{customer}/notification-preferences");
    let defaults = app.get(&path, &own).await.ok(200).body;
    assert_eq!(defaults["recipients"], json!([app.email]));
    assert_eq!(defaults["addresses"], json!([]));
    assert!(defaults["kinds"]
        .as_object()
        .expect("kinds")
        .values()
        .all(|on| on == true));
    let refused = app
        .call(
            Method::PUT,
            &path,
            &own,
            Some(
                json!({"kinds": {"payment_receipt": false, "newsletter": true},
                        "addresses": ["not an address"]}),
            ),
        )
        .await
        .problem(422);
    assert_eq!(
        refused.fields(),
        ["kinds.newsletter", "kinds.payment_receipt", "addresses[0]"]
    );
    let other = format!("accounts@{}", app.email.split('@').nth(1).expect("domain"));
    let updated = app
        .call(
            Method::PUT,
            &path,
            &own,
            Some(json!({"addresses": [app.email, other], "kinds": {"subscription_confirmed": false}})),
        )
        .await
        .ok(200)
        .body;
    // The customer's own address is confirmed; the one it added waits for its owner.
    assert_eq!(updated["recipients"], json!([app.email]));
    assert_eq!(updated["pending_confirmation"], json!([other]));
    assert_eq!(updated["kinds"]["subscription_confirmed"], false);

    let sub = app
        .subscribe(&own, &customer, "plan_basic_month")
        .await
        .ok(201)
        .body;
    app.notify().await;
    let emails = app.emails().await;
    let subjects: Vec<&str> = emails
        .iter()
        .filter_map(|m| m["subject"].as_str())
        .collect();
    assert_eq!(subjects, ["Your Billing receipt: $29.99"], "no welcome");
    assert_eq!(emails[0]["destinations"]["ToAddresses"], json!([app.email]));

    // The added address got one email: the confirmation, with its link.
    let to_other = app.emails_to(&other).await;
    assert_eq!(to_other.len(), 1, "{to_other:?}");
    assert_eq!(
        to_other[0]["subject"],
        "Confirm this address for Billing billing email"
    );
    assert_eq!(to_other[0]["destinations"]["ToAddresses"], json!([other]));
    let link = to_other[0]["body"]
        .as_str()
        .expect("body")
        .split("href=\"")
        .filter_map(|rest| rest.split('"').next())
        .find(|href| href.contains("/notification-preferences/confirm-address"))
        .expect("a confirmation link")
        .replace("&#38;", "&");
    let link = link.trim_start_matches(&app.base).to_owned();
    // Another customer's id, or a forged signature, confirms nothing.
    let stranger = app.create_customer("Stranger").await;
    let elsewhere = link.replace(&customer, &stranger);
    let forged = format!(
        "{}0",
        link.trim_end_matches(|c: char| c.is_ascii_hexdigit())
    );
    for bad in [elsewhere, forged] {
        let refused = app
            .raw(Method::POST, &bad, None, None, &[])
            .await
            .problem(422);
        assert_eq!(refused.fields(), ["query.signature"]);
    }
    // The link shows a page; its button confirms.
    let page = app.raw(Method::GET, &link, None, None, &[]).await;
    assert_eq!(page.status.as_u16(), 200);
    assert!(page.content_type.starts_with("text/html"));
    assert_eq!(
        app.get(&path, &own).await.ok(200).body["pending_confirmation"],
        json!([other]),
        "the page alone changes nothing"
    );
    let done = app.raw(Method::POST, &link, None, None, &[]).await;
    assert_eq!(done.status.as_u16(), 200);
    let confirmed = app.get(&path, &own).await.ok(200).body;
    assert_eq!(confirmed["recipients"], json!([app.email, other]));
    assert_eq!(confirmed["pending_confirmation"], json!([]));

    // The renewal's receipt goes to both.
    app.advance(
        json!({"to": (time(&sub["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    let receipts = app.emails_to(&other).await;
    assert!(
        receipts
            .iter()
            .any(|m| m["subject"] == "Your Billing receipt: $29.99"
                && m["destinations"]["ToAddresses"] == json!([app.email, other])),
        "{receipts:?}"
    );
}

#[tokio::test]
async fn an_address_an_operator_adds_is_confirmed_at_once() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Operated").await;
    let other = format!("ap@{}", app.email.split('@').nth(1).expect("domain"));
    let prefs = app
        .call(
            Method::PUT,
            &format!("/api/v1/customers/{customer}/notification-preferences"),
            &app.admin(),
            Some(json!({"addresses": [other]})),
        )
        .await
        .ok(200)
        .body;
    assert_eq!(prefs["recipients"], json!([other]));
    assert_eq!(prefs["pending_confirmation"], json!([]));
    app.notify().await;
    assert!(app.emails_to(&other).await.is_empty(), "no confirmation");
}

#[tokio::test]
async fn an_unreadable_message_goes_to_the_dead_letter_queue_and_the_rest_of_its_batch_is_sent() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Batch Mates").await;
    let queue = app
        .jobs
        .notifications_queue
        .as_ref()
        .expect("notifications queue");
    queue
        .send_body(r#"{"detail": {"type": "invoice.paid", "id": 7}}"#)
        .await
        .expect("sent");
    app.subscribe(&app.admin(), &customer, "plan_basic_month")
        .await
        .ok(201);
    app.notify().await;
    assert_eq!(
        app.email_subjects().await.len(),
        2,
        "the good messages went"
    );
    let bodies = app.dead_letters("-notifications").await;
    assert_eq!(bodies, [r#"{"detail": {"type": "invoice.paid", "id": 7}}"#]);
    assert_eq!(app.notify().await, 0, "nothing is left to retry");
}

#[tokio::test]
async fn a_plan_can_remind_monthly_subscribers_days_before_each_renewal() {
    let app = TestApp::with_test_clock().await;
    let plan = app
        .create_plan(
            json!({"id": "plan_reminded_month", "name": "Reminded", "tier": "basic",
                            "interval": "month", "price": "10.00", "currency": "usd",
                            "renewal_reminder_days": 3}),
        )
        .await;
    assert_eq!(plan["renewal_reminder_days"], 3);
    let monthly = app
        .get("/api/v1/plans/plan_basic_month", &app.admin())
        .await
        .ok(200)
        .body;
    assert_eq!(monthly["renewal_reminder_days"], 7, "a week by default");
    let customer = app.create_customer("Reminded Co").await;
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_reminded_month")
        .await
        .ok(201)
        .body;
    let end = time(&sub["current_period_end"]);
    app.advance(json!({"to": (end - Duration::days(3) - Duration::minutes(1)).to_rfc3339()}))
        .await;
    let reminders = |subjects: Vec<String>| {
        subjects
            .iter()
            .filter(|s| s.starts_with("Your Reminded subscription renews on"))
            .count()
    };
    assert_eq!(reminders(app.email_subjects().await), 0);
    app.advance(json!({"to": (end - Duration::days(3) + Duration::minutes(1)).to_rfc3339()}))
        .await;
    assert_eq!(reminders(app.email_subjects().await), 1);
    // Turned off on the plan: the next period has no reminder.
    app.call(
        Method::PATCH,
        "/api/v1/plans/plan_reminded_month",
        &app.admin(),
        Some(json!({"renewal_reminder_days": 0})),
    )
    .await
    .ok(200);
    app.advance(json!({"to": (end + Duration::days(29)).to_rfc3339()}))
        .await;
    assert_eq!(
        reminders(app.email_subjects().await),
        2,
        "a subscription keeps the offset it subscribed with"
    );
}

#[tokio::test]
async fn a_subscription_that_will_not_renew_is_warned_a_week_before_and_told_when_it_expired() {
    let app = TestApp::with_test_clock().await;
    let customer = app.create_customer("Leaving Soon").await;
    let sub = app
        .subscribe_with(
            &app.admin(),
            &customer,
            "plan_basic_month",
            json!({"auto_renew": false}),
        )
        .await
        .ok(201)
        .body;
    let end = time(&sub["current_period_end"]);
    // The plan's reminder days (7); at least 3 on a plan without reminders.
    app.advance(json!({"to": (end - Duration::days(7) - Duration::minutes(1)).to_rfc3339()}))
        .await;
    let warnings = |subjects: &[String]| {
        with_prefix(
            subjects,
            &format!("Your Basic (monthly) subscription ends on {}", day(end)),
        )
        .len()
    };
    assert_eq!(warnings(&app.email_subjects().await), 0);
    app.advance(json!({"to": (end - Duration::days(6)).to_rfc3339()}))
        .await;
    assert_eq!(warnings(&app.email_subjects().await), 1);
    app.advance(json!({"to": (end + Duration::hours(1)).to_rfc3339()}))
        .await;
    let subjects = app.email_subjects().await;
    assert_eq!(warnings(&subjects), 1, "{subjects:?}");
    assert_eq!(
        with_prefix(&subjects, "Your Basic (monthly) subscription has expired").len(),
        1,
        "{subjects:?}"
    );
    assert!(
        with_prefix(&subjects, "Your Billing receipt").len() == 1,
        "only the first month was charged: {subjects:?}"
    );
}

#[tokio::test]
async fn a_bounced_address_gets_no_email_until_an_operator_lifts_the_suppression() {
    let app = TestApp::with_test_clock().await;
    // SES reports to an SNS topic the notifications queue subscribes to, as template.yaml wires.
    let feedback = app.mail_feedback_topic().await;
    let customer = app.create_customer("Bouncing Ltd").await;
    let sub = app
        .subscribe(&app.admin(), &customer, "plan_basic_month")
        .await
        .ok(201)
        .body;
    app.notify().await;
    assert_eq!(app.emails().await.len(), 2, "confirmation and receipt");

    // The mailbox is gone: SES reports a permanent bounce (twice: SNS delivers at least once),
    // naming the address in other letter case.
    for _ in 0..2 {
        feedback
            .publish(&ses_bounce(&app.email.to_uppercase(), &customer))
            .await
            .expect("published");
    }
    app.notify().await;
    let prefs_path = format!("/api/v1/customers/{customer}/notification-preferences");
    let token = app.customer_token(&customer);
    let prefs = app.get(&prefs_path, &token).await.ok(200).body;
    assert_eq!(
        prefs["suppressed"].as_array().map(Vec::len),
        Some(1),
        "{prefs}"
    );
    assert_eq!(prefs["suppressed"][0]["address"], app.email.to_lowercase());
    assert_eq!(prefs["suppressed"][0]["reason"], "bounce");
    assert_eq!(
        prefs["suppressed"][0]["detail"],
        "smtp; 550 5.1.1 user unknown"
    );

    // The renewal is charged, but its receipt is not mailed to the dead address.
    let first_end = time(&sub["current_period_end"]);
    app.advance(json!({"to": (first_end + Duration::hours(1)).to_rfc3339()}))
        .await;
    let renewed = app.subscription(sub["id"].as_str().expect("id")).await;
    assert_eq!(renewed["status"], "active");
    assert_eq!(
        app.emails().await.len(),
        2,
        "{:?}",
        app.email_subjects().await
    );

    // Customers cannot lift it (a suppression protects every sender); an operator can, once.
    let lift = format!(
        "/api/v1/customers/{customer}/email-suppressions/{}",
        app.email.replace('@', "%40")
    );
    let other = app.create_customer("Someone Else").await;
    for who in [&token, &app.customer_token(&other)] {
        app.call(Method::DELETE, &lift, who, None)
            .await
            .problem(403);
    }
    let lifted = app
        .call(Method::DELETE, &lift, &app.admin(), None)
        .await
        .ok(200)
        .body;
    assert_eq!(lifted["reason"], "bounce");
    app.call(Method::DELETE, &lift, &app.admin(), None)
        .await
        .problem(404);
    let prefs = app.get(&prefs_path, &token).await.ok(200).body;
    assert_eq!(prefs["suppressed"], json!([]));

    // The next renewal's receipt goes again.
    app.advance(
        json!({"to": (time(&renewed["current_period_end"]) + Duration::hours(1)).to_rfc3339()}),
    )
    .await;
    let subjects = app.email_subjects().await;
    assert_eq!(
        with_prefix(&subjects, "Your Billing receipt").len(),
        2,
        "{subjects:?}"
    );
}

#[tokio::test]
async fn a_customer_sees_only_the_suppressions_its_own_mail_caused() {
    let app = TestApp::with_test_clock().await;
    // SES reports to an SNS topic the notifications queue subscribes to, as template.yaml wires.
    let feedback = app.mail_feedback_topic().await;
    // Acme's own mailbox bounced Acme's mail.
    let acme = app.create_customer("Acme").await;
    feedback
        .publish(&ses_bounce(&app.email, &acme))
        .await
        .expect("published");
    app.notify().await;
    // A prober adds Acme's address to its own recipients to learn whether it bounced.
    let prober = app.create_customer("Prober").await;
    let prober_token = app.customer_token(&prober);
    let prober_prefs = format!("/api/v1/customers/{prober}/notification-preferences");
    let prefs = app
        .call(
            Method::PUT,
            &prober_prefs,
            &prober_token,
            Some(json!({"addresses": [app.email.clone()]})),
        )
        .await
        .ok(200)
        .body;
    assert_eq!(prefs["suppressed"], json!([]), "{prefs}");
    let read = app.get(&prober_prefs, &prober_token).await.ok(200).body;
    assert_eq!(read["suppressed"], json!([]), "{read}");
    // Acme sees its own; an operator sees it on either customer.
    let acme_prefs = format!("/api/v1/customers/{acme}/notification-preferences");
    let own = app
        .get(&acme_prefs, &app.customer_token(&acme))
        .await
        .ok(200)
        .body;
    assert_eq!(own["suppressed"][0]["reason"], "bounce", "{own}");
    let operator = app.get(&prober_prefs, &app.admin()).await.ok(200).body;
    assert_eq!(
        operator["suppressed"].as_array().map(Vec::len),
        Some(1),
        "{operator}"
    );
}
