//! Coupons at Checkout: only the catalog's, given on either entry point, never alongside
//! promotion codes, and never passed on to Stripe when they are not the catalog's.

use reqwest::header::{ACCEPT, ORIGIN};
use serde_json::{json, Value};

use crate::harness::{on_both_databases, TestApp};

on_both_databases!(
    billing;
    a_coupon_replaces_promotion_codes_never_both,
    a_coupon_off_the_catalog_is_refused_alike_and_never_reaches_stripe,
    the_pricing_page_advertises_only_the_catalogs_coupons,
);

async fn a_coupon_replaces_promotion_codes_never_both(app: TestApp) {
    // In plans.toml but not yet in this Stripe: Stripe's words, for the operator to see.
    let mut b = app.body("lifetime_once", "payment");
    b["couponId"] = json!("LAUNCH20");
    assert_eq!(
        app.create_checkout(b, None).await,
        (400, json!({"error": "No such coupon: 'LAUNCH20'"}))
    );

    app.stripe_coupon("LAUNCH20", "20").await;
    let (_, body) = app
        .create_checkout(app.body("lifetime_once", "payment"), None)
        .await;
    let s = app.session_of(body["url"].as_str().unwrap());
    assert!(s.allow_promotion_codes);
    assert!(s.coupons.is_empty());

    let mut b = app.body("lifetime_once", "payment");
    b["couponId"] = json!("LAUNCH20");
    let (status, body) = app.create_checkout(b, None).await;
    assert_eq!(status, 200, "{body}");
    let s = app.session_of(body["url"].as_str().unwrap());
    assert!(!s.allow_promotion_codes);
    assert_eq!(s.coupons, ["LAUNCH20"]);
    assert_eq!(s.amount_total, 23920);
}

async fn a_coupon_off_the_catalog_is_refused_alike_and_never_reaches_stripe(app: TestApp) {
    // A coupon Stripe has and plans.toml does not list: for staff, never for a link.
    app.stripe_coupon("STAFF100", "100").await;
    let before = app.checkout_sessions();
    let long = "X".repeat(101);
    for coupon in [
        "STAFF100",
        "NOSUCH",
        "launch20",
        "NO SUCH <coupon>",
        long.as_str(),
    ] {
        let mut b = app.body("lifetime_once", "payment");
        b["couponId"] = json!(coupon);
        assert_eq!(
            app.create_checkout(b, None).await,
            (400, json!({"error": "This coupon code is not valid."})),
            "JSON route: {coupon:?}"
        );

        let res = app
            .client
            .post(app.url("/api/checkout"))
            .header(ACCEPT, "application/json")
            .header(ORIGIN, &app.base)
            .form(&[("price", "pro_monthly"), ("coupon", coupon)])
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap();
        assert_eq!(
            (status, body),
            (400, json!({"BadRequest": "This coupon code is not valid."})),
            "server function: {coupon:?}"
        );
    }
    // The buy button's plain form: back to pricing with the same words.
    let res = app
        .client
        .post(app.url("/api/checkout"))
        .header(ACCEPT, "text/html")
        .header(ORIGIN, &app.base)
        .form(&[("price", "pro_monthly"), ("coupon", "STAFF100")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let back = res.headers()["location"].to_str().unwrap();
    assert_eq!(back, "/pricing?checkout_error=bad_coupon");
    assert!(app
        .get_text(back)
        .await
        .1
        .contains("this coupon code is not valid."));
    assert_eq!(
        app.checkout_sessions(),
        before,
        "no Checkout Session was asked of Stripe"
    );
}

async fn the_pricing_page_advertises_only_the_catalogs_coupons(app: TestApp) {
    app.stripe_coupon("STAFF100", "100").await;
    let html = app.get_text("/pricing?coupon=LAUNCH20").await.1;
    assert!(html.contains(r#"name="coupon" value="LAUNCH20""#), "{html}");
    for coupon in ["STAFF100", "NOSUCH", "launch20", "%3Cx%3E"] {
        let html = app.get_text(&format!("/pricing?coupon={coupon}")).await.1;
        assert!(!html.contains(r#"name="coupon""#), "{coupon}: {html}");
        assert!(!html.contains("will be applied at checkout"), "{coupon}");
    }
}
