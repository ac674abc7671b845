//! The headers every response carries so a browser holds the site to what it is: scripts only
//! from here (and the one inline loader Leptos writes, by its hash), no framing, no MIME
//! guessing, no referrer beyond our origin, forms posting only here or to Stripe's pages, and
//! HSTS when the site is served over https.
//!
//! The loader's hash is taken from Leptos's own rendering of it at start-up, so it always
//! matches what the pages carry.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine as _;
use leptos::config::{Env, LeptosOptions};
use leptos::prelude::*;
use sha2::{Digest, Sha256};

use super::config::Config;

const CROSS_ORIGIN_OPENER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-opener-policy");

/// The headers, built once.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    csp: HeaderValue,
    hsts: Option<HeaderValue>,
}

impl SecurityHeaders {
    pub fn new(config: &Config) -> SecurityHeaders {
        let scripts = inline_script_hashes(&config.leptos).join(" ");
        // Where the buy and billing forms' redirects lead: form-action covers redirects too.
        let stripe_pages = if config.stripe_api_base.host_str() == Some("api.stripe.com") {
            "https://checkout.stripe.com https://billing.stripe.com".to_string()
        } else {
            config.stripe_api_base.origin().ascii_serialization()
        };
        // `cargo leptos watch` reloads the page over a WebSocket in development.
        let reload = match config.leptos.env {
            Env::DEV => format!(
                " ws://{}:{}",
                config.leptos.site_addr.ip(),
                config.leptos.reload_port
            ),
            Env::PROD => String::new(),
        };
        let csp = format!(
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' {scripts}; \
             style-src 'self'; img-src 'self' data:; connect-src 'self'{reload}; \
             form-action 'self' {stripe_pages}; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'"
        );
        SecurityHeaders {
            csp: HeaderValue::from_str(&csp).expect("the policy is ASCII"),
            hsts: config
                .site_url
                .is_https()
                .then(|| HeaderValue::from_static("max-age=63072000; includeSubDomains")),
        }
    }

    pub fn content_security_policy(&self) -> &HeaderValue {
        &self.csp
    }
}

/// The scripts Leptos writes after an async page's body for the resources it serialized. In
/// islands mode nothing outside an island is serialized, and our islands read no resource, so
/// they are always these empty lists (the hardening tests check every page against the policy).
const HYDRATION_DATA: [&str; 2] = [
    "__RESOLVED_RESOURCES=[];__SERIALIZED_ERRORS=[];__PENDING_RESOURCES=[];__RESOURCE_RESOLVERS=[];",
    "__INCOMPLETE_CHUNKS=[];",
];

/// `'sha256-…'` of every inline script the pages write.
fn inline_script_hashes(options: &LeptosOptions) -> Vec<String> {
    let owner = Owner::new();
    let html = owner.with(|| {
        let options = options.clone();
        view! {
            <AutoReload options=options.clone()/>
            <HydrationScripts options islands=true/>
        }
        .to_html()
    });
    inline_scripts(&html)
        .chain(HYDRATION_DATA)
        .map(|script| {
            let digest = Sha256::digest(script.as_bytes());
            format!(
                "'sha256-{}'",
                base64::engine::general_purpose::STANDARD.encode(digest)
            )
        })
        .collect()
}

/// The text of each `<script>` without a `src`.
pub fn inline_scripts(html: &str) -> impl Iterator<Item = &str> {
    html.split("<script").skip(1).filter_map(|rest| {
        let (attributes, rest) = rest.split_once('>')?;
        let (text, _) = rest.split_once("</script>")?;
        (!attributes.contains("src=")).then_some(text)
    })
}

pub async fn add_headers(
    State(headers): State<Arc<SecurityHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, headers.csp.clone());
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(
        CROSS_ORIGIN_OPENER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if let Some(hsts) = &headers.hsts {
        h.insert(STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_scripts_are_found_and_external_ones_skipped() {
        let html = r#"<head><script src="/pkg/a.js"></script><script type="module">go()</script></head><p><script>x</script>"#;
        assert_eq!(inline_scripts(html).collect::<Vec<_>>(), ["go()", "x"]);
    }
}
