//! Cursor pagination as Stripe does it: `limit` and `starting_after`.

/// At most this many items per page.
pub const MAX_LIMIT: u32 = 100;
/// Items per page when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    /// The id of the last item of the previous page.
    pub starting_after: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            starting_after: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            has_more: self.has_more,
        }
    }
}
