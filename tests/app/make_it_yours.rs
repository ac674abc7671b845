//! Make it yours: the site selling another business from another catalog
//! (`tests/fixtures/second-catalog.toml`: another product, other plans and entitlements), with
//! no code changed: its pricing page, Checkout, the webhook and the entitlements API.

use crate::harness::{manifest_path, pay, Backend, TestApp};

#[tokio::test]
async fn another_catalog_sells_another_business_with_its_own_entitlements() {
    let plans = manifest_path("tests/fixtures/second-catalog.toml");
    let plans = plans.to_str().unwrap();
    let app = TestApp::spawn_webhooks(Backend::Sqlite, &[("PLANS_FILE", plans)]).await;
    let (status, pricing) = app.get_text("/pricing").await;
    assert_eq!(status, 200);
    for shown in [
        "Quill",
        "Solo",
        "Studio",
        "A writers&#x27; room in the browser.",
        "$49",
    ] {
        assert!(
            pricing.contains(shown) || pricing.contains(&shown.replace("&#x27;", "'")),
            "{shown} not on /pricing"
        );
    }
    assert!(
        !pricing.contains("Beacon"),
        "nothing of the example product"
    );

    let cookie = app.proven_member("writer@example.com").await;
    let (status, body) = app
        .checkout_as(&cookie, "quill_studio_monthly", "subscription")
        .await;
    assert_eq!(status, 200, "{body}");
    pay(&app, body["url"].as_str().unwrap(), "writer@example.com").await;
    app.settle().await;
    let (status, got) = app.entitlements(("cookie", cookie.clone())).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["plan"], "studio", "{got}");
    assert_eq!(got["status"], "active", "{got}");
    assert_eq!(got["entitlements"]["editors"], 10, "{got}");
    assert_eq!(got["entitlements"]["documents"], 100000, "{got}");
    let billing = app.page_as("/billing", &cookie).await;
    assert!(billing.contains("Studio"), "{billing}");
    // A price of the example catalog is not for sale here.
    let (status, body) = app
        .checkout_as(&cookie, "pro_monthly", "subscription")
        .await;
    assert_eq!(status, 400, "{body}");
}
