//! Reading a request: body size, JSON with the path of the field at fault, query parameters,
//! headers.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use lambda_http::http::HeaderMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use crate::problem::ApiError;

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Parses a JSON body. Empty bodies parse as `{}` when `T` allows it (PUT/DELETE with no body).
pub fn json_body<T: DeserializeOwned>(body: &[u8], headers: &HeaderMap) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    let trimmed = body.iter().all(u8::is_ascii_whitespace);
    let raw: &[u8] = if trimmed { b"{}" } else { body };
    if !trimmed && !is_json(headers) {
        return Err(ApiError::UnsupportedMediaType);
    }
    // Syntax first, so malformed JSON is a 400 and well-formed JSON of the wrong shape a 422.
    let value: serde_json::Value = serde_json::from_slice(raw)
        .map_err(|e| ApiError::BadRequest(format!("the body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let message = clean_serde_message(&e.inner().to_string());
        ApiError::field(field_at_fault(&e.path().to_string(), &message), message)
    })
}

/// Whether the body is declared JSON: `application/json` or `application/<something>+json`,
/// parameters (`; charset=utf-8`) aside. A body without a `Content-Type` is not.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(media) = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
    else {
        return false;
    };
    media == "application/json"
        || media
            .strip_prefix("application/")
            .is_some_and(|sub| sub.len() > "+json".len() && sub.ends_with("+json"))
}

/// A time in a request: RFC 3339 (`2026-12-07T10:00:00Z`, any offset), years 1970 to 9999.
pub fn parse_time(raw: &str) -> Result<DateTime<Utc>, String> {
    let at = DateTime::parse_from_rfc3339(raw)
        .map_err(|_| "must be an RFC 3339 time, such as 2026-12-07T10:00:00Z".to_owned())?
        .with_timezone(&Utc);
    if !(1970..=9999).contains(&at.year()) {
        return Err("must be in the years 1970 to 9999".to_owned());
    }
    Ok(at)
}

/// `deserialize_with` for an optional time in a body ([`parse_time`]).
pub fn optional_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<String>::deserialize(d)?
        .map(|raw| parse_time(&raw).map_err(serde::de::Error::custom))
        .transpose()
}

/// `deserialize_with` for a required time in a body ([`parse_time`]).
pub fn required_time<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    parse_time(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// A report's days from the query: `from` and `to` (`2026-12-07`), default the 30 days that
/// end `today`.
pub fn day_range(
    query: &std::collections::HashMap<String, String>,
    today: chrono::NaiveDate,
) -> Result<(chrono::NaiveDate, chrono::NaiveDate), crate::problem::ApiError> {
    let day = |name: &str| {
        query
            .get(name)
            .map(|raw| {
                chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
                    crate::problem::ApiError::field(
                        format!("query.{name}"),
                        "must be a date like 2026-12-07",
                    )
                })
            })
            .transpose()
    };
    let to = day("to")?.unwrap_or(today);
    let from = day("from")?.unwrap_or(to - chrono::Duration::days(29));
    Ok((from, to))
}

/// The field a serde error is about: its path, completed with the field a "missing field" or
/// "unknown field" message names (serde reports those at the enclosing object).
fn field_at_fault(path: &str, message: &str) -> String {
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (".", None) => "body".to_owned(),
        // An unknown field is already the last segment of the path.
        (path, Some(name)) if path == name || path.ends_with(&format!(".{name}")) => {
            path.to_owned()
        }
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_owned(),
    }
}

fn clean_serde_message(message: &str) -> String {
    // serde_json appends " at line 1 column 12" for values parsed from text; not useful here.
    match message.find(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// The query string as a map (last value wins), with unknown parameters refused.
pub fn query(
    params: HashMap<String, String>,
    allowed: &[&str],
) -> Result<HashMap<String, String>, ApiError> {
    for name in params.keys() {
        if !allowed.contains(&name.as_str()) {
            return Err(ApiError::field(
                format!("query.{name}"),
                "unknown query parameter",
            ));
        }
    }
    Ok(params)
}

/// A header's value as text, when present and readable.
pub fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `If-Match: "3"` → the version the client read.
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    match headers.get("if-match") {
        None => Ok(None),
        Some(v) => {
            let text = v.to_str().unwrap_or_default().trim();
            let text = text.strip_prefix("W/").unwrap_or(text);
            text.trim_matches('"')
                .parse::<u64>()
                .map(Some)
                .map_err(|_| {
                    ApiError::field(
                        "header.If-Match",
                        "must be an ETag this API returned, like \"3\"",
                    )
                })
        }
    }
}

/// A path segment as its client meant it: `%XX` escapes decoded (`%40` for `@`), anything
/// else (a stray `%`, bytes that are not UTF-8) kept or replaced, never an error.
pub fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: Option<u32>,
        nested: Option<Nested>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Nested {
        country: String,
    }

    fn json() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", "application/json".parse().expect("header"));
        headers
    }

    fn parse(raw: &str) -> Result<Body, ApiError> {
        json_body(raw.as_bytes(), &json())
    }

    #[test]
    fn a_body_not_declared_json_is_a_415() {
        let body = br#"{"name": "x"}"#;
        for declared in [
            None,
            Some("application/jsonp"),
            Some("text/plain"),
            Some("application/+json"),
        ] {
            let mut headers = HeaderMap::new();
            if let Some(ct) = declared {
                headers.insert("content-type", ct.parse().expect("header"));
            }
            assert!(
                matches!(
                    json_body::<Body>(body, &headers),
                    Err(ApiError::UnsupportedMediaType)
                ),
                "{declared:?}"
            );
        }
        for declared in [
            "application/json",
            "application/JSON; charset=utf-8",
            "application/merge-patch+json",
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("content-type", declared.parse().expect("header"));
            assert!(json_body::<Body>(body, &headers).is_ok(), "{declared}");
        }
        // An empty body needs no type (PUT and DELETE without one).
        assert!(!matches!(
            json_body::<Body>(b"", &HeaderMap::new()),
            Err(ApiError::UnsupportedMediaType)
        ));
    }

    #[test]
    fn times_are_rfc_3339_in_the_years_1970_to_9999() {
        assert!(parse_time("2026-12-07T10:00:00Z").is_ok());
        assert!(parse_time("2026-12-07T10:00:00+02:00").is_ok());
        for bad in [
            "+10000-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-12-07",
            "tomorrow",
            "2026-13-01T00:00:00Z",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn malformed_json_is_a_400() {
        assert!(matches!(parse("{\"name\": "), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn wrong_types_name_the_field() {
        match parse(r#"{"name": "x", "nested": {"country": 5}}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors[0].field, "nested.country"),
            other => panic!("unexpected {other:?}"),
        }
        match parse(r#"{"name": "x", "count": -1}"#) {
            Err(ApiError::Validation(errors)) => assert_eq!(errors[0].field, "count"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn missing_and_unknown_fields_name_the_field() {
        for (raw, field) in [
            ("{}", "name"),
            (r#"{"name": "x", "bogus": 1}"#, "bogus"),
            (r#"{"name": "x", "nested": {}}"#, "nested.country"),
        ] {
            match parse(raw) {
                Err(ApiError::Validation(errors)) => assert_eq!(errors[0].field, field, "{raw}"),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn missing_and_unknown_fields_are_422() {
        assert!(matches!(parse("{}"), Err(ApiError::Validation(_))));
        assert!(matches!(
            parse(r#"{"name": "x", "bogus": 1}"#),
            Err(ApiError::Validation(_))
        ));
        assert!(matches!(parse("[1]"), Err(ApiError::Validation(_))));
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let big = format!("{{\"name\": \"{}\"}}", "x".repeat(MAX_BODY_BYTES));
        assert!(matches!(parse(&big), Err(ApiError::PayloadTooLarge)));
    }

    proptest::proptest! {
        #[test]
        fn no_body_makes_the_parser_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = json_body::<Body>(&bytes, &json());
        }

        #[test]
        fn no_json_text_makes_the_parser_panic(text in "[{}\\[\\]\",:a-z0-9 .-]{0,200}") {
            let _ = json_body::<Body>(text.as_bytes(), &json());
        }
    }

    #[test]
    fn percent_escapes_are_decoded_and_stray_percents_kept() {
        assert_eq!(percent_decode("ap%40acme.example"), "ap@acme.example");
        assert_eq!(percent_decode("ap@acme.example"), "ap@acme.example");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    proptest::proptest! {
        #[test]
        fn every_escaped_text_decodes_back(text in "\\PC{0,40}") {
            let escaped: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
            proptest::prop_assert_eq!(percent_decode(&escaped), text);
        }

        #[test]
        fn no_segment_makes_the_decoder_panic(raw in "[%0-9a-fA-Fz@.]{0,40}") {
            let _ = percent_decode(&raw);
        }
    }

    #[test]
    fn if_match_reads_quoted_versions() {
        let mut headers = HeaderMap::new();
        headers.insert("if-match", "\"7\"".parse().expect("header"));
        assert_eq!(if_match(&headers).ok().flatten(), Some(7));
        headers.insert("if-match", "nonsense".parse().expect("header"));
        assert!(if_match(&headers).is_err());
    }
}
