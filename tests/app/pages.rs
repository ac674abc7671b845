//! The server-rendered pages: real HTML, readable without JavaScript.

use landing::model::catalog::{Billing, Interval};

use crate::harness::{on_both_databases, Backend, TestApp};

on_both_databases!(
    home_says_what_the_product_is_and_links_to_pricing,
    pricing_lists_every_plan_of_the_catalog_with_its_monthly_price,
    pricing_shows_yearly_prices_when_asked_by_link,
    an_unknown_path_gets_the_404_page,
    pages_are_compressed_for_clients_that_ask,
    signed_out_pages_are_served_from_memory_and_signed_in_ones_rendered,
);

on_both_databases!(
    backend;
    signed_in_pages_from_memory_show_each_person_their_own_email_and_plan,
);

async fn home_says_what_the_product_is_and_links_to_pricing(app: TestApp) {
    let (status, html) = app.get_text("/").await;
    assert_eq!(status, 200);
    let product = &app.state.catalog.product;
    assert!(html.contains(&product.headline), "headline missing: {html}");
    assert!(html.contains(&escape(&product.pitch)));
    assert!(html.contains(r#"href="/pricing""#));
    assert!(html.contains(&format!("<title>{}</title>", product.name)));
}

async fn pricing_lists_every_plan_of_the_catalog_with_its_monthly_price(app: TestApp) {
    let (status, html) = app.get_text("/pricing").await;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>Pricing</h1>"));
    for plan in &app.state.catalog.plans {
        assert!(
            html.contains(&format!(">{}</h2>", plan.name)),
            "{} missing",
            plan.name
        );
        let price = plan.price_for(Billing::Monthly).unwrap();
        assert!(
            html.contains(&price.display_amount()),
            "{} price {} missing",
            plan.name,
            price.display_amount()
        );
        for feature in &plan.features {
            assert!(html.contains(&escape(feature)), "feature {feature} missing");
        }
    }
    assert!(html.contains("Most popular"));
    assert!(html.contains(r#"href="/pricing?interval=month" aria-current="page""#));
}

async fn pricing_shows_yearly_prices_when_asked_by_link(app: TestApp) {
    let (status, html) = app.get_text("/pricing?interval=year").await;
    assert_eq!(status, 200);
    let mut yearly_seen = 0;
    for plan in &app.state.catalog.plans {
        let price = plan.price_for(Billing::Yearly).unwrap();
        assert!(html.contains(&price.display_amount()));
        if price.interval == Interval::Year {
            yearly_seen += 1;
            let monthly = plan.price_for(Billing::Monthly).unwrap();
            assert!(!html.contains(&format!(">{}<", monthly.display_amount())));
        }
    }
    assert!(yearly_seen > 0, "the catalog has yearly prices to show");
    assert!(html.contains("/ year"));
    assert!(html.contains(r#"href="/pricing?interval=year" aria-current="page""#));
}

async fn an_unknown_path_gets_the_404_page(app: TestApp) {
    let (status, html) = app.get_text("/no/such/page").await;
    assert_eq!(status, 404);
    assert!(html.contains("Page not found"));
    assert!(html.contains(r#"href="/pricing""#), "a way out of the 404");
}

async fn pages_are_compressed_for_clients_that_ask(app: TestApp) {
    let get = |path: &'static str, encoding: Option<&'static str>| {
        let mut req = app.client.get(app.url(path));
        if let Some(e) = encoding {
            req = req.header("accept-encoding", e);
        }
        async move {
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), 200);
            let encoding = res
                .headers()
                .get("content-encoding")
                .map(|v| v.to_str().unwrap().to_string());
            (encoding, res.bytes().await.unwrap().to_vec())
        }
    };
    let gunzip = |bytes: &[u8]| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(bytes), &mut text)
            .expect("gzip");
        text
    };
    // Rendered (first) and from memory (after), gzipped or not, it is the same page.
    for path in ["/pricing", "/"] {
        let (encoding, zipped) = get(path, Some("gzip, br")).await;
        assert_eq!(encoding.as_deref(), Some("gzip"), "{path}");
        let (encoding, plain) = get(path, None).await;
        assert_eq!(encoding, None);
        assert_eq!(gunzip(&zipped), String::from_utf8(plain.clone()).unwrap());
        let (_, zipped_again) = get(path, Some("gzip")).await;
        assert_eq!(gunzip(&zipped_again).as_bytes(), plain.as_slice());
        let (encoding, _) = get(path, Some("gzip;q=0")).await;
        assert_eq!(encoding, None, "a refusal is honoured");
    }
    // Rendered pages are compressed too.
    let (encoding, _) = get("/sign-in", Some("gzip")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
}

/// Leptos escapes text nodes; the catalog's copy may contain characters it escapes.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[tokio::test]
async fn the_header_marks_an_emulated_stripe_as_test_mode() {
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("STRIPE_SECRET_KEY", "sk_test_emulator_local"),
            ("STRIPE_API_BASE", "http://127.0.0.1:12111"),
        ],
    )
    .await;
    let (_, html) = app.get_text("/pricing").await;
    assert!(html.contains("Test mode — emulated Stripe"), "{html}");
}

#[tokio::test]
async fn with_billing_off_the_header_shows_no_test_badge() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (_, html) = app.get_text("/").await;
    assert!(!html.contains("Test mode"));
}

async fn signed_out_pages_are_served_from_memory_and_signed_in_ones_rendered(app: TestApp) {
    let (_, first) = app.get_text("/pricing").await;
    let (_, again) = app.get_text("/pricing").await;
    assert_eq!(first, again);
    let (_, yearly) = app.get_text("/pricing?interval=year").await;
    assert_ne!(first, yearly, "the address is part of the key");
    let (_, notice) = app.get_text("/pricing?canceled=1").await;
    assert!(notice.contains("Checkout was canceled"));

    let cookie = app.member("cached@example.com").await;
    let signed_in = app.page_as("/pricing", &cookie).await;
    assert!(
        signed_in.contains("Signed in as"),
        "never a signed-out copy for a session"
    );
    let (_, still) = app.get_text("/pricing").await;
    assert!(
        !still.contains("Signed in as"),
        "never a session's page for the signed out"
    );
}

async fn signed_in_pages_from_memory_show_each_person_their_own_email_and_plan(backend: Backend) {
    let app = TestApp::spawn_webhooks(backend, &[]).await;
    let browser = app.subscriber_without_purchase("browser@example.com").await;
    let buyer = app
        .subscriber("buyer@example.com", "pro_monthly", "subscription")
        .await;
    app.settle().await;
    // Each first request renders (and leaves a template); each later one is filled in, and
    // reads exactly as the render did.
    let (first_mine, first_theirs) = (
        app.page_as("/pricing", &browser).await,
        app.page_as("/pricing", &buyer).await,
    );
    for _ in 0..3 {
        let mine = app.page_as("/pricing", &browser).await;
        assert_eq!(mine, first_mine);
        assert!(
            mine.contains("<strong>browser@example.com</strong>"),
            "{mine}"
        );
        assert!(!mine.contains("buyer@example.com"));
        assert!(!mine.contains("Your current plan"));
        let theirs = app.page_as("/pricing", &buyer).await;
        assert_eq!(theirs, first_theirs);
        assert!(theirs.contains("<strong>buyer@example.com</strong>"));
        assert!(!theirs.contains("browser@example.com"));
        assert_eq!(theirs.matches("Your current plan").count(), 1, "{theirs}");
        let pro = &theirs[theirs.find("id=\"plan-pro\"").unwrap()..];
        assert!(pro[..pro.find("</article>").unwrap()].contains("Your current plan"));
    }
    // Someone new gets the same template, with their own email.
    assert_eq!(
        first_mine.replace("browser@example.com", "someone@example.com"),
        app.page_as(
            "/pricing",
            &app.subscriber_without_purchase("someone@example.com").await
        )
        .await
    );
    // A browser that takes gzip gets it, rendered (first) or filled in (after), with the same
    // page inside and the same security headers as any other page.
    let mut zipped = Vec::new();
    for _ in 0..2 {
        let res = app
            .client
            .get(app.url("/pricing?interval=year"))
            .header("cookie", &browser)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["content-encoding"], "gzip");
        assert_eq!(res.headers()["vary"], "accept-encoding");
        assert!(res.headers().contains_key("content-security-policy"));
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(&res.bytes().await.unwrap()[..]),
            &mut text,
        )
        .expect("gzip");
        zipped.push(text);
    }
    let yearly = app.page_as("/pricing?interval=year", &browser).await;
    assert_eq!(zipped, [yearly.clone(), yearly]);
}
