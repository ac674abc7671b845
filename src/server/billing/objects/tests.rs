//! Stripe's objects read from the shapes Stripe sends.

use super::*;

#[test]
fn a_reference_reads_from_an_id_or_an_expanded_object() {
    let r: Ref = serde_json::from_str(r#""cus_1""#).unwrap();
    assert_eq!(r.id(), "cus_1");
    let r: Ref =
        serde_json::from_str(r#"{"object":"customer","id":"cus_2","email":null}"#).unwrap();
    assert_eq!(r.id(), "cus_2");
    assert!(serde_json::from_str::<Ref>(r#"{"object":"customer"}"#).is_err());
}

#[test]
fn a_price_where_stripe_sends_it_whole_names_its_product_expanded_or_not() {
    let p: PriceRef = serde_json::from_str(r#""price_1""#).unwrap();
    assert_eq!((p.id(), p.product()), ("price_1", None));
    let p: PriceRef = serde_json::from_str(
        r#"{"id":"price_2","object":"price","product":"prod_1","unit_amount":900}"#,
    )
    .unwrap();
    assert_eq!((p.id(), p.product()), ("price_2", Some("prod_1")));
    let p: PriceRef =
        serde_json::from_str(r#"{"id":"price_3","product":{"id":"prod_2","name":"Pro"}}"#).unwrap();
    assert_eq!(p.product(), Some("prod_2"));
    assert!(serde_json::from_str::<PriceRef>(r#"{"product":"prod_1"}"#).is_err());
}

#[test]
fn an_expandable_subscription_reads_either_way_and_unknown_fields_are_skipped() {
    let sub = r#"{"id":"sub_1","object":"subscription","customer":"cus_1","status":"a_status_from_the_future",
            "items":{"object":"list","data":[{"id":"si_1","price":{"id":"price_1","nickname":null},"quantity":2,
            "current_period_start":10,"current_period_end":20,"metadata":{}}],"has_more":false},
            "cancel_at_period_end":true,"canceled_at":null,"trial_end":null,"created":5,"new_field":[1,{"x":2}]}"#;
    let e: Expandable<Subscription> = serde_json::from_str(sub).unwrap();
    let Expandable::Object(s) = &e else {
        panic!("expanded")
    };
    assert_eq!(s.status, "a_status_from_the_future");
    assert_eq!(s.items.data[0].price.id(), "price_1");
    assert_eq!(s.items.data[0].quantity, Some(2));
    assert_eq!(e.id(), "sub_1");
    let e: Expandable<Subscription> = serde_json::from_str(r#""sub_2""#).unwrap();
    assert_eq!(e.id(), "sub_2");
}

#[test]
fn an_invoice_names_its_subscription_under_parent() {
    let invoice: Invoice = serde_json::from_str(
            r#"{"id":"in_1","customer":"cus_1","customer_email":"a@b.c","number":"N-1","status":"paid",
            "amount_due":900,"amount_paid":900,"currency":"usd","hosted_invoice_url":"https://x","created":1,
            "parent":{"type":"subscription_details","subscription_details":{"subscription":"sub_1","metadata":{}}}}"#,
        )
        .unwrap();
    assert_eq!(invoice.subscription(), Some("sub_1"));
}

/// Stripe's own example objects (`tests/fixtures/stripe/fixtures3.json`, from Stripe's
/// published OpenAPI fixtures) read through our types: every field we ignore is skipped,
/// and a value Stripe adds later (a new status) is kept, not refused.
#[test]
fn stripes_own_example_objects_parse_through_our_types() {
    let all: serde_json::Value = serde_json::from_str(include_str!(
        "../../../../tests/fixtures/stripe/fixtures3.json"
    ))
    .unwrap();
    fn read<T: DeserializeOwned>(object: &serde_json::Value, what: &str) -> T {
        serde_json::from_value(object.clone())
            .unwrap_or_else(|e| panic!("Stripe's example {what} does not parse: {e}"))
    }
    let fixture = |key: &str| all[key].clone();
    let id = |key: &str| all[key]["id"].as_str().unwrap().to_string();

    let session: CheckoutSession = read(&fixture("checkout.session"), "checkout.session");
    assert_eq!(session.id, id("checkout.session"));
    let sub: Subscription = read(&fixture("subscription"), "subscription");
    assert_eq!(sub.id, id("subscription"));
    assert!(!sub.items.data.is_empty());
    let _: SubscriptionItem = read(&fixture("subscription_item"), "subscription_item");
    let invoice: Invoice = read(&fixture("invoice"), "invoice");
    assert_eq!(invoice.id.as_deref(), Some(id("invoice").as_str()));
    let charge: Charge = read(&fixture("charge"), "charge");
    assert_eq!(charge.id, id("charge"));
    let dispute: Dispute = read(&fixture("dispute"), "dispute");
    assert_eq!(dispute.id, id("dispute"));
    let price: Price = read(&fixture("price"), "price");
    assert_eq!(price.id, id("price"));
    let _: Customer = read(&fixture("customer"), "customer");
    let _: Product = read(&fixture("product"), "product");
    let _: LineItem = read(&fixture("item"), "checkout line item");
    let portal: PortalSession = read(&fixture("billing_portal.session"), "portal session");
    assert!(portal.url.starts_with("https://"));
    let config: PortalConfiguration = read(
        &fixture("billing_portal.configuration"),
        "portal configuration",
    );
    assert_eq!(config.id, id("billing_portal.configuration"));
    let endpoint: WebhookEndpoint = read(&fixture("webhook_endpoint"), "webhook endpoint");
    assert_eq!(endpoint.id, id("webhook_endpoint"));
    let event = serde_json::to_vec(&fixture("event")).unwrap();
    let envelope = crate::server::billing::webhook::events::Envelope::parse(&event)
        .expect("Stripe's example event is read as an event");
    assert_eq!(envelope.id, id("event"));
    // Lists, as Stripe sends them.
    let list = serde_json::json!({
        "object": "list", "url": "/v1/prices", "has_more": true, "data": [fixture("price")]
    });
    let page: List<Price> = read(&list, "list of prices");
    assert!(page.has_more && page.data.len() == 1);

    // Values Stripe may add later are kept as they come.
    let mut future = fixture("subscription");
    future["status"] = "a_status_from_the_future".into();
    future["a_field_from_the_future"] = serde_json::json!({"nested": [1, 2]});
    let sub: Subscription = read(&future, "subscription with a new status");
    assert_eq!(sub.status, "a_status_from_the_future");
    let mut future = fixture("dispute");
    future["status"] = "a_new_dispute_status".into();
    let dispute: Dispute = read(&future, "dispute with a new status");
    assert_eq!(dispute.status, "a_new_dispute_status");
}
