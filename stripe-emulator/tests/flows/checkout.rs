//! Paying at the hosted Checkout page: the test cards, authentication and promotion codes.

use super::*;

#[tokio::test]
async fn card_4242_pays_a_one_time_price_and_stripes_events_follow_in_order() {
    let s = setup().await;
    let id = s
        .session("lifetime_once", |r| {
            r.customer_creation(
                stripe_checkout::checkout_session::CreateCheckoutSessionCustomerCreation::Always,
            )
        })
        .await;
    let page = s
        .http
        .get(format!("{}/c/pay/{id}", s.emulator.base_url))
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Lifetime") && html.contains("299.00 USD"),
        "{html}"
    );

    let res = s.pay(&id, "4242 4242 4242 4242").await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        location(&res),
        format!("https://shop.test/success?session_id={id}")
    );

    let events = s.events(4).await;
    assert_eq!(
        types(&events),
        [
            "customer.created",
            "payment_intent.created",
            "payment_intent.succeeded",
            "checkout.session.completed"
        ]
    );
    let completed = &events[3].1["data"]["object"];
    assert_eq!(completed["customer_details"]["email"], "buyer@example.com");
    let session = RetrieveCheckoutSession::new(id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(session.status, Some(CheckoutSessionStatus::Complete));
    assert_eq!(session.payment_status, CheckoutSessionPaymentStatus::Paid);
    assert!(session.payment_intent.is_some());
}

#[tokio::test]
async fn card_4242_starts_a_subscription_with_its_first_paid_invoice() {
    let s = setup().await;
    let id = s
        .session("pro_monthly", |r| r.client_reference_id("user-7"))
        .await;
    assert_eq!(s.pay(&id, "4242424242424242").await.status(), 303);
    let events = s.events(7).await;
    assert_eq!(
        types(&events),
        [
            "customer.created",
            "customer.subscription.created",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded",
            "checkout.session.completed",
        ]
    );
    let session = &events[6].1["data"]["object"];
    assert_eq!(session["client_reference_id"], "user-7");
    let sub_id = session["subscription"].as_str().unwrap();
    let sub = RetrieveSubscription::new(sub_id)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(sub.status.as_str(), "active");
    assert_eq!(
        sub.items.data[0].price.lookup_key.as_deref(),
        Some("pro_monthly")
    );
    let invoice = &events[4].1["data"]["object"];
    assert_eq!(invoice["amount_paid"], 2900);
    assert_eq!(
        invoice["parent"]["subscription_details"]["subscription"],
        sub_id
    );
    let hosted = invoice["hosted_invoice_url"].as_str().unwrap();
    assert_eq!(s.http.get(hosted).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn declined_and_insufficient_funds_cards_stay_on_the_page_with_stripes_words() {
    let s = setup().await;
    let id = s.session("starter_monthly", |r| r).await;
    for (card, message) in [
        ("4000 0000 0000 0002", "Your card was declined."),
        ("4000 0000 0000 9995", "Your card has insufficient funds."),
        ("4242 4242 4242 4241", "Your card number is incorrect."),
    ] {
        let res = s.pay(&id, card).await;
        assert_eq!(res.status(), 402, "{card}");
        let html = res.text().await.unwrap();
        assert!(html.contains(message), "{card}: {html}");
        assert!(html.contains("buyer@example.com"), "what was typed is kept");
    }
    let session = RetrieveCheckoutSession::new(id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(session.status, Some(CheckoutSessionStatus::Open));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        s.hook.received.lock().unwrap().is_empty(),
        "no event for a failed payment"
    );
}

#[tokio::test]
async fn card_3155_asks_for_authentication_which_can_pass_or_fail() {
    let s = setup().await;
    let id = s.session("lifetime_once", |r| r).await;
    let res = s.pay(&id, "4000 0025 0000 3155").await;
    assert_eq!(res.status(), 303);
    assert_eq!(location(&res), format!("/c/3ds/{id}"));
    let page = s
        .http
        .get(format!("{}/c/3ds/{id}", s.emulator.base_url))
        .send()
        .await
        .unwrap();
    assert!(page
        .text()
        .await
        .unwrap()
        .contains("Complete authentication"));

    let failed = s
        .post_form(&format!("/c/3ds/{id}"), &[("action", "fail")])
        .await;
    assert_eq!(failed.status(), 402);
    assert!(failed
        .text()
        .await
        .unwrap()
        .contains("unable to authenticate"));

    s.pay(&id, "4000 0025 0000 3155").await;
    let passed = s
        .post_form(&format!("/c/3ds/{id}"), &[("action", "complete")])
        .await;
    assert_eq!(passed.status(), 303);
    assert!(location(&passed).starts_with("https://shop.test/success"));
    let events = s.events(3).await;
    assert_eq!(types(&events).last(), Some(&"checkout.session.completed"));
}

#[tokio::test]
async fn a_promotion_code_typed_at_checkout_discounts_the_total() {
    let s = setup().await;
    s.control_api("/v1/coupons", &[("id", "HALF"), ("percent_off", "50")])
        .await;
    s.control_api(
        "/v1/promotion_codes",
        &[
            ("promotion[type]", "coupon"),
            ("promotion[coupon]", "HALF"),
            ("code", "LAUNCH"),
        ],
    )
    .await;
    let id = s
        .session("lifetime_once", |r| r.allow_promotion_codes(true))
        .await;
    let html = s
        .http
        .get(format!("{}/c/pay/{id}", s.emulator.base_url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Promotion code"));
    let bad = s
        .post_form(
            &format!("/c/pay/{id}"),
            &[
                ("email", "a@b.co"),
                ("card_number", "4242424242424242"),
                ("expiry", "1234"),
                ("cvc", "123"),
                ("promotion_code", "NOPE"),
            ],
        )
        .await;
    assert!(bad.text().await.unwrap().contains("This code is invalid."));
    let ok = s
        .post_form(
            &format!("/c/pay/{id}"),
            &[
                ("email", "a@b.co"),
                ("card_number", "4242424242424242"),
                ("expiry", "1234"),
                ("cvc", "123"),
                ("promotion_code", "launch"),
            ],
        )
        .await;
    assert_eq!(ok.status(), 303);
    let session = RetrieveCheckoutSession::new(id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(session.amount_total, Some(14950));
}

/// Card 3184: authenticated at checkout, and asked again on every renewal, which waits on the
/// hosted invoice page (`invoice.payment_action_required`, past due) until the customer pays.
#[tokio::test]
async fn card_3184_asks_for_authentication_on_every_renewal() {
    let s = setup().await;
    let id = s.session("starter_monthly", |r| r).await;
    assert_eq!(s.pay(&id, "4000 0027 6000 3184").await.status(), 303);
    let passed = s
        .post_form(&format!("/c/3ds/{id}"), &[("action", "complete")])
        .await;
    assert_eq!(passed.status(), 303);
    let events = s.events(7).await;
    let sub = events[6].1["data"]["object"]["subscription"]
        .as_str()
        .unwrap()
        .to_string();
    s.clear();
    let renewed = s
        .control(&format!("/_emulator/subscriptions/{sub}/renew"), &[])
        .await;
    assert_eq!(renewed["status"], "past_due");
    let e = s.events(4).await;
    assert_eq!(
        types(&e),
        [
            "invoice.created",
            "invoice.finalized",
            "invoice.payment_action_required",
            "customer.subscription.updated"
        ]
    );
    let invoice = e[2].1["data"]["object"].clone();
    let hosted = invoice["hosted_invoice_url"].as_str().unwrap().to_string();
    let page = s.page_text(&hosted).await;
    assert!(page.contains("Authenticate and pay"), "{page}");
    s.clear();
    let paid = s
        .post_form(&format!("/i/{}/pay", invoice["id"].as_str().unwrap()), &[])
        .await;
    assert_eq!(paid.status(), 303);
    let e = s.events(3).await;
    assert_eq!(
        types(&e),
        [
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated"
        ]
    );
    assert_eq!(e[2].1["data"]["object"]["status"], "active");
}

/// `payment_behavior=pending_if_incomplete`: an upgrade whose invoice needs the customer keeps
/// the old price, shows the change as `pending_update`, and applies it when the invoice is paid.
#[tokio::test]
async fn a_pending_if_incomplete_upgrade_waits_for_its_invoice_to_be_paid() {
    use stripe_billing::subscription::{
        UpdateSubscription, UpdateSubscriptionItems, UpdateSubscriptionPaymentBehavior,
        UpdateSubscriptionProrationBehavior,
    };

    let s = setup().await;
    let id = s.session("starter_monthly", |r| r).await;
    assert_eq!(s.pay(&id, "4000 0027 6000 3184").await.status(), 303);
    s.post_form(&format!("/c/3ds/{id}"), &[("action", "complete")])
        .await;
    let events = s.events(7).await;
    let sub = events[6].1["data"]["object"]["subscription"]
        .as_str()
        .unwrap()
        .to_string();
    let starter = s.price("starter_monthly").await;
    let pro = s.price("pro_monthly").await;
    let before = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    let item = before.items.data[0].id.to_string();
    s.clear();

    let waiting = UpdateSubscription::new(sub.as_str())
        .items(vec![UpdateSubscriptionItems {
            id: Some(item),
            price: Some(pro.clone()),
            ..UpdateSubscriptionItems::new()
        }])
        .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .payment_behavior(UpdateSubscriptionPaymentBehavior::PendingIfIncomplete)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(waiting.items.data[0].price.id.as_str(), starter);
    let invoice_id = |sub: &stripe_shared::Subscription| {
        sub.latest_invoice
            .as_ref()
            .and_then(|i| i.id().clone())
            .map(|id| id.to_string())
    };
    let invoice = invoice_id(&waiting).unwrap();
    assert_ne!(Some(invoice.clone()), invoice_id(&before), "a new invoice");
    let pending = waiting.pending_update.expect("a pending update");
    assert_eq!(
        pending.subscription_items.unwrap()[0].price.id.as_str(),
        pro
    );

    let paid = s.post_form(&format!("/i/{invoice}/pay"), &[]).await;
    assert_eq!(paid.status(), 303);
    let after = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(after.items.data[0].price.id.as_str(), pro);
    assert!(after.pending_update.is_none());
    let e = s.events(8).await;
    assert!(
        types(&e).contains(&"customer.subscription.pending_update_applied"),
        "{:?}",
        types(&e)
    );
}
