//! Signed-out visitors of the marketing pages (`/`, `/pricing`) all get the same HTML for the same
//! address: render it once, gzip it once, and serve the bytes from memory afterwards. Anything
//! carrying a session (cookie or bearer token) is rendered fresh, since its header and plan marks
//! are its own. The catalog and billing mode are fixed at start-up, so an entry never goes stale.
//!
//! It sits outside the other layers (timeout, compression, CSRF check, session refresh, the
//! router): none of them has anything to do for these requests, and skipping them is most of the
//! difference between a rendered page and bytes from memory.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, RwLock};

use axum::body::{to_bytes, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_TYPE, COOKIE, SET_COOKIE, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Paths whose signed-out rendering depends only on the address.
const CACHED_PATHS: [&str; 2] = ["/", "/pricing"];
/// Distinct addresses kept (query strings vary: `?interval=year`, `?coupon=…`); past this,
/// pages are rendered as usual, so random query strings cannot grow memory.
const MAX_ENTRIES: usize = 64;
/// A rendered page larger than this is not kept.
const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Clone)]
struct Page {
    content_type: HeaderValue,
    identity: Bytes,
    gzip: Bytes,
}

#[derive(Debug, Default, Clone)]
pub struct PageCache {
    pages: Arc<RwLock<HashMap<String, Page>>>,
}

impl PageCache {
    fn get(&self, key: &str) -> Option<Page> {
        self.pages.read().ok()?.get(key).cloned()
    }

    fn put(&self, key: String, page: Page) {
        if let Ok(mut pages) = self.pages.write() {
            if pages.len() < MAX_ENTRIES {
                pages.insert(key, page);
            }
        }
    }
}

/// Does the client take gzip (`Accept-Encoding: gzip`, not `gzip;q=0`)?
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

fn gzip(bytes: &[u8]) -> std::io::Result<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(bytes.len() / 3),
        flate2::Compression::best(),
    );
    encoder.write_all(bytes)?;
    encoder.finish().map(Bytes::from)
}

fn serve(page: &Page, gzip: bool) -> Response {
    let vary = (VARY, HeaderValue::from_static("accept-encoding"));
    let content_type = (CONTENT_TYPE, page.content_type.clone());
    if gzip {
        let encoding = (CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        ([content_type, vary, encoding], page.gzip.clone()).into_response()
    } else {
        ([content_type, vary], page.identity.clone()).into_response()
    }
}

pub async fn serve_cached(
    State(cache): State<PageCache>,
    request: Request,
    next: Next,
) -> Response {
    let cacheable = request.method() == Method::GET
        && CACHED_PATHS.contains(&request.uri().path())
        && !request.headers().contains_key(COOKIE)
        && !request.headers().contains_key(AUTHORIZATION);
    if !cacheable {
        return next.run(request).await;
    }
    let key = request.uri().to_string();
    let wants_gzip = accepts_gzip(request.headers());
    if let Some(page) = cache.get(&key) {
        return serve(&page, wants_gzip);
    }
    // Rendered uncompressed (the compression layer is inside this one and sees no
    // Accept-Encoding), so the entry can serve both kinds of client.
    let mut request = request;
    request.headers_mut().remove(ACCEPT_ENCODING);
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
    let (_, body) = response.into_parts();
    let page = match to_bytes(body, MAX_BODY).await {
        Ok(identity) => match gzip(&identity) {
            Ok(gzip) => Page {
                content_type,
                identity,
                gzip,
            },
            Err(e) => {
                tracing::error!(error = %e, "page cache: cannot gzip a rendered page");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        },
        // Too large or broken mid-stream: this response cannot be completed either.
        Err(e) => {
            tracing::error!(error = %e, "page cache: cannot read a rendered page");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    cache.put(key, page.clone());
    serve(&page, wants_gzip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepts(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        accepts_gzip(&headers)
    }

    #[test]
    fn gzip_is_served_only_to_clients_that_take_it() {
        assert!(accepts("gzip"));
        assert!(accepts("br, gzip;q=0.8, deflate"));
        assert!(accepts("*"));
        assert!(!accepts("gzip;q=0"));
        assert!(!accepts("br, deflate"));
        assert!(!accepts_gzip(&HeaderMap::new()));
    }
}
