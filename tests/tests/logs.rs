//! Logs carry ids, never email addresses: a subscribe, its emails, a bounce and lifting the
//! suppression, with every log line of the process captured (a test binary of its own, so the
//! subscriber is the process's and no other test's lines mix in).

#[path = "e2e/app.rs"]
#[allow(dead_code)]
mod app;

use reqwest::Method;

use app::{ses_bounce, TestApp};

/// Everything the service logs, as text.
#[derive(Clone, Default)]
struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut logs) = self.0.lock() {
            logs.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    fn text(&self) -> String {
        self.0
            .lock()
            .map(|logs| String::from_utf8_lossy(&logs).into_owned())
            .unwrap_or_default()
    }
}

#[tokio::test]
async fn logs_carry_ids_never_email_addresses() {
    // The only test of this process: every thread's log lines come here.
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let app = TestApp::with_test_clock().await;
    // SES reports to an SNS topic the notifications queue subscribes to, as template.yaml wires.
    let feedback = app.mail_feedback_topic().await;
    let customer = app.create_customer("Logged Ltd").await;
    app.subscribe(&app.admin(), &customer, "plan_basic_month")
        .await
        .ok(201);
    app.notify().await;
    feedback
        .publish(&ses_bounce(&app.email, &customer))
        .await
        .expect("published");
    app.notify().await;
    // Lifting the suppression names the address in the path.
    app.call(
        Method::DELETE,
        &format!(
            "/api/v1/customers/{customer}/email-suppressions/{}",
            app.email
        ),
        &app.admin(),
        None,
    )
    .await;
    let text = logs.text();
    assert!(
        text.contains("email sent"),
        "the notifier logged nothing: {text}"
    );
    assert!(text.contains("address suppressed"), "{text}");
    // The test's own domain names nothing else: it may not appear at all.
    let (_, domain) = app.email.split_once('@').expect("an address");
    assert!(
        !text.to_lowercase().contains(&domain.to_lowercase()),
        "an address reached the logs"
    );
}
