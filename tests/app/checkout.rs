//! Checkout against the local Stripe: the JSON route kept from the Next.js integration, the
//! pricing page's server function, every rule, and the success page (coupons are in `coupons`).

use landing::server::db::{billing, customers, profiles, Table};
use reqwest::header::{ACCEPT, ORIGIN};
use serde_json::{json, Value};

use crate::harness::{on_both_databases, pay, Backend, TestApp};

on_both_databases!(
    billing;
    the_json_route_answers_the_seeds_shapes_and_refuses_what_it_must,
    a_signed_out_purchase_lets_stripe_create_the_customer,
    a_signed_in_buyer_reuses_their_stripe_customer_or_is_named_by_email,
    the_buy_button_sends_a_form_post_straight_to_checkout,
    the_success_page_shows_what_was_bought,
    the_success_page_stores_a_signed_out_purchase_once_under_the_checkout_email,
    a_signed_in_subscription_is_stored_and_its_plan_marked_on_pricing,
    a_session_naming_someone_else_is_left_to_the_webhook,
);

async fn the_success_page_stores_a_signed_out_purchase_once_under_the_checkout_email(app: TestApp) {
    let (_, body) = app
        .create_checkout(app.body("lifetime_once", "payment"), None)
        .await;
    let success = pay(&app, body["url"].as_str().unwrap(), "Buyer@Example.com").await;
    for _ in 0..2 {
        assert!(app.get_text(&success).await.1.contains("Thank you"));
    }
    let db = &app.state.db;
    assert_eq!(
        db.count_rows(Table::Purchases).await.unwrap(),
        1,
        "stored once however often"
    );
    // Nobody has proven the email: the purchase waits under it, owned by no profile.
    assert!(profiles::find_by_email(db, "buyer@example.com")
        .await
        .unwrap()
        .is_none());
    assert_eq!(db.count_rows(Table::EmailCustomers).await.unwrap(), 1);
    let bought = billing::all_purchases(db).await.unwrap();
    assert_eq!(bought.len(), 1);
    assert_eq!(bought[0].status, "paid");
    assert_eq!(db.count_rows(Table::Profiles).await.unwrap(), 0);
}

async fn a_signed_in_subscription_is_stored_and_its_plan_marked_on_pricing(app: TestApp) {
    let ada = profiles::insert(&app.state.db, "ada@example.com", None)
        .await
        .unwrap();
    let token = app.token_for(ada.id, "ada@example.com");
    let (_, body) = app
        .create_checkout(app.body("starter_monthly", "subscription"), Some(&token))
        .await;
    let success = pay(&app, body["url"].as_str().unwrap(), "ada@example.com").await;
    let cookie = format!("landing_session={token}");
    let html = app
        .client
        .get(app.url(&success))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Your subscription is active."), "{html}");
    let subs = billing::subscriptions_for_user(&app.state.db, ada.id)
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].status, "active");
    assert!(subs[0].current_period_end.unwrap() > chrono::Utc::now().timestamp());

    let pricing = app.page_as("/pricing", &cookie).await;
    assert_eq!(pricing.matches("Your current plan").count(), 1);
    let starter = pricing
        .split(r#"id="plan-starter""#)
        .nth(1)
        .unwrap()
        .split("</article>")
        .next()
        .unwrap();
    assert!(
        starter.contains("Your current plan"),
        "the Starter card is marked"
    );
    assert!(
        !app.get_text("/pricing")
            .await
            .1
            .contains("Your current plan"),
        "not for anyone else"
    );
}

async fn a_session_naming_someone_else_is_left_to_the_webhook(app: TestApp) {
    let ada = profiles::insert(&app.state.db, "ada@example.com", None)
        .await
        .unwrap();
    let bob = profiles::insert(&app.state.db, "bob@example.com", None)
        .await
        .unwrap();
    let (_, body) = app
        .create_checkout(
            app.body("lifetime_once", "payment"),
            Some(&app.token_for(ada.id, "ada@example.com")),
        )
        .await;
    let success = pay(&app, body["url"].as_str().unwrap(), "ada@example.com").await;
    assert!(
        app.get_text(&success).await.1.contains("Thank you"),
        "the receipt shows"
    );
    let bobs = format!(
        "landing_session={}",
        app.token_for(bob.id, "bob@example.com")
    );
    app.client
        .get(app.url(&success))
        .header("cookie", bobs)
        .send()
        .await
        .unwrap();
    assert_eq!(app.state.db.count_rows(Table::Purchases).await.unwrap(), 0);
    assert!(customers::customer_id_for_user(&app.state.db, bob.id)
        .await
        .unwrap()
        .is_none());
}

async fn the_json_route_answers_the_seeds_shapes_and_refuses_what_it_must(app: TestApp) {
    let (status, body) = app
        .create_checkout(app.body("pro_monthly", "subscription"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with(&app.stripe.as_ref().unwrap().base_url));
    assert_eq!(app.session_of(url).mode, "subscription");

    // A Stripe price id from the catalog works as well as its lookup key.
    let price_id = app.session_of(url).line_items[0].price.clone();
    let (status, _) = app
        .create_checkout(app.body(&price_id, "subscription"), None)
        .await;
    assert_eq!(status, 200);

    for missing in ["priceId", "mode", "successUrl", "cancelUrl"] {
        let mut b = app.body("pro_monthly", "subscription");
        b.as_object_mut().unwrap().remove(missing);
        assert_eq!(
            app.create_checkout(b, None).await,
            (400, json!({ "error": "Missing required fields" })),
            "{missing}"
        );
    }
    let res = app
        .client
        .post(app.url("/api/stripe/create-checkout"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    let (status, body) = app
        .create_checkout(app.body("price_not_ours", "payment"), None)
        .await;
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("Unknown price `price_not_ours`"));

    let (status, body) = app
        .create_checkout(app.body("pro_monthly", "payment"), None)
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "Mode `payment` does not match the price: `pro_monthly` is a recurring price, so the mode is `subscription`."
    );
    let (status, body) = app
        .create_checkout(app.body("lifetime_once", "subscription"), None)
        .await;
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("one-time price, so the mode is `payment`"));

    for (field, value) in [
        ("successUrl", "https://evil.example/steal"),
        ("cancelUrl", "https://evil.example/"),
        ("successUrl", "/relative"),
        ("cancelUrl", "javascript:alert(1)"),
    ] {
        let mut b = app.body("lifetime_once", "payment");
        b[field] = json!(value);
        let (status, body) = app.create_checkout(b, None).await;
        assert_eq!(status, 400, "{field}={value}");
        assert!(body["error"].as_str().unwrap().starts_with(field), "{body}");
    }
    let sessions = app
        .stripe
        .as_ref()
        .unwrap()
        .store
        .lock()
        .unwrap()
        .sessions
        .len();
    assert_eq!(sessions, 2, "refused requests created nothing in Stripe");
}

async fn a_signed_out_purchase_lets_stripe_create_the_customer(app: TestApp) {
    let (_, body) = app
        .create_checkout(app.body("lifetime_once", "payment"), None)
        .await;
    let s = app.session_of(body["url"].as_str().unwrap());
    assert_eq!(s.mode, "payment");
    assert_eq!(s.customer, None);
    assert_eq!(s.customer_email, None);
    assert_eq!(s.customer_creation.as_deref(), Some("always"));
    assert_eq!(s.setup_future_usage.as_deref(), Some("on_session"));
    assert!(s.tax_id_collection);
    assert_eq!(s.client_reference_id, None);
    assert_eq!(
        s.success_url,
        format!("{}/success?session_id={{CHECKOUT_SESSION_ID}}", app.base)
    );
}

async fn a_signed_in_buyer_reuses_their_stripe_customer_or_is_named_by_email(app: TestApp) {
    let ada = profiles::insert(&app.state.db, "ada@example.com", None)
        .await
        .unwrap();
    let token = app.token_for(ada.id, "ada@example.com");
    let (_, body) = app
        .create_checkout(app.body("starter_monthly", "subscription"), Some(&token))
        .await;
    let s = app.session_of(body["url"].as_str().unwrap());
    assert_eq!(s.customer_email.as_deref(), Some("ada@example.com"));
    assert_eq!(s.client_reference_id, Some(ada.id.to_string()));
    assert_eq!(s.customer_creation, None, "not sent in subscription mode");
    assert_eq!(s.setup_future_usage, None);

    // With a Stripe customer on file, it is reused and no email is sent beside it.
    let stripe = app.stripe.as_ref().unwrap();
    let customer: Value = reqwest::Client::new()
        .post(format!("{}/v1/customers", stripe.base_url))
        .bearer_auth("sk_test_x")
        .form(&[("email", "ada@example.com")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cus = customer["id"].as_str().unwrap();
    crate::harness::link(&app.state.db, ada.id, cus)
        .await
        .unwrap();
    let (status, body) = app
        .create_checkout(app.body("lifetime_once", "payment"), Some(&token))
        .await;
    assert_eq!(status, 200, "{body}");
    let s = app.session_of(body["url"].as_str().unwrap());
    assert_eq!(s.customer.as_deref(), Some(cus));
    assert_eq!(s.customer_email, None);
    assert_eq!(s.customer_creation, None);
    // Tax IDs from returning customers too: the emulator, as Stripe, refuses that unless the
    // session also updates the customer's name (`customer_update[name]=auto`).
    assert!(
        s.tax_id_collection,
        "tax IDs are collected from returning customers"
    );

    // A customer Stripe no longer knows is dropped rather than failing the purchase.
    let bob = profiles::insert(&app.state.db, "bob@example.com", None)
        .await
        .unwrap();
    crate::harness::link(&app.state.db, bob.id, "cus_gone")
        .await
        .unwrap();
    let (status, body) = app
        .create_checkout(
            app.body("lifetime_once", "payment"),
            Some(&app.token_for(bob.id, "bob@example.com")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        app.session_of(body["url"].as_str().unwrap())
            .customer_email
            .as_deref(),
        Some("bob@example.com")
    );
}

async fn the_buy_button_sends_a_form_post_straight_to_checkout(app: TestApp) {
    let html = app.get_text("/pricing").await.1;
    assert!(html.contains(r#"action="/api/checkout""#), "{html}");
    assert!(html.contains(r#"name="price" value="pro_monthly""#));
    assert!(html.contains("Subscribe to Pro"));
    assert!(html.contains("Buy Lifetime"));

    let res = app.buy_form("lifetime_once", "text/html").await;
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!(
        "{}/c/pay/cs_test_",
        app.stripe.as_ref().unwrap().base_url
    )));
    let s = app.session_of(&location);
    assert_eq!(s.cancel_url, format!("{}/pricing?canceled=1", app.base));

    // A fetch from the hydrated button gets the URL as JSON.
    let res = app.buy_form("pro_yearly", "application/json").await;
    assert_eq!(res.status(), 200);
    let url: String = res.json().await.unwrap();
    assert_eq!(app.session_of(&url).mode, "subscription");

    // A refusal reaches the island as the status and its words (what it shows in place).
    let res = app
        .client
        .post(app.url("/api/checkout"))
        .header(ACCEPT, "application/json")
        .header(ORIGIN, &app.base)
        .form(&[("price", "lifetime_once"), ("coupon", "NOSUCHCOUPON")])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        (status, body),
        (400, json!({"BadRequest": "This coupon code is not valid."}))
    );

    let res = app.buy_form("gold_forever", "text/html").await;
    assert_eq!(res.status(), 302);
    let back = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(back, "/pricing?checkout_error=unknown_price");
    assert!(app
        .get_text(&back)
        .await
        .1
        .contains("this plan cannot be bought here"));
    // Only codes are read back: text put in the address is never shown.
    let made_up = app
        .get_text("/pricing?checkout_error=Card%20blocked%2C%20call%20%2B1%20555")
        .await
        .1;
    assert!(!made_up.contains("Card blocked"), "{made_up}");
    assert!(!made_up.contains("could not start"), "{made_up}");
}

async fn the_success_page_shows_what_was_bought(app: TestApp) {
    let (_, body) = app
        .create_checkout(app.body("lifetime_once", "payment"), None)
        .await;
    let path = pay(&app, body["url"].as_str().unwrap(), "buyer@example.com").await;
    let (status, html) = app.get_text(&path).await;
    assert_eq!(status, 200);
    assert!(html.contains("Thank you"), "{html}");
    assert!(html.contains("Lifetime") && html.contains("$299"));
    // The link alone shows what was bought, not who bought it.
    assert!(!html.contains("buyer@example.com"), "{html}");
    assert!(html.contains("A receipt is on its way to the email you paid with."));
    // The account that bought sees where its receipt goes; another account with the link does not.
    let owner = app.subscriber_without_purchase("owner@example.com").await;
    let (status, mine) = app.checkout_as(&owner, "lifetime_once", "payment").await;
    assert_eq!(status, 200, "{mine}");
    let mine = pay(&app, mine["url"].as_str().unwrap(), "owner@example.com").await;
    let seen = app.page(&mine, &owner).await;
    assert!(
        seen.contains("A receipt is on its way to <strong>owner@example.com</strong>"),
        "{seen}"
    );
    let other = app.subscriber_without_purchase("other@example.com").await;
    let seen = app.page(&mine, &other).await;
    assert!(seen.contains("Lifetime"), "{seen}");
    assert!(!seen.contains("owner@example.com"), "{seen}");
    assert!(
        !html.contains("Signed in as"),
        "a session id never signs anyone in"
    );

    let unpaid = app
        .create_checkout(app.body("lifetime_once", "payment"), None)
        .await
        .1;
    let id = unpaid["url"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    assert!(app
        .get_text(&format!("/success?session_id={id}"))
        .await
        .1
        .contains("not paid"));
    let html = app.get_text("/success?session_id=cs_test_nope").await.1;
    assert!(html.contains("We could not find this purchase"));
    let html = app.get_text("/success?session_id=%3Cscript%3E").await.1;
    assert!(html.contains("This is not a Checkout Session id."));

    // The URLs API clients often give Checkout: `/welcome` with a session id is the same
    // page, and without one goes on to the product; a success URL without the session id, or
    // with Stripe's placeholder unfilled, is a thank-you, not an error; `/cancel` goes back to
    // pricing, which says nothing was charged.
    let res = app.get(&path.replace("/success", "/welcome")).await;
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()["location"], path.as_str());
    for bare in ["/welcome", "/welcome?session_id=%7BCHECKOUT_SESSION_ID%7D"] {
        let res = app.get(bare).await;
        assert!(res.status().is_redirection(), "{bare}: {}", res.status());
        assert_eq!(res.headers()["location"], "/app", "{bare}");
    }
    for bare in ["/success", "/success?session_id=%7BCHECKOUT_SESSION_ID%7D"] {
        let (status, html) = app.get_text(bare).await;
        assert_eq!(status, 200, "{bare}");
        assert!(
            html.contains("Thank you for your purchase"),
            "{bare}: {html}"
        );
        assert!(html.contains(r#"href="/billing""#), "{bare}");
    }
    let res = app.get("/cancel").await;
    assert!(res.status().is_redirection());
    assert_eq!(res.headers()["location"], "/pricing?canceled=1");
    let html = app.get_text("/pricing?canceled=1").await.1;
    assert!(html.contains("nothing was charged"), "{html}");
}

#[tokio::test]
async fn with_billing_off_buying_is_disabled_and_both_routes_answer_503() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let html = app.get_text("/pricing").await.1;
    assert!(html.contains("Buying is turned off"));
    assert!(html.contains("disabled"), "the buttons are disabled");
    let (status, body) = app
        .create_checkout(app.body("lifetime_once", "payment"), None)
        .await;
    assert_eq!(status, 503);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("no Stripe key is configured"));
    let res = app
        .client
        .post(app.url("/api/checkout"))
        .header(ACCEPT, "application/json")
        .header(ORIGIN, &app.base)
        .form(&[("price", "lifetime_once")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
}

#[tokio::test]
async fn an_allowed_redirect_origin_may_be_used_and_the_pricing_page_carries_notices() {
    let app = TestApp::spawn_billing_with(
        Backend::Sqlite,
        &[("ALLOWED_REDIRECT_ORIGINS", "https://app.example.com")],
    )
    .await;
    let mut b = app.body("lifetime_once", "payment");
    b["successUrl"] = json!("https://app.example.com/done");
    assert_eq!(app.create_checkout(b, None).await.0, 200);
    let html = app.get_text("/pricing?canceled=1&coupon=LAUNCH20").await.1;
    assert!(html.contains("Checkout was canceled and nothing was charged."));
    assert!(html.contains(r#"name="coupon" value="LAUNCH20""#));
}
