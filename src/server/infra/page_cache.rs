//! The marketing pages (`/`, `/pricing`) are the same for everyone at an address, but for two
//! things: who is signed in (the header's email) and which plan they have (a mark on its card).
//! So they are rendered once per variant and served from memory afterwards:
//!
//! - signed out: the page, kept as it is and gzipped once. This layer sits outside every other
//!   (timeout, compression, CSRF check, session refresh, the router): none of them has anything to
//!   do for these requests, and skipping them is most of the difference between a rendered page
//!   and bytes from memory.
//! - signed in: a template per address and plan, the email cut out, filled in per request (and
//!   gzipped, for clients that take it). This layer sits just inside the signed-out one, before
//!   the router and the other layers too, and costs the token's verification and one query for
//!   the plan; anything else about the person is not on these pages. A token due for renewal
//!   takes the usual path, through the session refresh that renews it.
//!
//! The catalog and billing mode are fixed at start-up, so an entry never goes stale.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::sync::{Arc, RwLock};

use axum::body::{to_bytes, Bytes};
use axum::extract::{Request, State};
use axum::http::header::{
    ACCEPT_ENCODING, AUTHORIZATION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, COOKIE,
    SET_COOKIE, VARY,
};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::server::error::ServerError;

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

/// A bounded map from key to page; past `MAX_ENTRIES`, pages are rendered as usual.
#[derive(Debug)]
struct Pages<K, V>(RwLock<HashMap<K, V>>);

impl<K, V> Default for Pages<K, V> {
    fn default() -> Self {
        Pages(RwLock::new(HashMap::new()))
    }
}

impl<K: std::hash::Hash + Eq, V: Clone> Pages<K, V> {
    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        self.0.read().ok()?.get(key).cloned()
    }

    fn put(&self, key: K, value: V) {
        if let Ok(mut pages) = self.0.write() {
            if pages.len() < MAX_ENTRIES {
                pages.insert(key, value);
            }
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct PageCache {
    signed_out: Arc<Pages<String, Page>>,
    /// By address and subscribed price (`None`: no subscription).
    member: Arc<Pages<(String, Option<String>), Template>>,
}

/// A signed-in page with the person's email cut out.
#[derive(Debug, Clone)]
struct Template {
    content_type: HeaderValue,
    before: Bytes,
    after: Bytes,
}

impl Template {
    /// Cuts `email` out of `page`, if it is there exactly once and reads the same escaped.
    fn cut(content_type: HeaderValue, page: &[u8], email: &str) -> Option<Template> {
        if !is_plain(email) {
            return None;
        }
        let at = find(page, email.as_bytes())?;
        let end = at + email.len();
        if find(&page[end..], email.as_bytes()).is_some() {
            return None;
        }
        Some(Template {
            content_type,
            before: Bytes::copy_from_slice(&page[..at]),
            after: Bytes::copy_from_slice(&page[end..]),
        })
    }

    /// The page for `email`, escaped as HTML: the email comes from a session token, and a
    /// token signed with our secret elsewhere (Supabase's) may carry any text.
    fn fill(&self, email: &str) -> Bytes {
        let email = escape_html(email);
        let mut body = Vec::with_capacity(self.before.len() + email.len() + self.after.len());
        body.extend_from_slice(&self.before);
        body.extend_from_slice(email.as_bytes());
        body.extend_from_slice(&self.after);
        Bytes::from(body)
    }
}

/// Text made safe for an element's content or a quoted attribute.
fn escape_html(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Characters HTML never escapes, so the email is in the page as it is.
fn is_plain(email: &str) -> bool {
    !email.is_empty()
        && email
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@.-_+".contains(&b))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A page this cache keeps: one of its paths, with no query or only the interval switch's. Any
/// other query (a coupon link, a way back from Checkout, or parameters nobody uses) is rendered
/// as usual, so addresses made up by anyone cannot fill the bounded cache and push out the
/// pages everyone asks for.
fn is_cacheable_path(request: &Request) -> bool {
    cached_route(request).is_some() && is_kept_query(request.uri().query())
}

fn is_kept_query(query: Option<&str>) -> bool {
    matches!(query, None | Some("interval=month" | "interval=year"))
}

/// The page a request asks for, if it is one this cache serves (its route, for `/metrics`).
pub fn cached_route(request: &Request) -> Option<&'static str> {
    if request.method() != Method::GET {
        return None;
    }
    let path = request.uri().path();
    CACHED_PATHS.iter().copied().find(|p| *p == path)
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

/// Gzip at `level`: the best for a page compressed once and kept, fast for one sent once.
fn gzip(bytes: &[u8], level: flate2::Compression) -> std::io::Result<Bytes> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 3), level);
    encoder.write_all(bytes)?;
    encoder.finish().map(Bytes::from)
}

fn serve(page: &Page, gzip: bool) -> Response {
    let body = if gzip { &page.gzip } else { &page.identity };
    respond(page.content_type.clone(), body.clone(), gzip)
}

fn respond(content_type: HeaderValue, body: Bytes, gzipped: bool) -> Response {
    let vary = (VARY, HeaderValue::from_static("accept-encoding"));
    let content_type = (CONTENT_TYPE, content_type);
    if gzipped {
        let encoding = (CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        ([content_type, vary, encoding], body).into_response()
    } else {
        ([content_type, vary], body).into_response()
    }
}

/// A page made for one request: gzipped (fast) when the client takes it.
fn serve_once(content_type: HeaderValue, body: Bytes, wants_gzip: bool) -> Response {
    if !wants_gzip {
        return respond(content_type, body, false);
    }
    match gzip(&body, flate2::Compression::fast()) {
        Ok(gzipped) => respond(content_type, gzipped, true),
        Err(e) => {
            tracing::error!(error = %e, "page cache: cannot gzip a page");
            respond(content_type, body, false)
        }
    }
}

/// Renders the page: its parts, content type and bytes when it may be kept (a 200 that sets no
/// cookie), or the response to send as it is.
async fn render(
    request: Request,
    next: Next,
) -> Result<(axum::http::response::Parts, HeaderValue, Bytes), Response> {
    let response = next.run(request).await;
    let keep = response.status() == StatusCode::OK && !response.headers().contains_key(SET_COOKIE);
    let Some(content_type) = response
        .headers()
        .get(CONTENT_TYPE)
        .cloned()
        .filter(|_| keep)
    else {
        return Err(response);
    };
    let (parts, body) = response.into_parts();
    match to_bytes(body, MAX_BODY).await {
        Ok(bytes) => Ok((parts, content_type, bytes)),
        // Too large or broken mid-stream: this response cannot be completed either.
        Err(e) => {
            tracing::error!(error = %e, "page cache: cannot read a rendered page");
            Err(StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
    }
}

/// Signed-out pages, from memory.
pub async fn serve_cached(
    State(cache): State<PageCache>,
    request: Request,
    next: Next,
) -> Response {
    let cacheable = is_cacheable_path(&request)
        && !request.headers().contains_key(COOKIE)
        && !request.headers().contains_key(AUTHORIZATION);
    if !cacheable {
        return next.run(request).await;
    }
    tracing::Span::current().record("route", request.uri().path());
    let key = request.uri().to_string();
    let wants_gzip = accepts_gzip(request.headers());
    if let Some(page) = cache.signed_out.get(&key) {
        return serve(&page, wants_gzip);
    }
    // Rendered uncompressed (the compression layer is inside this one and sees no
    // Accept-Encoding), so the entry can serve both kinds of client.
    let mut request = request;
    request.headers_mut().remove(ACCEPT_ENCODING);
    let (_, content_type, identity) = match render(request, next).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    let page = match gzip(&identity, flate2::Compression::best()) {
        Ok(gzip) => Page {
            content_type,
            identity,
            gzip,
        },
        Err(e) => {
            tracing::error!(error = %e, "page cache: cannot gzip a rendered page");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    cache.signed_out.put(key, page.clone());
    serve(&page, wants_gzip)
}

/// What the signed-in variant needs from the site, which answers it: the cache knows nothing of
/// sessions or billing.
pub trait Members: Send + Sync + 'static {
    type User: Send;

    /// Who the request's session cookie names, and their email, read from the cookie alone;
    /// `None` (no cookie, or one that must take the usual path) renders as usual.
    fn signed_in(&self, headers: &HeaderMap) -> Option<(Self::User, String)>;

    /// The one thing on these pages that is the person's besides the email: the price they
    /// subscribe to (marked "Your current plan", the others "Switch to …").
    fn plan(
        &self,
        user: Self::User,
    ) -> impl Future<Output = Result<Option<String>, ServerError>> + Send;
}

/// The signed-in cache and the site that says who is signed in.
pub struct MemberPages<M> {
    pub cache: PageCache,
    pub members: M,
}

impl<M: Clone> Clone for MemberPages<M> {
    fn clone(&self) -> Self {
        MemberPages {
            cache: self.cache.clone(),
            members: self.members.clone(),
        }
    }
}

/// Signed-in pages (a session cookie), from a template per address and plan.
pub async fn serve_member_cached<M: Members>(
    State(pages): State<MemberPages<M>>,
    request: Request,
    next: Next,
) -> Response {
    let session = (is_cacheable_path(&request) && !request.headers().contains_key(AUTHORIZATION))
        .then(|| pages.members.signed_in(request.headers()))
        .flatten();
    let Some((user, email)) = session else {
        return next.run(request).await;
    };
    let plan = match pages.members.plan(user).await {
        Ok(plan) => plan,
        // The render reads it again, and answers (and logs) what went wrong.
        Err(_) => return next.run(request).await,
    };
    let key = (request.uri().to_string(), plan);
    let wants_gzip = accepts_gzip(request.headers());
    if let Some(template) = pages.cache.member.get(&key) {
        return serve_once(
            template.content_type.clone(),
            template.fill(&email),
            wants_gzip,
        );
    }
    // Rendered uncompressed, as for the signed-out entries, so the template is plain text.
    let mut request = request;
    request.headers_mut().remove(ACCEPT_ENCODING);
    let (parts, content_type, bytes) = match render(request, next).await {
        Ok(page) => page,
        Err(response) => return response,
    };
    if let Some(template) = Template::cut(content_type.clone(), &bytes, &email) {
        pages.cache.member.put(key, template);
    }
    let mut response = serve_once(content_type, bytes, wants_gzip);
    // Headers the render set, its own content type and length aside, go out as they came.
    for (name, value) in parts.headers.iter() {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH && !response.headers().contains_key(name)
        {
            response.headers_mut().insert(name, value.clone());
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_plain_pages_and_the_interval_switch_are_kept() {
        for kept in [None, Some("interval=month"), Some("interval=year")] {
            assert!(is_kept_query(kept), "{kept:?}");
        }
        for made_up in [
            "interval=week",
            "x=1",
            "interval=year&x=1",
            "checkout_error=busy",
            "coupon=LAUNCH20",
            "",
        ] {
            assert!(!is_kept_query(Some(made_up)), "{made_up}");
        }
    }

    fn accepts(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
        accepts_gzip(&headers)
    }

    #[test]
    fn an_email_is_cut_out_only_when_it_is_there_once_and_unescaped() {
        let html = HeaderValue::from_static("text/html");
        let page = b"<p>Signed in as <strong>a@b.co</strong></p><main>x</main>";
        let t = Template::cut(html.clone(), page, "a@b.co").expect("once");
        assert_eq!(&t.before[..], b"<p>Signed in as <strong>");
        assert_eq!(&t.after[..], b"</strong></p><main>x</main>");
        assert!(Template::cut(html.clone(), b"a@b.co a@b.co", "a@b.co").is_none());
        assert!(Template::cut(html.clone(), b"nobody", "a@b.co").is_none());
        // `&` would be `&amp;` in the page.
        assert!(Template::cut(html, b"x&y@b.co", "x&y@b.co").is_none());
    }

    #[test]
    fn a_template_fills_in_another_email_escaped_as_html() {
        let html = HeaderValue::from_static("text/html");
        let page = b"<p title=\"a@b.co\">Signed in</p>";
        let t = Template::cut(html, page, "a@b.co").expect("once");
        assert_eq!(&t.fill("a@b.co")[..], &page[..], "a plain email as it was");
        assert_eq!(
            &t.fill(r#"a<b>"c'd&e@example.com"#)[..],
            &b"<p title=\"a&lt;b&gt;&quot;c&#39;d&amp;e@example.com\">Signed in</p>"[..]
        );
        assert_eq!(
            &t.fill("<script>alert(1)</script>@x.co")[..],
            &b"<p title=\"&lt;script&gt;alert(1)&lt;/script&gt;@x.co\">Signed in</p>"[..]
        );
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
