//! The customer portal's actions, and the prices its configuration offers.

use super::*;

#[tokio::test]
async fn the_portal_cancels_at_period_end_resumes_switches_and_cancels_now() {
    let s = setup().await;
    let (customer, sub) = s.subscribe("starter_monthly").await;
    let portal = CreateBillingPortalSession::new()
        .customer(customer.as_str())
        .return_url("https://shop.test/billing")
        .send(&s.client)
        .await
        .unwrap();
    assert!(portal.url.starts_with(&s.emulator.base_url));
    let html = s.page_text(&portal.url).await;
    assert!(
        html.contains("Starter")
            && html.contains("Renews on")
            && html.contains("https://shop.test/billing")
    );
    let path = format!("/p/session/{}/subscriptions/{sub}", portal.id);

    s.clear();
    assert_eq!(
        s.post_form(&path, &[("action", "cancel_at_period_end")])
            .await
            .status(),
        303
    );
    let e = s.events(1).await;
    assert_eq!(types(&e), ["customer.subscription.updated"]);
    assert_eq!(e[0].1["data"]["object"]["cancel_at_period_end"], true);
    assert_eq!(
        e[0].1["data"]["previous_attributes"]["cancel_at_period_end"],
        false
    );
    assert!(s.page_text(&portal.url).await.contains("Cancels on"));

    s.clear();
    s.post_form(&path, &[("action", "resume")]).await;
    assert_eq!(
        s.events(1).await[0].1["data"]["object"]["cancel_at_period_end"],
        false
    );

    s.clear();
    let pro = s.price("pro_yearly").await;
    s.post_form(&path, &[("action", "switch"), ("price", &pro)])
        .await;
    // Monthly to yearly starts a yearly cycle now and invoices it at once, as Stripe does.
    let e = s.events(5).await;
    assert_eq!(
        e[0].1["data"]["object"]["items"]["data"][0]["price"]["lookup_key"],
        "pro_yearly"
    );
    assert_eq!(types(&e)[1..3], ["invoice.created", "invoice.finalized"]);
    assert_eq!(e[3].1["data"]["object"]["amount_paid"], 29_000);

    // The default configuration cancels at the period's end only; the portal follows it.
    s.clear();
    assert_eq!(
        s.post_form(&path, &[("action", "cancel_now")])
            .await
            .status(),
        400
    );
    let config = {
        let store = s.emulator.store.lock().unwrap();
        store.portal_configurations.keys().next().unwrap().clone()
    };
    let res = s
        .http
        .post(format!(
            "{}/v1/billing_portal/configurations/{config}",
            s.emulator.base_url
        ))
        .basic_auth("sk_test_flows", Some(""))
        .form(&[("features[subscription_cancel][mode]", "immediately")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let page = s.page_text(&portal.url).await;
    assert!(page.contains("Cancel now") && !page.contains("Cancel at period end"));
    s.clear();
    s.post_form(&path, &[("action", "cancel_now")]).await;
    let e = s.events(1).await;
    assert_eq!(types(&e), ["customer.subscription.deleted"]);
    assert_eq!(e[0].1["data"]["object"]["status"], "canceled");

    let other = s
        .post_form(
            &format!("/p/session/{}/subscriptions/sub_of_someone_else", portal.id),
            &[("action", "cancel_now")],
        )
        .await;
    assert_eq!(other.status(), 404);
}

/// A portal session follows its configuration: only the prices it lists can be picked, and a
/// form naming another is refused; without a configuration or a default, no session is made.
#[tokio::test]
async fn the_portal_offers_only_the_prices_its_configuration_lists() {
    let s = setup().await;
    let (customer, sub) = s.subscribe("starter_monthly").await;
    let (pro, pro_yearly) = (s.price("pro_monthly").await, s.price("pro_yearly").await);
    let product = {
        let store = s.emulator.store.lock().unwrap();
        store.prices[&pro].product.clone()
    };
    let api = |path: &str, form: Vec<(&str, String)>| {
        s.http
            .post(format!("{}{path}", s.emulator.base_url))
            .basic_auth("sk_test_flows", Some(""))
            .form(&form)
            .send()
    };
    let config: Value = serde_json::from_str(
        &api(
            "/v1/billing_portal/configurations",
            vec![
                ("features[subscription_update][enabled]", "true".into()),
                (
                    "features[subscription_update][products][0][product]",
                    product,
                ),
                (
                    "features[subscription_update][products][0][prices][0]",
                    pro.clone(),
                ),
                (
                    "features[subscription_update][proration_behavior]",
                    "always_invoice".into(),
                ),
            ],
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(config["is_default"], false);
    let session: Value = serde_json::from_str(
        &api(
            "/v1/billing_portal/sessions",
            vec![
                ("customer", customer.clone()),
                ("configuration", config["id"].as_str().unwrap().into()),
            ],
        )
        .await
        .unwrap()
        .text()
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(session["configuration"], config["id"]);
    let url = session["url"].as_str().unwrap();
    let html = s.page_text(url).await;
    assert!(html.contains(&pro) && !html.contains(&pro_yearly), "{html}");
    assert!(
        !html.contains("Cancel"),
        "cancelling is off in this configuration"
    );
    let path = format!(
        "/p/session/{}/subscriptions/{sub}",
        session["id"].as_str().unwrap()
    );
    let refused = s
        .post_form(&path, &[("action", "switch"), ("price", &pro_yearly)])
        .await;
    assert_eq!(refused.status(), 400);
    assert_eq!(
        s.post_form(&path, &[("action", "switch"), ("price", &pro)])
            .await
            .status(),
        303
    );
    let read = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(read.items.data[0].price.id.as_str(), pro);

    // No default configuration and none named: Stripe refuses the session.
    s.emulator
        .store
        .lock()
        .unwrap()
        .portal_configurations
        .clear();
    let res = api("/v1/billing_portal/sessions", vec![("customer", customer)])
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("default configuration"));
}
