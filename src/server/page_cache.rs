//! Signed-out visitors of the marketing pages (`/`, `/pricing`) all get the same HTML for the same
//! address: render it once and serve the bytes from memory afterwards. Anything carrying a
//! session (cookie or bearer token) is rendered fresh, since its header and plan marks are its own.
//! The catalog and billing mode are fixed at start-up, so an entry never goes stale.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::state::AppState;

/// Paths whose signed-out rendering depends only on the address.
const CACHED_PATHS: [&str; 2] = ["/", "/pricing"];
/// Distinct addresses kept (query strings vary: `?interval=year`, `?coupon=…`); past this,
/// pages are rendered as usual, so random query strings cannot grow memory.
const MAX_ENTRIES: usize = 64;
/// A rendered page larger than this is not kept.
const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Default, Clone)]
pub struct PageCache {
    pages: Arc<RwLock<HashMap<String, (HeaderValue, Bytes)>>>,
}

impl PageCache {
    fn get(&self, key: &str) -> Option<(HeaderValue, Bytes)> {
        self.pages.read().ok()?.get(key).cloned()
    }

    fn put(&self, key: String, content_type: HeaderValue, body: Bytes) {
        if let Ok(mut pages) = self.pages.write() {
            if pages.len() < MAX_ENTRIES {
                pages.insert(key, (content_type, body));
            }
        }
    }
}

pub async fn serve_cached(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let cacheable = request.method() == Method::GET
        && CACHED_PATHS.contains(&request.uri().path())
        && !request.headers().contains_key(COOKIE)
        && !request.headers().contains_key(AUTHORIZATION);
    if !cacheable {
        return next.run(request).await;
    }
    let key = request.uri().to_string();
    if let Some((content_type, body)) = state.page_cache.get(&key) {
        return ([(CONTENT_TYPE, content_type)], body).into_response();
    }
    let response = next.run(request).await;
    let keep = response.status() == StatusCode::OK && !response.headers().contains_key(SET_COOKIE);
    let Some(content_type) = response
        .headers()
        .get(CONTENT_TYPE)
        .cloned()
        .filter(|_| keep)
    else {
        return response;
    };
    let (parts, body) = response.into_parts();
    match to_bytes(body, MAX_BODY).await {
        Ok(bytes) => {
            state.page_cache.put(key, content_type, bytes.clone());
            Response::from_parts(parts, Body::from(bytes))
        }
        // Too large or broken mid-stream: this response cannot be completed either.
        Err(e) => {
            tracing::error!(error = %e, "page cache: cannot read a rendered page");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
