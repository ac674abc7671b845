//! Time travel: renewals, a failed renewal and a trial's end.

use super::*;

#[tokio::test]
async fn advancing_time_renews_and_a_failed_renewal_makes_the_subscription_past_due() {
    let s = setup().await;
    let (_customer, sub) = s.subscribe("starter_monthly").await;
    s.clear();
    let out = s.control("/_emulator/advance", &[("days", "31")]).await;
    let renewal: Vec<&str> = out["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        renewal,
        [
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated"
        ]
    );
    s.events(5).await;

    s.clear();
    s.control(
        &format!("/_emulator/subscriptions/{sub}/fail_next_renewal"),
        &[],
    )
    .await;
    s.control("/_emulator/advance", &[("days", "30")]).await;
    let e = s.events(4).await;
    assert_eq!(
        types(&e),
        [
            "invoice.created",
            "invoice.finalized",
            "invoice.payment_failed",
            "customer.subscription.updated"
        ]
    );
    assert_eq!(e[3].1["data"]["object"]["status"], "past_due");
    assert_eq!(e[3].1["data"]["previous_attributes"]["status"], "active");
    let failed_invoice = e[2].1["data"]["object"]["id"].as_str().unwrap().to_string();

    s.clear();
    s.control(&format!("/_emulator/invoices/{failed_invoice}/pay"), &[])
        .await;
    let e = s.events(3).await;
    assert_eq!(
        types(&e),
        [
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated"
        ]
    );

    // One subscription's clock: renewed now, failing, without moving anyone else's.
    s.clear();
    s.control(
        &format!("/_emulator/subscriptions/{sub}/fail_next_renewal"),
        &[],
    )
    .await;
    s.control(&format!("/_emulator/subscriptions/{sub}/renew"), &[])
        .await;
    let e = s.events(4).await;
    assert_eq!(e[2].0, "invoice.payment_failed");
    assert_eq!(e[3].1["data"]["object"]["status"], "past_due");
    let failed_invoice = e[2].1["data"]["object"]["id"].as_str().unwrap().to_string();
    s.clear();
    s.control(&format!("/_emulator/invoices/{failed_invoice}/pay"), &[])
        .await;
    let e = s.events(3).await;
    assert_eq!(
        types(&e),
        [
            "invoice.paid",
            "invoice.payment_succeeded",
            "customer.subscription.updated"
        ]
    );
    let sub = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(sub.status.as_str(), "active");
}

#[tokio::test]
async fn a_trial_warns_three_days_ahead_then_bills() {
    let s = setup().await;
    let id = s
        .session("pro_monthly", |r| {
            r.subscription_data(CreateCheckoutSessionSubscriptionData {
                trial_period_days: Some(7),
                ..CreateCheckoutSessionSubscriptionData::new()
            })
        })
        .await;
    s.pay(&id, "4242424242424242").await;
    let events = s.events(7).await;
    assert_eq!(events[1].1["data"]["object"]["status"], "trialing");
    assert_eq!(events[4].1["data"]["object"]["amount_paid"], 0);
    let out = s.control("/_emulator/advance", &[("days", "5")]).await;
    assert_eq!(
        out["events"][0]["type"],
        "customer.subscription.trial_will_end"
    );
    let out = s.control("/_emulator/advance", &[("days", "3")]).await;
    let last = out["events"].as_array().unwrap().last().unwrap()["type"].clone();
    assert_eq!(last, "customer.subscription.updated");
    let sub_id = events[1].1["data"]["object"]["id"].as_str().unwrap();
    let sub = RetrieveSubscription::new(sub_id)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(sub.status.as_str(), "active");
}
