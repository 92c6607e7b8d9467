//! Field-level validation errors: what was wrong, and where.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, Utc};

/// One invalid field: a JSON-pointer-like path (`billing_address.country`) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error, nested under `parent` (`country` becomes `billing_address.country`).
    pub fn under(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Collects field errors so a request reports every problem at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value when `result` is Ok, records the error otherwise.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.errors.push(e);
                None
            }
        }
    }

    pub fn push(&mut self, error: FieldError) {
        self.errors.push(error);
    }

    pub fn extend(&mut self, errors: impl IntoIterator<Item = FieldError>) {
        self.errors.extend(errors);
    }

    /// Like [`Validator::finish`], with every field nested under `parent`.
    pub fn finish_under(self, parent: &str) -> Result<(), Vec<FieldError>> {
        self.finish()
            .map_err(|errors| errors.into_iter().map(|e| e.under(parent)).collect())
    }

    /// Ok when nothing was recorded.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// A trimmed, non-empty string of at most `max` characters without control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    if trimmed.chars().any(is_invisible_format) {
        return Err(FieldError::new(
            field,
            "must not contain direction overrides or zero-width characters",
        ));
    }
    Ok(trimmed.to_owned())
}

/// Characters that change how text around them reads without showing themselves: bidi
/// embeddings, overrides, isolates and marks, and zero-width spaces and joiners (a name
/// `Acme\u{202e}gpj.exe` shows as another name in an invoice or an email).
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{061c}'
            | '\u{feff}'
    )
}

/// Like [`text`] for an optional value; `None` stays `None`.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, FieldError> {
    value.map(|v| text(field, v, max)).transpose()
}

/// How far ahead of now a time from outside may lie (a pause's end, a coupon's or a code's
/// expiry, the test clock's target): ten years. Nothing here needs more, and every stored time
/// stays far inside what the store and every reader can hold.
pub const TIME_HORIZON_DAYS: i64 = 3653;

/// A time from outside that must lie after `now` and within [`TIME_HORIZON_DAYS`] of it (so in
/// the years 1970 to 9999 too).
pub fn future_time(
    field: &str,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, FieldError> {
    if at <= now {
        return Err(FieldError::new(field, "must be in the future"));
    }
    let horizon = now.checked_add_signed(Duration::days(TIME_HORIZON_DAYS));
    if horizon.is_none_or(|h| at > h) || !(1970..=9999).contains(&at.year()) {
        return Err(FieldError::new(
            field,
            format!("must be at most {TIME_HORIZON_DAYS} days (ten years) ahead"),
        ));
    }
    Ok(at)
}

#[cfg(test)]
mod text_tests {
    use super::*;

    #[test]
    fn direction_overrides_and_zero_width_characters_are_refused() {
        for bad in [
            "Acme\u{202e}gpj.exe",
            "Ac\u{200b}me",
            "\u{2066}Acme\u{2069}",
            "Acme\u{feff}",
        ] {
            assert_eq!(
                text("name", bad, 100).map_err(|e| e.field),
                Err("name".to_owned()),
                "{bad:?}"
            );
        }
        // Letters of any script are names.
        assert_eq!(
            text("name", "Société Générale — 東京", 100).ok().as_deref(),
            Some("Société Générale — 東京")
        );
    }
}

#[cfg(test)]
mod time_tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0)
            .single()
            .expect("time")
    }

    #[test]
    fn a_time_within_the_horizon_is_taken() {
        let at = now() + Duration::days(TIME_HORIZON_DAYS);
        assert_eq!(future_time("resumes_at", at, now()), Ok(at));
    }

    #[test]
    fn the_past_and_beyond_the_horizon_are_refused() {
        for at in [
            now(),
            now() - Duration::days(1),
            now() + Duration::days(TIME_HORIZON_DAYS) + Duration::seconds(1),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59)
                .single()
                .expect("time"),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0)
                .single()
                .expect("time"),
        ] {
            let refused = future_time("resumes_at", at, now());
            assert_eq!(
                refused.map_err(|e| e.field),
                Err("resumes_at".to_owned()),
                "{at}"
            );
        }
    }
}
