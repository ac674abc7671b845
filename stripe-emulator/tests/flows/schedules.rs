//! Subscription schedules: a downgrade scheduled for the period's end, billed by the renewal;
//! a schedule released (the renewal bills the old price) or canceled; the portal scheduling
//! the switches its configuration says to.

use super::*;

/// Makes a schedule from `sub` and gives it a second phase billing `next` from the period's end.
async fn schedule_change(s: &Setup, sub: &str, next: &str) -> Value {
    let made = s
        .control_api("/v1/subscription_schedules", &[("from_subscription", sub)])
        .await;
    let id = made["id"].as_str().unwrap().to_string();
    let phase = &made["phases"][0];
    let current = phase["items"][0]["price"].as_str().unwrap().to_string();
    let (start, end) = (
        phase["start_date"].to_string(),
        phase["end_date"].to_string(),
    );
    s.control_api(
        &format!("/v1/subscription_schedules/{id}"),
        &[
            ("phases[0][items][0][price]", &current),
            ("phases[0][items][0][quantity]", "1"),
            ("phases[0][start_date]", &start),
            ("phases[0][end_date]", &end),
            ("phases[1][items][0][price]", next),
            ("phases[1][items][0][quantity]", "1"),
            ("phases[1][proration_behavior]", "none"),
            ("end_behavior", "release"),
        ],
    )
    .await
}

fn renewal_amount(events: &[(String, Value)]) -> i64 {
    events
        .iter()
        .find(|(t, e)| {
            t == "invoice.paid" && e["data"]["object"]["billing_reason"] == "subscription_cycle"
        })
        .map(|(_, e)| e["data"]["object"]["amount_paid"].as_i64().unwrap())
        .expect("a paid renewal")
}

#[tokio::test]
async fn a_scheduled_downgrade_is_billed_by_the_renewal_at_the_period_end() {
    let s = setup().await;
    let (_, sub) = s.subscribe("pro_yearly").await;
    let starter = s.price("starter_yearly").await;
    s.clear();
    let scheduled = schedule_change(&s, &sub, &starter).await;
    assert_eq!(scheduled["status"], "active");
    assert_eq!(scheduled["end_behavior"], "release");
    assert_eq!(
        scheduled["phases"][1]["items"][0]["price"],
        starter.as_str()
    );
    // The second phase lasts one yearly period from the first one's end.
    let (end0, start1, end1): (i64, i64, i64) = (
        scheduled["phases"][0]["end_date"].as_i64().unwrap(),
        scheduled["phases"][1]["start_date"].as_i64().unwrap(),
        scheduled["phases"][1]["end_date"].as_i64().unwrap(),
    );
    assert_eq!(start1, end0);
    assert_eq!(end1 - start1, 365 * 86_400);
    let e = s.events(3).await;
    assert_eq!(
        types(&e),
        [
            "subscription_schedule.created",
            "customer.subscription.updated",
            "subscription_schedule.updated"
        ]
    );
    assert_eq!(e[1].1["data"]["object"]["schedule"], scheduled["id"]);
    assert_eq!(
        e[1].1["data"]["previous_attributes"]["schedule"],
        Value::Null
    );
    // Nothing changes before the period's end: still Pro, nothing invoiced.
    let now = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(
        now.items.data[0].price.lookup_key.as_deref(),
        Some("pro_yearly")
    );

    s.clear();
    let renewed = s
        .control(&format!("/_emulator/subscriptions/{sub}/renew"), &[])
        .await;
    assert_eq!(
        renewed["items"]["data"][0]["price"]["lookup_key"],
        "starter_yearly"
    );
    assert_eq!(renewed["schedule"], scheduled["id"], "the last phase runs");
    let e = s.events(6).await;
    assert_eq!(e[0].0, "subscription_schedule.updated");
    assert_eq!(renewal_amount(&e), 9_000);
    let read = s
        .control_api(
            &format!(
                "/v1/subscription_schedules/{}",
                scheduled["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(
        read["current_phase"]["start_date"],
        read["phases"][1]["start_date"]
    );
}

#[tokio::test]
async fn a_released_schedule_leaves_the_renewal_at_the_old_price() {
    let s = setup().await;
    let (_, sub) = s.subscribe("pro_yearly").await;
    let starter = s.price("starter_yearly").await;
    s.clear();
    let scheduled = schedule_change(&s, &sub, &starter).await;
    let id = scheduled["id"].as_str().unwrap().to_string();
    s.events(3).await;
    s.clear();
    let released = s
        .control_api(&format!("/v1/subscription_schedules/{id}/release"), &[])
        .await;
    assert_eq!(released["status"], "released");
    assert_eq!(released["subscription"], Value::Null);
    assert_eq!(released["released_subscription"], sub.as_str());
    let e = s.events(2).await;
    assert_eq!(
        types(&e),
        [
            "subscription_schedule.released",
            "customer.subscription.updated"
        ]
    );
    assert_eq!(e[1].1["data"]["object"]["schedule"], Value::Null);
    // A released schedule takes no more changes.
    let res = s
        .http
        .post(format!(
            "{}/v1/subscription_schedules/{id}/release",
            s.emulator.base_url
        ))
        .bearer_auth("sk_test_flows")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    s.clear();
    let renewed = s
        .control(&format!("/_emulator/subscriptions/{sub}/renew"), &[])
        .await;
    assert_eq!(
        renewed["items"]["data"][0]["price"]["lookup_key"],
        "pro_yearly"
    );
    assert_eq!(renewal_amount(&s.events(4).await), 29_000);
}

#[tokio::test]
async fn a_canceled_schedule_cancels_its_subscription_and_a_subscription_takes_one_schedule() {
    let s = setup().await;
    let (_, sub) = s.subscribe("starter_monthly").await;
    let made = s
        .control_api("/v1/subscription_schedules", &[("from_subscription", &sub)])
        .await;
    let again = s
        .post_form_api("/v1/subscription_schedules", &[("from_subscription", &sub)])
        .await;
    assert_eq!(again.0, 400, "{}", again.1);
    assert_eq!(again.1["error"]["param"], "from_subscription");
    // The current phase keeps the subscription's items in the emulator.
    let pro = s.price("pro_monthly").await;
    let changed_now = s
        .post_form_api(
            &format!(
                "/v1/subscription_schedules/{}",
                made["id"].as_str().unwrap()
            ),
            &[("phases[0][items][0][price]", &pro)],
        )
        .await;
    assert_eq!(changed_now.0, 400, "{}", changed_now.1);
    s.clear();
    let canceled = s
        .control_api(
            &format!(
                "/v1/subscription_schedules/{}/cancel",
                made["id"].as_str().unwrap()
            ),
            &[],
        )
        .await;
    assert_eq!(canceled["status"], "canceled");
    let e = s.events(2).await;
    assert_eq!(
        types(&e),
        [
            "subscription_schedule.canceled",
            "customer.subscription.deleted"
        ]
    );
}

#[tokio::test]
async fn the_portal_schedules_a_downgrade_its_configuration_says_to_wait_for() {
    let s = setup().await;
    let (customer, sub) = s.subscribe("pro_yearly").await;
    let (pro, starter) = (s.price("pro_yearly").await, s.price("starter_yearly").await);
    let products: Vec<(String, String)> = {
        let store = s.emulator.store.lock().unwrap();
        [&pro, &starter]
            .iter()
            .map(|id| (store.prices[*id].product.clone(), (*id).clone()))
            .collect()
    };
    let mut form: Vec<(String, String)> = vec![
        (
            "features[subscription_update][enabled]".into(),
            "true".into(),
        ),
        (
            "features[subscription_update][default_allowed_updates][0]".into(),
            "price".into(),
        ),
        (
            "features[subscription_update][proration_behavior]".into(),
            "always_invoice".into(),
        ),
        (
            "features[subscription_update][schedule_at_period_end][conditions][0][type]".into(),
            "decreasing_item_amount".into(),
        ),
        (
            "features[subscription_update][schedule_at_period_end][conditions][1][type]".into(),
            "shortening_interval".into(),
        ),
    ];
    for (i, (product, price)) in products.iter().enumerate() {
        form.push((
            format!("features[subscription_update][products][{i}][product]"),
            product.clone(),
        ));
        form.push((
            format!("features[subscription_update][products][{i}][prices][0]"),
            price.clone(),
        ));
    }
    let fields: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let config = s
        .control_api("/v1/billing_portal/configurations", &fields)
        .await;
    assert_eq!(
        config["features"]["subscription_update"]["schedule_at_period_end"]["conditions"][1]
            ["type"],
        "shortening_interval"
    );
    let portal = CreateBillingPortalSession::new()
        .customer(customer.as_str())
        .configuration(config["id"].as_str().unwrap())
        .send(&s.client)
        .await
        .unwrap();
    s.clear();
    let res = s
        .post_form(
            &format!("/p/session/{}/subscriptions/{sub}", portal.id),
            &[("action", "switch"), ("price", &starter)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let e = s.events(3).await;
    assert_eq!(types(&e)[0], "subscription_schedule.created");
    assert!(
        types(&e).iter().all(|t| !t.starts_with("invoice.")),
        "nothing invoiced: {:?}",
        types(&e)
    );
    let now = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(
        now.items.data[0].price.lookup_key.as_deref(),
        Some("pro_yearly"),
        "Pro until the period's end"
    );
    assert!(now.schedule.is_some());
    let html = s.page_text(&portal.url).await;
    assert!(html.contains("Changes to Starter"), "{html}");
    // The renewal bills Starter.
    s.clear();
    let renewed = s
        .control(&format!("/_emulator/subscriptions/{sub}/renew"), &[])
        .await;
    assert_eq!(
        renewed["items"]["data"][0]["price"]["lookup_key"],
        "starter_yearly"
    );
}
