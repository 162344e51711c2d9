//! Entity tags for GeoJSON responses, and conditional GETs (`If-None-Match` → 304).
//!
//! A response is a function of the store's data version (which the snapshot carries, and which
//! never repeats) and of the clock: a report's `overdue` flag and a ward's overdue counts turn on
//! as due times pass, with no write. At one data version those flags only ever turn on (status
//! and due times change only by a write), so the number of overdue items in a response grows
//! with time and names which of them are overdue. The tag is therefore `W/"{version}-{overdue}"`:
//! it changes with every write and whenever a due time passes within the response, and is never
//! reused for other content. It is weak because equal tags promise the same content, not the same
//! bytes (compression, key order).

use crate::model::Report;
use axum::http::header::{CACHE_CONTROL, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

/// The entity tag of one response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    /// The tag of a response made from data `version` in which `overdue` items are overdue.
    pub fn new(version: u64, overdue: u64) -> Self {
        Self(format!("W/\"{version}-{overdue}\""))
    }

    /// The tag of a response listing `reports` from data `version`.
    pub fn for_reports<'a>(version: u64, reports: impl IntoIterator<Item = &'a Report>) -> Self {
        let now = Utc::now();
        let overdue = reports.into_iter().filter(|r| r.is_overdue_at(now)).count();
        Self::new(version, overdue as u64)
    }

    /// Whether the request's `If-None-Match` names this tag (weak comparison, RFC 9110 §13.1.2),
    /// or is `*`.
    pub fn matches(&self, request: &HeaderMap) -> bool {
        let opaque = |t: &str| t.trim().trim_start_matches("W/").to_string();
        let mine = opaque(&self.0);
        request
            .get_all(IF_NONE_MATCH)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim() == "*" || opaque(t) == mine)
    }

    /// 304 Not Modified when the request already holds this tag; otherwise the response `body`
    /// makes (only then made). Either way with the tag.
    pub fn answer<R: IntoResponse>(
        &self,
        request: &HeaderMap,
        body: impl FnOnce() -> R,
    ) -> Response {
        if self.matches(request) {
            self.attach(StatusCode::NOT_MODIFIED)
        } else {
            self.attach(body())
        }
    }

    /// The response with this tag, and `Cache-Control: no-cache` so that clients revalidate
    /// (a conditional GET is cheap) rather than reuse it unchecked.
    pub fn attach(&self, response: impl IntoResponse) -> Response {
        let mut response = response.into_response();
        let headers = response.headers_mut();
        if let Ok(value) = HeaderValue::from_str(&self.0) {
            headers.insert(ETAG, value);
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asking(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, HeaderValue::from_str(value).expect("ascii"));
        h
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_star() {
        let tag = Tag::new(42, 7);
        assert!(tag.matches(&asking("W/\"42-7\"")));
        assert!(tag.matches(&asking("\"42-7\"")));
        assert!(tag.matches(&asking("\"1-0\", W/\"42-7\"")));
        assert!(tag.matches(&asking("*")));
        assert!(!tag.matches(&asking("W/\"42-8\"")));
        assert!(!tag.matches(&asking("W/\"4-27\"")));
        assert!(!tag.matches(&HeaderMap::new()));
    }

    #[test]
    fn a_match_is_304_and_anything_else_the_body_both_tagged() {
        let tag = Tag::new(3, 0);
        let r = tag.answer(&asking("W/\"3-0\""), || -> Response { unreachable!() });
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(r.headers()[ETAG], "W/\"3-0\"");
        let r = tag.answer(&asking("W/\"2-0\""), || "body");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[ETAG], "W/\"3-0\"");
    }
}
