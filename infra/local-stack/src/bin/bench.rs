//! `make bench`: per function binary, the cold init (process start until it asks the Lambda
//! Runtime API for its first event, with its clients built) and the in-process handler latency
//! (p50/p99 over 1,000 calls against the emulator). Writes `docs/bench.md` and the table in `docs/benchmarks.md`.
//!
//! Usage: bench <dir of the release function binaries> <repo root>

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use billing_api::state::SystemClock;
use billing_api::{handle, AppState, Function};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use local_stack::gateway::{api_gateway_event, Incoming};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

const COLD_RUNS: usize = 10;
const CALLS: usize = 1_000;

/// The functions that are not the API's (`billing_api::Function::ALL`).
const JOB_FUNCTIONS: [&str; 5] = [
    "scheduler",
    "renewal-worker",
    "event-relay",
    "notifier",
    "webhook-dispatcher",
];

/// A Lambda Runtime API that only notes when a function first asks for an event.
async fn runtime_api() -> anyhow::Result<(String, mpsc::UnboundedReceiver<Instant>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        if req.uri().path().ends_with("/invocation/next") {
                            let _ = tx.send(Instant::now());
                            // Hold the poll open: the function stays idle until it is killed.
                            tokio::time::sleep(Duration::from_secs(30)).await;
                        }
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, rx))
}

async fn cold_init(
    binary: &Path,
    runtime: &str,
    rx: &mut mpsc::UnboundedReceiver<Instant>,
) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", runtime)
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let ready = tokio::time::timeout(Duration::from_secs(20), rx.recv())
        .await
        .context("the function never asked for an event")?
        .context("runtime API closed")?;
    child.kill().await.ok();
    Ok(ready.duration_since(started))
}

fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    let index = (sorted.len() * pct / 100).min(sorted.len().saturating_sub(1));
    sorted.get(index).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    let us = d.as_micros();
    format!("{}.{:03}", us / 1000, us % 1000)
}

struct Probe {
    function: Function,
    method: &'static str,
    route: &'static str,
    path: String,
    body: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let bin_dir = PathBuf::from(
        args.next()
            .context("usage: bench <release bin dir> <repo root>")?,
    );
    let root = PathBuf::from(
        args.next()
            .context("usage: bench <release bin dir> <repo root>")?,
    );

    // Cold init.
    let (runtime, mut rx) = runtime_api().await?;
    let mut cold: BTreeMap<&str, Duration> = BTreeMap::new();
    for function in Function::ALL {
        let mut runs = Vec::new();
        for _ in 0..COLD_RUNS {
            runs.push(cold_init(&bin_dir.join(function.name()), &runtime, &mut rx).await?);
        }
        runs.sort();
        cold.insert(function.name(), percentile(&runs, 50));
    }

    // Handler latency, in process, against the emulator.
    std::env::set_var(
        "TABLE_NAME",
        format!("bench-{}", uuid::Uuid::new_v4().simple()),
    );
    let state = AppState::from_env().await.map_err(|e| anyhow::anyhow!(e))?;
    local_stack::prepare(&state.store, &SystemClock).await?;
    let secret = std::env::var("JWT_SECRET").unwrap_or_else(|_| "local-dev-secret".into());
    let token = local_stack::token::mint(
        &secret,
        "bench",
        &["admin"],
        None,
        chrono::Utc::now().timestamp(),
        3600,
    )?;
    let customer = handle(
        &state,
        Function::CustomersApi,
        request(
            &token,
            "POST",
            "/api/v1/customers",
            "POST /api/v1/customers",
            None,
            Some(json!({"name": "Bench", "email": "b@bench.example"}).to_string()),
        )?,
    )
    .await;
    let customer: serde_json::Value = serde_json::from_slice(customer.body().as_ref())?;
    let customer_id = customer["id"].as_str().context("customer id")?.to_owned();
    let sub = handle(
        &state,
        Function::SubscriptionsApi,
        request(
            &token,
            "POST",
            "/api/v1/subscriptions",
            "POST /api/v1/subscriptions",
            None,
            Some(
                json!({"customer_id": customer_id, "subscription_plan_id": "plan_free_month"})
                    .to_string(),
            ),
        )?,
    )
    .await;
    let sub: serde_json::Value = serde_json::from_slice(sub.body().as_ref())?;
    let sub_id = sub["id"].as_str().context("subscription id")?.to_owned();

    let probes = [
        Probe {
            function: Function::SubscriptionsApi,
            method: "GET",
            route: "/api/v1/subscriptions/{id}",
            path: format!("/api/v1/subscriptions/{sub_id}"),
            body: None,
        },
        Probe {
            function: Function::SubscriptionsApi,
            method: "PATCH",
            route: "/api/v1/subscriptions/{id}",
            path: format!("/api/v1/subscriptions/{sub_id}"),
            body: Some(json!({"metadata": {"bench": "1"}}).to_string()),
        },
        Probe {
            function: Function::CustomersApi,
            method: "GET",
            route: "/api/v1/customers/{id}",
            path: format!("/api/v1/customers/{customer_id}"),
            body: None,
        },
        Probe {
            function: Function::PlansApi,
            method: "GET",
            route: "/api/v1/subscriptions/plans",
            path: "/api/v1/subscriptions/plans".into(),
            body: None,
        },
        Probe {
            function: Function::MetaApi,
            method: "GET",
            route: "/api/v1/health",
            path: "/api/v1/health".into(),
            body: None,
        },
    ];
    let mut rows = Vec::new();
    for probe in &probes {
        let mut times = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let id = probe.path.rsplit('/').next().unwrap_or_default().to_owned();
            let params = if probe.route.contains("{id}") {
                Some(id)
            } else {
                None
            };
            let req = request(
                &token,
                probe.method,
                &probe.path,
                &format!("{} {}", probe.method, probe.route),
                params,
                probe.body.clone(),
            )?;
            let started = Instant::now();
            let response = handle(&state, probe.function, req).await;
            times.push(started.elapsed());
            anyhow::ensure!(
                response.status().is_success(),
                "{} {} answered {}",
                probe.method,
                probe.path,
                response.status()
            );
        }
        times.sort();
        rows.push(format!(
            "| `{}` | {} `{}` | {} | {} | {} |",
            probe.function.name(),
            probe.method,
            probe.route,
            ms(cold[probe.function.name()]),
            ms(percentile(&times, 50)),
            ms(percentile(&times, 99)),
        ));
    }

    let table = format!(
        "| function | handler measured | cold init (ms, median of {COLD_RUNS}) | handler p50 (ms) | handler p99 (ms) |\n|---|---|---|---|---|\n{}\n",
        rows.join("\n")
    );
    // The release binary of every function, as built here (x86_64 Linux; `sam build` makes
    // arm64 ones, smaller).
    let mut sizes = String::from("| function | release binary (MB) |\n|---|---:|\n");
    for name in Function::ALL
        .map(Function::name)
        .into_iter()
        .chain(JOB_FUNCTIONS)
    {
        if let Ok(meta) = std::fs::metadata(bin_dir.join(name)) {
            let kb = meta.len() / 1024;
            sizes.push_str(&format!(
                "| `{name}` | {}.{:02} |\n",
                kb / 1024,
                (kb % 1024) * 100 / 1024
            ));
        }
    }
    let report = format!(
        "# Benchmarks\n\nWritten by `make bench` on {} ({} cores). Cold init: release binary started until it polls the Lambda Runtime API for its first event, SDK clients and config built. Handler: in-process `billing_api::handle` on an API Gateway event, {CALLS} sequential calls, against the local emulator (moto), whose Python server dominates the figures; on AWS, DynamoDB latency applies instead.\n\n{table}\n## Binary sizes\n\n{sizes}",
        chrono::Utc::now().format("%Y-%m-%d"),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    );
    std::fs::create_dir_all(root.join("docs"))?;
    // Earlier measurements kept by hand under `## History` stay.
    let path = root.join("docs/bench.md");
    let history = std::fs::read_to_string(&path)
        .ok()
        .and_then(|old| old.find("\n## History").map(|at| old[at..].to_owned()))
        .unwrap_or_default();
    std::fs::write(&path, format!("{report}{history}"))?;
    let readme_path = root.join("docs/benchmarks.md");
    if let Ok(readme) = std::fs::read_to_string(&readme_path) {
        if let (Some(start), Some(end)) = (
            readme.find("<!-- bench:start -->"),
            readme.find("<!-- bench:end -->"),
        ) {
            let updated = format!(
                "{}<!-- bench:start -->\n{table}{}",
                &readme[..start],
                &readme[end..]
            );
            std::fs::write(&readme_path, updated)?;
        }
    }
    println!("{report}");
    Ok(())
}

fn request(
    token: &str,
    method: &str,
    path: &str,
    route_key: &str,
    id: Option<String>,
    body: Option<String>,
) -> anyhow::Result<lambda_http::Request> {
    let mut headers = BTreeMap::new();
    headers.insert("authorization".to_owned(), format!("Bearer {token}"));
    headers.insert("content-type".to_owned(), "application/json".to_owned());
    let params: BTreeMap<String, String> = id.map(|id| ("id".to_owned(), id)).into_iter().collect();
    let body = body.unwrap_or_default();
    let incoming = Incoming {
        method,
        path,
        raw_query: "",
        headers: &headers,
        body: body.as_bytes(),
        source_ip: "127.0.0.1",
    };
    let event = api_gateway_event(&incoming, route_key, &params);
    Ok(lambda_http::request::from_str(&event.to_string())?)
}
