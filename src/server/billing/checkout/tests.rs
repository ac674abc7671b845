//! Checkout's redirects and its refusals.

use super::*;
use proptest::prelude::*;

const SITE: &str = "https://shop.example.com";
const ALLOWED: &str = "https://app.example.com";

fn config() -> Config {
    Config::from_lookup(|k| match k {
        "SITE_URL" => Some(SITE.into()),
        "ALLOWED_REDIRECT_ORIGINS" => Some(ALLOWED.into()),
        "AUTH_JWT_SECRET" => Some("0123456789abcdef0123456789abcdef".into()),
        _ => None,
    })
    .unwrap()
}

/// Beginnings that look like ours and are not, and ones that are.
fn lookalike() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "https://shop.example.com",
        "https://shop.example.com.evil.com",
        "https://shop.example.com@evil.com",
        "https://evil.com#https://shop.example.com",
        "https://evil.com?https://shop.example.com",
        "//shop.example.com",
        "https:/shop.example.com",
        "https:\\\\evil.com",
        "http://shop.example.com",
        "https://shop.example.com:8443",
        "https://SHOP.EXAMPLE.COM",
        "https://app.example.com",
        "https://xn--shp-sna.example.com",
        "javascript:alert(1)//https://shop.example.com",
        "https://shop.example.com%2F@evil.com",
        "https://evil.com/https://shop.example.com",
        "",
    ])
    .prop_map(str::to_string)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: crate::server::fuzz_cases(4000),
        ..ProptestConfig::default()
    })]

    /// Fuzz: whatever the string, the check never panics, and it only lets through an
    /// absolute http(s) URL whose origin is the site's or an allowed one, as a parser
    /// reads it.
    #[test]
    fn only_urls_on_our_origins_pass_the_redirect_check(
        start in lookalike(),
        rest in prop_oneof![".{0,40}", "[/?#@:.%a-z0-9\\\\]{0,30}", Just(String::new())],
    ) {
        let config = config();
        let url = format!("{start}{rest}");
        if check_redirect(&config, &url, "successUrl").is_ok() {
            let parsed = url::Url::parse(&url).expect("accepted URLs parse");
            let origin = parsed.origin().ascii_serialization();
            prop_assert!(origin == SITE || origin == ALLOWED, "{url} -> {origin}");
            prop_assert!(matches!(parsed.scheme(), "http" | "https"));
            prop_assert!(!url.bytes().any(|b| b <= b' ' || b == b'\\'));
        }
    }

    #[test]
    fn any_path_and_query_on_our_origin_passes_the_redirect_check(path in "(/[a-zA-Z0-9_.~-]{0,12}){0,4}", query in "[a-z0-9=&_{}-]{0,30}") {
        let url = format!("{SITE}{path}?{query}");
        prop_assert!(check_redirect(&config(), &url, "successUrl").is_ok(), "{}", url);
    }
}
