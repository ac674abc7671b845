//! A trialing subscription's plan change: the trial kept (`trial_end` as it was) bills nothing
//! until its end, `trial_end=now` ends it and bills at once, and the portal does either as its
//! configuration's `trial_update_behavior` says.

use stripe_billing::invoice::{
    CreatePreviewInvoice, CreatePreviewInvoiceSubscriptionDetails,
    CreatePreviewInvoiceSubscriptionDetailsItems,
    CreatePreviewInvoiceSubscriptionDetailsProrationBehavior as PreviewProration,
    CreatePreviewInvoiceSubscriptionDetailsTrialEnd, RetrieveInvoice,
};
use stripe_billing::subscription::{
    UpdateSubscription, UpdateSubscriptionItems, UpdateSubscriptionProrationBehavior,
    UpdateSubscriptionTrialEnd,
};

use super::*;

const DAY: i64 = 86_400;

/// Subscribes to `lookup_key` with a 14-day trial; returns (customer, subscription).
async fn subscribe_on_trial(s: &Setup, lookup_key: &str) -> (String, String) {
    let id = s
        .session(lookup_key, |r| {
            r.subscription_data(CreateCheckoutSessionSubscriptionData {
                trial_period_days: Some(14),
                ..CreateCheckoutSessionSubscriptionData::new()
            })
        })
        .await;
    assert_eq!(s.pay(&id, "4242424242424242").await.status(), 303);
    // Checkout's seven events have arrived: what follows is the change's.
    s.events(7).await;
    let session = RetrieveCheckoutSession::new(id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    (
        session.customer.unwrap().id().to_string(),
        session.subscription.unwrap().id().to_string(),
    )
}

fn invoices(s: &Setup) -> usize {
    s.emulator.store.lock().unwrap().invoices.len()
}

#[tokio::test]
async fn a_change_that_keeps_the_trial_end_stays_trialing_and_invoices_nothing_until_it() {
    let s = setup().await;
    let (customer, sub) = subscribe_on_trial(&s, "pro_monthly").await;
    let before = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    let trial_end = before.trial_end.unwrap();
    let item = before.items.data[0].id.to_string();
    let yearly = s.price("pro_yearly").await;

    // The preview: nothing now, the new price at the trial's end.
    let shown = CreatePreviewInvoice::new()
        .customer(customer.as_str())
        .subscription(sub.as_str())
        .subscription_details(CreatePreviewInvoiceSubscriptionDetails {
            items: Some(vec![CreatePreviewInvoiceSubscriptionDetailsItems {
                id: Some(item.clone()),
                price: Some(yearly.clone()),
                ..CreatePreviewInvoiceSubscriptionDetailsItems::new()
            }]),
            proration_behavior: Some(PreviewProration::AlwaysInvoice),
            trial_end: Some(CreatePreviewInvoiceSubscriptionDetailsTrialEnd::Timestamp(
                trial_end,
            )),
            ..CreatePreviewInvoiceSubscriptionDetails::new()
        })
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(shown.billing_reason.unwrap().as_str(), "subscription_cycle");
    assert_eq!(shown.amount_due, 29_000);
    assert_eq!(shown.period_start, trial_end);

    let invoiced = invoices(&s);
    s.clear();
    let changed = UpdateSubscription::new(sub.as_str())
        .items(vec![UpdateSubscriptionItems {
            id: Some(item),
            price: Some(yearly.clone()),
            ..UpdateSubscriptionItems::new()
        }])
        .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .trial_end(UpdateSubscriptionTrialEnd::Timestamp(trial_end))
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(changed.status.as_str(), "trialing");
    assert_eq!(changed.trial_end, Some(trial_end));
    assert_eq!(changed.items.data[0].price.id.as_str(), yearly);
    assert_eq!(changed.items.data[0].current_period_end, trial_end);
    assert_eq!(invoices(&s), invoiced, "nothing is invoiced during a trial");
    let e = s.events(1).await;
    assert_eq!(types(&e), ["customer.subscription.updated"]);

    // A trial end in the past is refused, as Stripe refuses it, naming the parameter.
    let refused = s
        .http
        .post(format!("{}/v1/subscriptions/{sub}", s.emulator.base_url))
        .basic_auth("sk_test_flows", Some(""))
        .form(&[
            ("items[0][price]", s.price("pro_monthly").await),
            ("trial_end", (trial_end - 30 * DAY).to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["param"], "trial_end", "{body}");

    // At the trial's end, the new price is billed.
    s.control("/_emulator/advance", &[("days", "15")]).await;
    let after = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(after.status.as_str(), "active");
    let invoice = RetrieveInvoice::new(after.latest_invoice.unwrap().id().clone().unwrap())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(invoice.amount_paid, 29_000);
    assert_eq!(
        invoice.billing_reason.unwrap().as_str(),
        "subscription_cycle"
    );
}

#[tokio::test]
async fn trial_end_now_ends_the_trial_and_bills_the_new_price_at_once() {
    let s = setup().await;
    let (_, sub) = subscribe_on_trial(&s, "pro_monthly").await;
    let yearly = s.price("pro_yearly").await;
    s.clear();
    let changed = UpdateSubscription::new(sub.as_str())
        .items(vec![UpdateSubscriptionItems {
            price: Some(yearly),
            ..UpdateSubscriptionItems::new()
        }])
        .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .trial_end(UpdateSubscriptionTrialEnd::Now)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(changed.status.as_str(), "active");
    let item = &changed.items.data[0];
    assert_eq!(changed.trial_end, Some(item.current_period_start));
    assert_eq!(
        item.current_period_end - item.current_period_start,
        365 * DAY
    );
    let invoice = RetrieveInvoice::new(changed.latest_invoice.unwrap().id().clone().unwrap())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(invoice.amount_paid, 29_000);
    assert_eq!(
        invoice.billing_reason.unwrap().as_str(),
        "subscription_update"
    );
    let e = s.events(5).await;
    assert_eq!(e[0].1["data"]["previous_attributes"]["status"], "trialing");

    // Not trialing any more: `trial_end` is refused rather than ignored.
    let refused = UpdateSubscription::new(sub.as_str())
        .items(vec![UpdateSubscriptionItems {
            price: Some(s.price("pro_monthly").await),
            ..UpdateSubscriptionItems::new()
        }])
        .trial_end(UpdateSubscriptionTrialEnd::Now)
        .send(&s.client)
        .await;
    assert!(refused.is_err());
}

/// Stripe's API, with a form as the request's body.
async fn api(s: &Setup, path: &str, form: Vec<(&str, String)>) -> Value {
    let res = s
        .http
        .post(format!("{}{path}", s.emulator.base_url))
        .basic_auth("sk_test_flows", Some(""))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    serde_json::from_str(&res.text().await.unwrap()).unwrap()
}

/// Switches `sub` to `price` in a portal session on `configuration` (else the default).
async fn switch_in_portal(
    s: &Setup,
    (customer, sub): (String, String),
    configuration: Option<&str>,
    price: &str,
) -> stripe_shared::Subscription {
    let mut form = vec![("customer", customer)];
    form.extend(configuration.map(|c| ("configuration", c.to_string())));
    let session = api(s, "/v1/billing_portal/sessions", form).await;
    let path = format!(
        "/p/session/{}/subscriptions/{sub}",
        session["id"].as_str().unwrap()
    );
    let res = s
        .post_form(&path, &[("action", "switch"), ("price", price)])
        .await;
    assert_eq!(res.status(), 303);
    RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_portal_ends_a_trial_on_a_switch_unless_its_configuration_continues_it() {
    let s = setup().await;
    let yearly = s.price("pro_yearly").await;
    let product = {
        let store = s.emulator.store.lock().unwrap();
        store.prices[&yearly].product.clone()
    };
    let config = api(
        &s,
        "/v1/billing_portal/configurations",
        vec![
            ("features[subscription_update][enabled]", "true".into()),
            (
                "features[subscription_update][products][0][product]",
                product,
            ),
            (
                "features[subscription_update][products][0][prices][0]",
                yearly.clone(),
            ),
            (
                "features[subscription_update][proration_behavior]",
                "always_invoice".into(),
            ),
            (
                "features[subscription_update][trial_update_behavior]",
                "continue_trial".into(),
            ),
        ],
    )
    .await;
    assert_eq!(
        config["features"]["subscription_update"]["trial_update_behavior"],
        "continue_trial"
    );

    // `continue_trial`: the switch keeps the trial and its end, and bills nothing.
    let (customer, sub) = subscribe_on_trial(&s, "pro_monthly").await;
    let trial_end = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap()
        .trial_end;
    let invoiced = invoices(&s);
    let kept = switch_in_portal(&s, (customer, sub), config["id"].as_str(), &yearly).await;
    assert_eq!(kept.status.as_str(), "trialing");
    assert_eq!(kept.trial_end, trial_end);
    assert_eq!(kept.items.data[0].price.id.as_str(), yearly);
    assert_eq!(invoices(&s), invoiced);

    // The default (`end_trial`): the switch ends the trial and bills the new price now.
    s.clear();
    let subscribed = subscribe_on_trial(&s, "pro_monthly").await;
    let ended = switch_in_portal(&s, subscribed, None, &yearly).await;
    assert_eq!(ended.status.as_str(), "active");
    let invoice = RetrieveInvoice::new(ended.latest_invoice.unwrap().id().clone().unwrap())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(invoice.amount_paid, 29_000);
}
