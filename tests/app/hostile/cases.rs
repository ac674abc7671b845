//! The generated requests of the hostile-input test: proptest strategies for text, JSON, bodies,
//! headers, webhook deliveries and whole attempts against each route, and raw bytes that are not
//! HTTP.

use proptest::prelude::*;
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::WEBHOOK_SECRET;

/// One generated request.
#[derive(Clone)]
pub(super) struct Attempt {
    pub(super) target: &'static str,
    pub(super) method: Method,
    pub(super) path: String,
    pub(super) headers: Vec<(String, Vec<u8>)>,
    pub(super) body: Vec<u8>,
    /// A browser form: a redirect back to the form with `?error=` is a rejection too.
    pub(super) browser_form: bool,
    /// Sent with a real session (and our Origin), so the code past the sign-in check is tried.
    pub(super) signed_in: bool,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = |b: &[u8]| {
            let s = String::from_utf8_lossy(b);
            s.chars().take(200).collect::<String>()
        };
        let headers: Vec<_> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", text(v)))
            .collect();
        write!(
            f,
            "{} {} {headers:?} body {:?} ({} bytes)",
            self.method,
            self.path,
            text(&self.body),
            self.body.len()
        )
    }
}

/// Text as an attacker writes it: any Unicode, control characters, huge numbers, quotes,
/// path traversal, SQL and markup, empty.
fn nasty_text() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        "[\\x00-\\x1f\\x7f]{1,8}",
        Just(String::new()),
        Just("' OR 1=1 --".to_string()),
        Just("<script>alert(1)</script>".to_string()),
        Just("../../etc/passwd".to_string()),
        Just("\u{202e}\u{200b}\u{feff}".to_string()),
        Just("9".repeat(400)),
        Just("-9223372036854775809".to_string()),
        Just("1e309".to_string()),
        Just("NaN".to_string()),
        "[a-z]{2000,3000}",
        Just("%00%ff%zz".to_string()),
    ]
}

/// Any JSON, a few levels deep, with numbers at their limits.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        nasty_text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(nasty_text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A body that is not what the route wants: bytes, broken JSON, JSON of the wrong shape, deep
/// nesting, an empty body.
fn junk_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        json_value().prop_map(|v| {
            // Cut anywhere, through a character too.
            let mut bytes = v.to_string().into_bytes();
            bytes.truncate(bytes.len() / 2);
            bytes
        }),
        (1usize..5000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes()),
        Just(Vec::new()),
        Just(b"\xef\xbb\xbf{\"priceId\": \"\xc3\x28\"}".to_vec()),
    ]
}

fn header_value() -> impl Strategy<Value = Vec<u8>> {
    // What a header may carry on the wire: visible ASCII, spaces, tabs and obs-text.
    prop::collection::vec(
        prop_oneof![0x20u8..=0x7e, Just(b'\t'), 0x80u8..=0xff],
        0..300,
    )
}

fn content_type() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"application/json".to_vec()),
        Just(b"application/x-www-form-urlencoded".to_vec()),
        Just(b"text/plain; charset=utf-16".to_vec()),
        Just(b"multipart/form-data; boundary=x".to_vec()),
        header_value(),
    ]
}

/// Checkout fields that are never all valid: a price outside the catalog, a foreign or broken
/// URL, a wrong mode, a coupon that is not a coupon code, or a field missing or mistyped.
fn checkout_body() -> impl Strategy<Value = Vec<u8>> {
    let price = prop_oneof![
        nasty_text().prop_filter("not a catalog price", |p| !is_catalog_price(p)),
        Just(Value::from(12)).prop_map(|v| v.to_string()),
    ];
    let url = prop_oneof![
        Just("https://evil.example/steal".to_string()),
        Just("javascript:alert(1)".to_string()),
        Just("//evil.example".to_string()),
        nasty_text(),
    ];
    prop_oneof![
        // Unknown price, anything else.
        (price, json_value(), json_value(), json_value()).prop_map(|(p, m, s, c)| {
            json!({"priceId": p, "mode": m, "successUrl": s, "cancelUrl": c}).to_string()
        }),
        // A real price sent somewhere else.
        (url.clone(), url).prop_map(|(s, c)| {
            json!({"priceId": "pro_monthly", "mode": "subscription", "successUrl": s, "cancelUrl": c})
                .to_string()
        }),
        // A real price with the wrong mode.
        Just(json!({"priceId": "lifetime_once", "mode": "subscription",
            "successUrl": "http://127.0.0.1/s", "cancelUrl": "http://127.0.0.1/c"})
        .to_string()),
        // Fields of the wrong type, or missing.
        prop::collection::btree_map(
            prop_oneof![
                Just("priceId".to_string()),
                Just("mode".to_string()),
                Just("successUrl".to_string()),
                nasty_text()
            ],
            json_value(),
            0..4
        )
        .prop_map(|m| Value::Object(m.into_iter().collect()).to_string()),
    ]
    .prop_map(String::into_bytes)
}

fn is_catalog_price(p: &str) -> bool {
    [
        "starter_monthly",
        "starter_yearly",
        "pro_monthly",
        "pro_yearly",
        "lifetime_once",
    ]
    .contains(&p.trim())
}

/// Form fields: names and values an attacker picks, URL-encoded or not quite.
fn form_body(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        prop::sample::select(fields).prop_map(str::to_string),
        nasty_text()
    ];
    prop_oneof![
        prop::collection::vec((field, nasty_text()), 0..5).prop_map(|pairs| {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            for (k, v) in &pairs {
                form.append_pair(k, v);
            }
            form.finish().into_bytes()
        }),
        prop::collection::vec(any::<u8>(), 0..300),
        Just(b"email=%zz&password=%".to_vec()),
    ]
}

/// Sign-in and sign-up fields that never make or open an account: the email is not an email,
/// or the password is too short, common, or the email itself.
fn account_body() -> impl Strategy<Value = Vec<u8>> {
    let email = prop_oneof![
        nasty_text().prop_filter("not an email", |e| !e.contains('@')),
        Just("a@".to_string()),
        Just(format!("{}@example.com", "x".repeat(300))),
        Just("fuzz@example.com".to_string()),
    ];
    let password = prop_oneof![".{0,9}", Just("password123".to_string())];
    (email, password)
        .prop_map(|(e, p)| {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            form.append_pair("email", &e).append_pair("password", &p);
            form.finish().into_bytes()
        })
        .boxed()
}

/// A webhook delivery that must be refused: unsigned, badly signed, stale, or signed correctly
/// over something that is not a Stripe event.
fn webhook() -> impl Strategy<Value = (Vec<(String, Vec<u8>)>, Vec<u8>)> {
    let now = landing::server::auth::jwt::now();
    let not_an_event = prop_oneof![
        junk_body(),
        // Event-shaped, but wrong: no `evt_` id, a huge or fractional `created`, a missing type.
        (nasty_text(), json_value(), json_value()).prop_map(|(id, created, object)| {
            json!({"id": id, "type": "customer.subscription.updated", "created": created,
                "data": {"object": object}})
            .to_string()
            .into_bytes()
        }),
        json_value().prop_map(|created| {
            json!({"id": "evt_fuzz", "type": "", "created": created, "data": {"object": {}}})
                .to_string()
                .into_bytes()
        }),
        Just(br#"{"id":"evt_big","type":"x","created":1e400,"data":{"object":{}}}"#.to_vec()),
        Just(
            br#"{"id":"evt_neg","type":"x","created":-9223372036854775809,"data":{"object":{}}}"#
                .to_vec()
        ),
    ];
    let signature = prop_oneof![
        Just(None),
        header_value().prop_map(Some),
        (any::<i64>(), "[0-9a-f]{0,80}")
            .prop_map(|(t, v)| Some(format!("t={t},v1={v}").into_bytes())),
        Just(Some(b"t=,v1=,v0=,".to_vec())),
    ];
    prop_oneof![
        // Anything, signed at random.
        (signature, prop::collection::vec(any::<u8>(), 0..400))
            .prop_map(|(sig, body)| (sig, body, false)),
        // Signed with our secret, but not an event.
        not_an_event.prop_map(|body| (None, body, true)),
        // A real-looking event signed with our secret five minutes too early or late.
        // (Past 400 s, so the time the run itself takes cannot bring it back within 300 s.)
        // Or at either end of i64, where `now - t` would overflow.
        prop_oneof![
            (prop_oneof![Just(-1i64), Just(1i64)], 400i64..100_000)
                .prop_map(move |(sign, by)| now + sign * by),
            prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, i64::MAX - 1, i64::MAX]),
        ]
        .prop_map(move |t| {
            let body = json!({"id": "evt_stale", "type": "customer.created", "created": now,
                "data": {"object": {"id": "cus_x"}}})
            .to_string();
            (
                Some(stripe_emulator::signing::header(WEBHOOK_SECRET, t, &body).into_bytes()),
                body.into_bytes(),
                false,
            )
        }),
    ]
    .prop_map(|(signature, body, sign_now)| {
        let signature = if sign_now {
            let text = String::from_utf8_lossy(&body).into_owned();
            // Signed over the exact bytes: lossy text signs only if the bytes were UTF-8.
            let header = stripe_emulator::signing::header(
                WEBHOOK_SECRET,
                landing::server::auth::jwt::now(),
                &text,
            );
            Some(header.into_bytes())
        } else {
            signature
        };
        let mut headers = vec![("content-type".to_string(), b"application/json".to_vec())];
        if let Some(s) = signature {
            headers.push(("stripe-signature".to_string(), s));
        }
        (headers, body)
    })
}

pub(super) fn attempt(bad_tokens: Vec<String>) -> impl Strategy<Value = Attempt> {
    let json_api = |target: &'static str, path: &'static str| {
        (
            prop_oneof![
                4 => checkout_body(),
                1 => junk_body(),
                1 => json_value().prop_map(|v| json!({"returnUrl": v}).to_string().into_bytes()),
            ],
            content_type(),
            prop::option::of(header_value()),
            any::<bool>(),
        )
            .prop_map(move |(body, ct, bearer, signed_in)| {
                let mut headers = vec![("content-type".to_string(), ct)];
                if let Some(mut b) = bearer {
                    let mut value = b"Bearer ".to_vec();
                    value.append(&mut b);
                    headers.push(("authorization".to_string(), value));
                }
                Attempt {
                    target,
                    method: Method::POST,
                    path: path.to_string(),
                    headers,
                    body,
                    browser_form: false,
                    signed_in,
                }
            })
    };
    let account = |target: &'static str, path: &'static str| {
        (account_body(), any::<bool>()).prop_map(move |(body, api)| Attempt {
            target,
            method: Method::POST,
            path: path.to_string(),
            headers: form_headers(api),
            body,
            browser_form: !api,
            signed_in: false,
        })
    };
    prop_oneof![
        3 => webhook().prop_map(|(headers, body)| Attempt {
            target: "webhook",
            method: Method::POST,
            path: "/api/stripe/webhook".into(),
            headers,
            body,
            browser_form: false,
            signed_in: false,
        }),
        2 => json_api("create-checkout (JSON)", "/api/stripe/create-checkout"),
        1 => json_api("create-portal (JSON)", "/api/stripe/create-portal"),
        2 => account("sign-in", "/api/auth/sign_in"),
        1 => account("sign-up", "/api/auth/sign_up"),
        // Forged and garbled mailed links: never a 5xx, never a session, nothing changed.
        1 => (form_body(&["token"]), any::<bool>()).prop_map(|(body, api)| Attempt {
            target: "verify-email",
            method: Method::POST,
            path: "/api/auth/verify_email".into(),
            headers: form_headers(api),
            body,
            browser_form: !api,
            signed_in: false,
        }),
        1 => (form_body(&["token", "password"]), any::<bool>()).prop_map(|(body, api)| Attempt {
            target: "reset-password",
            method: Method::POST,
            path: "/api/auth/reset_password".into(),
            headers: form_headers(api),
            body,
            browser_form: !api,
            signed_in: false,
        }),
        1 => (form_body(&["price", "coupon"]), any::<bool>(), any::<bool>()).prop_map(|(body, api, signed_in)| Attempt {
            target: "checkout server fn",
            method: Method::POST,
            path: "/api/checkout".into(),
            headers: form_headers(api),
            body,
            browser_form: !api,
            signed_in,
        }),
        1 => (form_body(&["returnUrl"]), any::<bool>(), any::<bool>()).prop_map(|(body, api, signed_in)| Attempt {
            target: "portal server fn",
            method: Method::POST,
            path: "/api/billing/portal".into(),
            headers: form_headers(api),
            body,
            browser_form: !api,
            signed_in,
        }),
        // Well-formed tokens that must not sign anyone in (see `bad_tokens`), as a Bearer
        // header or as the session cookie.
        1 => (prop::sample::select(bad_tokens), any::<bool>()).prop_map(|(token, cookie)| Attempt {
            target: "forged session token",
            method: Method::GET,
            path: "/api/me".into(),
            headers: vec![if cookie {
                ("cookie".to_string(), format!("landing_session={token}").into_bytes())
            } else {
                ("authorization".to_string(), format!("Bearer {token}").into_bytes())
            }],
            body: Vec::new(),
            browser_form: false,
            signed_in: false,
        }),
        1 => header_value().prop_map(|token| Attempt {
            target: "api/me",
            method: Method::GET,
            path: "/api/me".into(),
            headers: vec![("authorization".to_string(), token)],
            body: Vec::new(),
            browser_form: false,
            signed_in: false,
        }),
        1 => (
            prop::sample::select(vec![Method::PUT, Method::DELETE, Method::PATCH, Method::GET]),
            prop::sample::select(vec![
                "/api/stripe/webhook",
                "/api/stripe/create-checkout",
                "/api/stripe/create-portal",
                "/api/auth/sign_in",
            ]),
        )
            .prop_map(|(method, path)| Attempt {
                target: "wrong method",
                method,
                path: path.to_string(),
                headers: Vec::new(),
                body: Vec::new(),
                browser_form: false,
                signed_in: false,
            }),
    ]
}

fn form_headers(api_client: bool) -> Vec<(String, Vec<u8>)> {
    let mut headers = vec![(
        "content-type".to_string(),
        b"application/x-www-form-urlencoded".to_vec(),
    )];
    if api_client {
        headers.push(("accept".to_string(), b"application/json".to_vec()));
    }
    headers
}

pub(super) fn raw_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..600),
        Just(b"GET / HTTP/9.9\r\n\r\n".to_vec()),
        Just(b"POST /api/stripe/webhook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n".to_vec()),
        Just(b"POST /api/auth/sign_in HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec()),
        Just(b"POST /api/auth/sign_in HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello".to_vec()),
        (1usize..400).prop_map(|n| format!("GET / HTTP/1.1\r\n{}\r\n\r\n", "X-A: b\r\n".repeat(n)).into_bytes()),
        Just(format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)).into_bytes()),
    ]
}
