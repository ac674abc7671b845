//! Where the site runs and what it is called: Leptos's options (listening address, site root,
//! environment, reload port), the public origin (`SITE_URL`, or one made from the address), and
//! the other origins Checkout may send buyers back to.

use std::net::SocketAddr;

use leptos::config::{Env, LeptosOptions};
use url::Url;

use super::env::{bad, ConfigError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteUrl(Url);

impl SiteUrl {
    /// The origin without a trailing slash, ready for `format!("{}/success", …)`.
    pub fn origin(&self) -> String {
        self.0.origin().ascii_serialization()
    }

    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }
}

pub(super) fn leptos_options(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<LeptosOptions, ConfigError> {
    let site_addr: SocketAddr = match get("LEPTOS_SITE_ADDR") {
        Some(raw) => raw.parse().map_err(|_| {
            bad(
                "LEPTOS_SITE_ADDR",
                format!("expected IP:PORT such as 127.0.0.1:3000, got `{raw}`"),
            )
        })?,
        None => SocketAddr::from(([127, 0, 0, 1], 3000)),
    };
    let env = match get("LEPTOS_ENV").map(|v| v.to_ascii_lowercase()).as_deref() {
        None | Some("dev") | Some("development") => Env::DEV,
        Some("prod") | Some("production") => Env::PROD,
        Some(other) => {
            return Err(bad(
                "LEPTOS_ENV",
                format!("expected DEV or PROD, got `{other}`"),
            ))
        }
    };
    let reload_port: u32 = match get("LEPTOS_RELOAD_PORT") {
        Some(raw) => raw
            .parse()
            .ok()
            .filter(|p| *p <= u32::from(u16::MAX))
            .ok_or_else(|| {
                bad(
                    "LEPTOS_RELOAD_PORT",
                    format!("expected a port number, got `{raw}`"),
                )
            })?,
        None => 3001,
    };
    Ok(LeptosOptions::builder()
        .output_name(get("LEPTOS_OUTPUT_NAME").unwrap_or_else(|| "landing".into()))
        .site_root(get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".into()))
        .site_pkg_dir(get("LEPTOS_SITE_PKG_DIR").unwrap_or_else(|| "pkg".into()))
        .env(env)
        .site_addr(site_addr)
        .reload_port(reload_port)
        .build())
}

pub(super) fn parse_site_url(raw: &str) -> Result<SiteUrl, ConfigError> {
    let url = Url::parse(raw)
        .map_err(|e| bad("SITE_URL", format!("`{raw}` is not an absolute URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(
            "SITE_URL",
            format!("expected http(s)://HOST, got `{raw}`"),
        ));
    }
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
        return Err(bad(
            "SITE_URL",
            format!("must be an origin such as https://example.com (no path, query or fragment), got `{raw}`"),
        ));
    }
    Ok(SiteUrl(url))
}

pub(super) fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            parse_site_url(s).map(|u| u.origin()).map_err(|_| {
                bad(
                    "ALLOWED_REDIRECT_ORIGINS",
                    format!("`{s}` is not an origin such as https://example.com"),
                )
            })
        })
        .collect()
}

/// Without `SITE_URL`, the address the site listens on; a wildcard address becomes `localhost`,
/// which a browser can open.
pub(super) fn default_site_url(addr: SocketAddr) -> SiteUrl {
    let host = if addr.ip().is_unspecified() {
        "localhost".to_string()
    } else {
        addr.ip().to_string()
    };
    let url = Url::parse(&format!("http://{host}:{}", addr.port()))
        .expect("an IP and a port always make a URL");
    SiteUrl(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::config::testing::{error_var, parse};

    #[test]
    fn site_url_must_be_a_bare_http_origin() {
        assert_eq!(
            parse(&[("SITE_URL", "https://shop.example.com/")])
                .unwrap()
                .site_url
                .origin(),
            "https://shop.example.com"
        );
        for bad_value in [
            "shop.example.com",
            "ftp://x.com",
            "https://x.com/app",
            "https://x.com?a=1",
        ] {
            assert_eq!(
                error_var(&[("SITE_URL", bad_value)]),
                "SITE_URL",
                "{bad_value}"
            );
        }
    }

    #[test]
    fn leptos_settings_are_checked() {
        assert_eq!(
            error_var(&[("LEPTOS_SITE_ADDR", "localhost")]),
            "LEPTOS_SITE_ADDR"
        );
        assert_eq!(error_var(&[("LEPTOS_ENV", "staging")]), "LEPTOS_ENV");
        assert_eq!(
            error_var(&[("LEPTOS_RELOAD_PORT", "99999")]),
            "LEPTOS_RELOAD_PORT"
        );
        let c = parse(&[("LEPTOS_SITE_ADDR", "0.0.0.0:8080"), ("LEPTOS_ENV", "PROD")]).unwrap();
        assert_eq!(c.site_url.origin(), "http://localhost:8080");
        assert_eq!(c.leptos.env, Env::PROD);
    }

    #[test]
    fn allowed_redirect_origins_are_a_list_of_origins() {
        let c = parse(&[(
            "ALLOWED_REDIRECT_ORIGINS",
            "https://a.example.com, http://localhost:5173",
        )])
        .unwrap();
        assert_eq!(
            c.allowed_redirect_origins,
            ["https://a.example.com", "http://localhost:5173"]
        );
        assert_eq!(
            error_var(&[("ALLOWED_REDIRECT_ORIGINS", "https://a.example.com/path")]),
            "ALLOWED_REDIRECT_ORIGINS"
        );
    }
}
