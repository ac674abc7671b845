//! The parameters endpoints take: any other is refused as Stripe refuses a misspelt one (so a
//! test cannot pass on a parameter the emulator silently dropped), and lists page as Stripe's.

use std::path::PathBuf;

use serde_json::Value;
use stripe_emulator::{spawn, Emulator, Options};

/// Every route of `/v1`, with placeholder ids: a path's parameters are checked before the
/// object it names is looked up.
const ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/v1/products"),
    ("GET", "/v1/products"),
    ("GET", "/v1/products/prod_x"),
    ("POST", "/v1/products/prod_x"),
    ("POST", "/v1/prices"),
    ("GET", "/v1/prices"),
    ("GET", "/v1/prices/price_x"),
    ("POST", "/v1/prices/price_x"),
    ("POST", "/v1/customers"),
    ("GET", "/v1/customers"),
    ("GET", "/v1/customers/cus_x"),
    ("POST", "/v1/customers/cus_x"),
    ("POST", "/v1/coupons"),
    ("GET", "/v1/coupons/co_x"),
    ("POST", "/v1/promotion_codes"),
    ("GET", "/v1/promotion_codes"),
    ("POST", "/v1/checkout/sessions"),
    ("GET", "/v1/checkout/sessions"),
    ("GET", "/v1/checkout/sessions/cs_test_x"),
    ("POST", "/v1/checkout/sessions/cs_test_x/expire"),
    ("POST", "/v1/billing_portal/sessions"),
    ("POST", "/v1/billing_portal/configurations"),
    ("GET", "/v1/billing_portal/configurations"),
    ("GET", "/v1/billing_portal/configurations/bpc_x"),
    ("POST", "/v1/billing_portal/configurations/bpc_x"),
    ("GET", "/v1/subscriptions"),
    ("GET", "/v1/subscriptions/sub_x"),
    ("POST", "/v1/subscriptions/sub_x"),
    ("DELETE", "/v1/subscriptions/sub_x"),
    ("GET", "/v1/invoices"),
    ("POST", "/v1/invoices/create_preview"),
    ("GET", "/v1/invoices/in_x"),
    ("GET", "/v1/payment_intents/pi_x"),
    ("GET", "/v1/charges/ch_x"),
    ("GET", "/v1/disputes/dp_x"),
    ("GET", "/v1/refunds/re_x"),
    ("POST", "/v1/refunds"),
    ("GET", "/v1/events"),
    ("GET", "/v1/events/evt_x"),
    ("POST", "/v1/webhook_endpoints"),
    ("GET", "/v1/webhook_endpoints"),
    ("GET", "/v1/webhook_endpoints/we_x"),
    ("POST", "/v1/webhook_endpoints/we_x"),
    ("DELETE", "/v1/webhook_endpoints/we_x"),
];

async fn emulator() -> Emulator {
    spawn(Options {
        catalog: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plans.toml")),
        ..Options::default()
    })
    .await
    .expect("emulator starts")
}

/// `params` in the query (GET, DELETE) or the form body (POST), as Stripe's clients send them.
async fn call(
    e: &Emulator,
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    idempotency_key: Option<&str>,
) -> (u16, Value) {
    let encoded = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let http = reqwest::Client::new();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = if method == reqwest::Method::POST {
        http.post(format!("{}{path}", e.base_url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(encoded)
    } else {
        http.request(method, format!("{}{path}?{encoded}", e.base_url))
    };
    request = request.bearer_auth("sk_test_known");
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap())
}

fn assert_unknown(answer: &(u16, Value), param: &str) {
    let (status, body) = answer;
    assert_eq!(*status, 400, "{param}: {body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert_eq!(body["error"]["code"], "parameter_unknown", "{body}");
    assert_eq!(body["error"]["param"], param, "{body}");
    assert_eq!(
        body["error"]["message"],
        format!("Received unknown parameter: {param}")
    );
}

async fn price_id(e: &Emulator, lookup_key: &str) -> String {
    let (_, list) = call(
        e,
        "GET",
        "/v1/prices",
        &[("lookup_keys[]", lookup_key)],
        None,
    )
    .await;
    list["data"][0]["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn every_endpoint_refuses_a_parameter_it_does_not_take_and_names_it() {
    let e = emulator().await;
    for (method, path) in ENDPOINTS {
        let routed = call(&e, method, path, &[], None).await;
        assert!(
            !routed.1["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Unrecognized request URL"),
            "{method} {path} is not a route: {}",
            routed.1
        );
        let answer = call(&e, method, path, &[("foo", "1")], None).await;
        assert_unknown(&answer, "foo");
        // A known parameter does not excuse an unknown one, nor does `expand[]`.
        let answer = call(
            &e,
            method,
            path,
            &[("expand[]", "x"), ("foo[bar]", "1")],
            None,
        )
        .await;
        assert_unknown(&answer, "foo");
    }
}

#[tokio::test]
async fn unknown_keys_inside_nested_objects_are_named_with_their_brackets() {
    let e = emulator().await;
    let price = price_id(&e, "pro_monthly").await;
    let session = |extra: (&'static str, &'static str)| {
        let price = price.clone();
        let e = &e;
        async move {
            let params = [
                ("mode", "subscription"),
                ("line_items[0][price]", price.as_str()),
                ("success_url", "https://shop.test/ok"),
                ("cancel_url", "https://shop.test/pricing"),
                extra,
            ];
            call(e, "POST", "/v1/checkout/sessions", &params, None).await
        }
    };
    assert_unknown(
        &session(("line_items[0][pricee]", "x")).await,
        "line_items[0][pricee]",
    );
    assert_unknown(
        &session(("subscription_data[trial_period_dayz]", "7")).await,
        "subscription_data[trial_period_dayz]",
    );
    // Stripe takes it, but the emulator would ignore it: refused rather than dropped.
    assert_unknown(
        &session(("subscription_data[description]", "x")).await,
        "subscription_data[description]",
    );
    let config = call(
        &e,
        "POST",
        "/v1/billing_portal/configurations",
        &[
            ("features[invoice_history][enabled]", "true"),
            ("features[subscription_update][bogus]", "1"),
        ],
        None,
    )
    .await;
    assert_unknown(&config, "features[subscription_update][bogus]");
    let preview = call(
        &e,
        "POST",
        "/v1/invoices/create_preview",
        &[("subscription_details[items][0][prise]", "x")],
        None,
    )
    .await;
    assert_unknown(&preview, "subscription_details[items][0][prise]");
}

#[tokio::test]
async fn metadata_takes_any_key_and_expand_is_taken_everywhere() {
    let e = emulator().await;
    let price = price_id(&e, "pro_monthly").await;
    let (status, session) = call(
        &e,
        "POST",
        "/v1/checkout/sessions",
        &[
            ("mode", "subscription"),
            ("line_items[0][price]", &price),
            ("line_items[0][quantity]", "1"),
            ("success_url", "https://shop.test/ok"),
            ("cancel_url", "https://shop.test/pricing"),
            ("metadata[any_key_at_all]", "1"),
            ("metadata[plan]", "pro"),
            ("subscription_data[trial_period_days]", "7"),
            ("expand[]", "line_items"),
        ],
        None,
    )
    .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["metadata"]["any_key_at_all"], "1");
    assert_eq!(session["line_items"]["object"], "list");
    let (status, customer) = call(
        &e,
        "POST",
        "/v1/customers",
        &[("email", "a@example.com"), ("metadata[x-y.z]", "v")],
        None,
    )
    .await;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["metadata"]["x-y.z"], "v");
}

#[tokio::test]
async fn a_refused_parameter_saves_no_idempotent_answer() {
    let e = emulator().await;
    let refused = call(
        &e,
        "POST",
        "/v1/customers",
        &[("emial", "a@example.com")],
        Some("key-1"),
    )
    .await;
    assert_unknown(&refused, "emial");
    // Nothing was saved under the key: corrected, the request runs.
    let (status, customer) = call(
        &e,
        "POST",
        "/v1/customers",
        &[("email", "a@example.com")],
        Some("key-1"),
    )
    .await;
    assert_eq!(status, 200, "{customer}");
    assert_eq!(customer["email"], "a@example.com");
}

#[tokio::test]
async fn a_list_pages_by_limit_and_starting_after_ten_at_a_time_by_default() {
    let e = emulator().await;
    for i in 0..12 {
        let email = format!("c{i}@example.com");
        call(&e, "POST", "/v1/customers", &[("email", &email)], None).await;
    }
    let (_, first) = call(&e, "GET", "/v1/customers", &[], None).await;
    assert_eq!(first["data"].as_array().unwrap().len(), 10);
    assert_eq!(first["has_more"], true);
    assert_eq!(first["data"][0]["email"], "c11@example.com", "newest first");
    let last = first["data"][9]["id"].as_str().unwrap();
    let (_, rest) = call(
        &e,
        "GET",
        "/v1/customers",
        &[("limit", "5"), ("starting_after", last)],
        None,
    )
    .await;
    assert_eq!(rest["data"].as_array().unwrap().len(), 2);
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["data"][1]["email"], "c0@example.com");
    let (status, _) = call(&e, "GET", "/v1/customers", &[("limit", "101")], None).await;
    assert_eq!(status, 400);
}
