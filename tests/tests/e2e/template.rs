//! `template.yaml` declares exactly the routes the local gateway serves, on the same functions.

use std::collections::BTreeSet;

use billing_api::{Function, ROUTES};

/// (function logical id, method, path) for every HttpApi event in the template.
fn template_routes() -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
        .expect("template.yaml");
    let mut routes = BTreeSet::new();
    let mut function = String::new();
    let mut path: Option<String> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if indent == 2 && trimmed.ends_with(':') {
            function = trimmed.trim_end_matches(':').to_owned();
        } else if let Some(p) = trimmed.strip_prefix("Path: ") {
            path = Some(p.trim().to_owned());
        } else if let Some(m) = trimmed.strip_prefix("Method: ") {
            if let Some(p) = path.take() {
                routes.insert((function.clone(), m.trim().to_ascii_uppercase(), p));
            }
        }
    }
    routes
}

#[test]
fn template_events_and_the_route_table_agree() {
    let mut declared = template_routes();
    // Every request no route takes goes to the meta function, which answers 404 or 405.
    assert!(declared.remove(&(
        "MetaApiFunction".to_owned(),
        "ANY".to_owned(),
        "$default".to_owned()
    )));
    let served: BTreeSet<(String, String, String)> = ROUTES
        .iter()
        .filter(|r| !r.is_local_only())
        .map(|r| {
            (
                r.function.logical_id().to_owned(),
                r.method.to_owned(),
                r.path.to_owned(),
            )
        })
        .collect();
    assert_eq!(declared, served);
    for function in Function::ALL {
        assert!(served.iter().any(|(f, _, _)| f == function.logical_id()));
    }
}
