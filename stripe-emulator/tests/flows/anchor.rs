//! A new subscription's `billing_cycle_anchor`, on `POST /v1/subscriptions` and through
//! Checkout's `subscription_data[billing_cycle_anchor]`: a short first period up to the anchor,
//! invoiced at its share of the price (or free under `proration_behavior=none`), then full
//! periods from the anchor; an anchor in the past or past the first natural period refused.

use stripe_billing::invoice::RetrieveInvoice;
use stripe_billing::subscription::{
    CreateSubscription, CreateSubscriptionItems, CreateSubscriptionProrationBehavior,
};
use stripe_core::customer::CreateCustomer;

use super::*;

const DAY: i64 = 86_400;

fn now(s: &Setup) -> i64 {
    s.emulator.store.lock().unwrap().now()
}

async fn customer(s: &Setup) -> String {
    CreateCustomer::new()
        .email("anchored@example.com")
        .send(&s.client)
        .await
        .unwrap()
        .id
        .to_string()
}

/// A form posted to the API with the key, as a client that is not async-stripe sends it.
async fn api_form(s: &Setup, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    s.http
        .post(format!("{}{path}", s.emulator.base_url))
        .basic_auth("sk_test_flows", Some(""))
        .form(fields)
        .send()
        .await
        .unwrap()
}

fn subscribe(customer: &str, price: &str, anchor: i64) -> CreateSubscription {
    CreateSubscription::new()
        .customer(customer)
        .items(vec![CreateSubscriptionItems {
            price: Some(price.to_string()),
            quantity: Some(1),
            ..CreateSubscriptionItems::new()
        }])
        .billing_cycle_anchor(anchor)
}

#[tokio::test]
async fn a_subscription_anchored_ten_days_out_is_charged_a_third_of_a_month_then_full_months_from_the_anchor(
) {
    let s = setup().await;
    let customer = customer(&s).await;
    let starter = s.price("starter_monthly").await;
    let anchor = now(&s) + 10 * DAY;
    s.clear();
    let sub = subscribe(&customer, &starter, anchor)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(sub.status.as_str(), "active");
    assert_eq!(sub.billing_cycle_anchor, anchor);
    assert_eq!(sub.items.data[0].current_period_end, anchor);
    let first = RetrieveInvoice::new(sub.latest_invoice.unwrap().id().as_ref().unwrap().as_str())
        .send(&s.client)
        .await
        .unwrap();
    // $9 a month of 30 days: ten days cost $3.
    assert_eq!(first.amount_paid, 300);
    assert_eq!(
        first.billing_reason.unwrap().as_str(),
        "subscription_create"
    );
    assert_eq!(first.period_end, anchor);
    let e = s.events(5).await;
    assert_eq!(
        types(&e),
        [
            "customer.subscription.created",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded"
        ]
    );

    // At the anchor, a full month, and the next period runs a month from it.
    s.control("/_emulator/advance", &[("days", "11")]).await;
    let renewed = RetrieveSubscription::new(sub.id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(renewed.items.data[0].current_period_start, anchor);
    assert_eq!(renewed.items.data[0].current_period_end, anchor + 30 * DAY);
    let second = RetrieveInvoice::new(
        renewed
            .latest_invoice
            .unwrap()
            .id()
            .as_ref()
            .unwrap()
            .as_str(),
    )
    .send(&s.client)
    .await
    .unwrap();
    assert_eq!(second.amount_paid, 900);
    assert_eq!(
        second.billing_reason.unwrap().as_str(),
        "subscription_cycle"
    );
}

#[tokio::test]
async fn without_proration_the_first_period_up_to_the_anchor_is_free() {
    let s = setup().await;
    let customer = customer(&s).await;
    let starter = s.price("starter_monthly").await;
    let anchor = now(&s) + 20 * DAY;
    let sub = subscribe(&customer, &starter, anchor)
        .proration_behavior(CreateSubscriptionProrationBehavior::None)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(sub.status.as_str(), "active");
    let first = RetrieveInvoice::new(sub.latest_invoice.unwrap().id().as_ref().unwrap().as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!((first.amount_due, first.amount_paid), (0, 0));
}

#[tokio::test]
async fn an_anchor_in_the_past_or_past_the_first_natural_period_is_refused_naming_it() {
    let s = setup().await;
    let customer = customer(&s).await;
    let starter = s.price("starter_monthly").await;
    for anchor in [now(&s) - DAY, now(&s) + 31 * DAY] {
        let refused = api_form(
            &s,
            "/v1/subscriptions",
            &[
                ("customer", customer.as_str()),
                ("items[0][price]", starter.as_str()),
                ("billing_cycle_anchor", &anchor.to_string()),
            ],
        )
        .await;
        assert_eq!(refused.status(), 400);
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["error"]["param"], "billing_cycle_anchor", "{body}");
    }
    assert!(s.emulator.store.lock().unwrap().subscriptions.is_empty());
}

#[tokio::test]
async fn checkout_with_a_billing_cycle_anchor_charges_the_share_up_to_it() {
    let s = setup().await;
    let anchor = now(&s) + 15 * DAY;
    let id = s
        .session("starter_monthly", |r| {
            r.subscription_data(CreateCheckoutSessionSubscriptionData {
                billing_cycle_anchor: Some(anchor),
                ..CreateCheckoutSessionSubscriptionData::new()
            })
        })
        .await;
    let session = RetrieveCheckoutSession::new(id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(session.amount_total, Some(450), "half of a $9 month");
    assert_eq!(s.pay(&id, "4242424242424242").await.status(), 303);
    let session = RetrieveCheckoutSession::new(id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    let sub = RetrieveSubscription::new(session.subscription.unwrap().id().as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(sub.billing_cycle_anchor, anchor);
    assert_eq!(sub.items.data[0].current_period_end, anchor);
    let first = RetrieveInvoice::new(sub.latest_invoice.unwrap().id().as_ref().unwrap().as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(first.amount_paid, 450);

    // An anchor with a trial is not emulated: refused rather than ignored.
    let refused = api_form(
        &s,
        "/v1/checkout/sessions",
        &[
            ("mode", "subscription"),
            ("line_items[0][price]", &s.price("pro_monthly").await),
            ("line_items[0][quantity]", "1"),
            ("success_url", "https://shop.test/s"),
            ("cancel_url", "https://shop.test/c"),
            ("subscription_data[trial_period_days]", "14"),
            (
                "subscription_data[billing_cycle_anchor]",
                &anchor.to_string(),
            ),
        ],
    )
    .await;
    assert_eq!(refused.status(), 400);
}
