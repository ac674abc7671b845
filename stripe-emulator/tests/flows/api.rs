//! The billing API reading back and changing what the flows made; endpoints, coupons and the reset.

use super::*;

#[tokio::test]
async fn the_billing_api_reads_back_and_changes_what_the_flows_made() {
    use stripe_billing::invoice::{ListInvoice, RetrieveInvoice};
    use stripe_billing::subscription::{CancelSubscription, ListSubscription, UpdateSubscription};
    use stripe_core::event::{ListEvent, RetrieveEvent};

    let s = setup().await;
    let (customer, sub) = s.subscribe("starter_yearly").await;

    let subs = ListSubscription::new()
        .customer(customer.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(subs.data.len(), 1);
    assert_eq!(subs.data[0].id.as_str(), sub);
    let item = &subs.data[0].items.data[0];
    assert_eq!(
        item.current_period_end - item.current_period_start,
        365 * 86_400
    );

    let updated = UpdateSubscription::new(sub.as_str())
        .cancel_at_period_end(true)
        .send(&s.client)
        .await
        .unwrap();
    assert!(updated.cancel_at_period_end);

    let invoices = ListInvoice::new()
        .customer(customer.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(invoices.data.len(), 1);
    let invoice = RetrieveInvoice::new(invoices.data[0].id.clone().unwrap())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(invoice.amount_paid, 9000);
    assert!(invoice.hosted_invoice_url.is_some());

    let events = ListEvent::new()
        .type_("checkout.session.completed")
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(events.data.len(), 1);
    let event = RetrieveEvent::new(events.data[0].id.clone())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(event.type_.as_str(), "checkout.session.completed");

    let canceled = CancelSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(canceled.status.as_str(), "canceled");
    let again = CancelSubscription::new(sub.as_str()).send(&s.client).await;
    assert!(
        again.is_err(),
        "a canceled subscription cannot be canceled again"
    );
    let live = ListSubscription::new()
        .customer(customer.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert!(
        live.data.is_empty(),
        "canceled subscriptions are not listed by default"
    );
}

#[tokio::test]
async fn webhook_endpoints_coupons_and_promotion_codes_are_managed_through_the_api() {
    use stripe_misc::webhook_endpoint::{
        CreateWebhookEndpoint, CreateWebhookEndpointEnabledEvents, DeleteWebhookEndpoint,
        ListWebhookEndpoint,
    };
    use stripe_product::coupon::CreateCoupon;
    use stripe_product::promotion_code::{
        CreatePromotionCode, CreatePromotionCodePromotion, CreatePromotionCodePromotionType,
        ListPromotionCode,
    };

    let s = setup().await;
    let endpoint = CreateWebhookEndpoint::new(
        vec![CreateWebhookEndpointEnabledEvents::All],
        "https://shop.test/api/stripe/webhook",
    )
    .send(&s.client)
    .await
    .unwrap();
    assert!(endpoint
        .secret
        .as_deref()
        .is_some_and(|x| x.starts_with("whsec_")));
    let listed = ListWebhookEndpoint::new().send(&s.client).await.unwrap();
    assert_eq!(
        listed.data.len(),
        2,
        "the configured endpoint and the new one"
    );
    assert!(
        listed.data.iter().all(|e| e.secret.is_none()),
        "secrets are shown only at creation"
    );
    DeleteWebhookEndpoint::new(endpoint.id.clone())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(
        ListWebhookEndpoint::new()
            .send(&s.client)
            .await
            .unwrap()
            .data
            .len(),
        1
    );

    let coupon = CreateCoupon::new()
        .id("TENOFF")
        .percent_off(10.0)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(coupon.percent_off, Some(10.0));
    CreatePromotionCode::new(CreatePromotionCodePromotion {
        coupon: Some("TENOFF".into()),
        type_: CreatePromotionCodePromotionType::Coupon,
    })
    .code("SPRING")
    .send(&s.client)
    .await
    .unwrap();
    let found = ListPromotionCode::new()
        .code("SPRING")
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
    assert!(found.data[0].active);
}

#[tokio::test]
async fn reset_forgets_everything_but_the_catalog_and_the_configured_endpoint() {
    use stripe_core::customer::{CreateCustomer, ListCustomer};
    use stripe_misc::webhook_endpoint::ListWebhookEndpoint;

    let s = setup().await;
    CreateCustomer::new()
        .email("x@example.com")
        .send(&s.client)
        .await
        .unwrap();
    s.control("/_emulator/reset", &[]).await;
    assert!(ListCustomer::new()
        .send(&s.client)
        .await
        .unwrap()
        .data
        .is_empty());
    assert!(!s.price("pro_monthly").await.is_empty());
    assert_eq!(
        ListWebhookEndpoint::new()
            .send(&s.client)
            .await
            .unwrap()
            .data
            .len(),
        1
    );
}
