//! The emulator's API, driven with async-stripe's own client: if the client parses a response,
//! the shape is Stripe's as far as the app is concerned.

use std::path::PathBuf;

use stripe::{Client, ClientBuilder, StripeError};
use stripe_checkout::checkout_session::{
    CreateCheckoutSession, CreateCheckoutSessionCustomerCreation, CreateCheckoutSessionDiscounts,
    CreateCheckoutSessionInvoiceCreation, CreateCheckoutSessionLineItems,
    CreateCheckoutSessionPaymentIntentData, CreateCheckoutSessionPaymentIntentDataSetupFutureUsage,
    CreateCheckoutSessionTaxIdCollection, ExpireCheckoutSession, RetrieveCheckoutSession,
};
use stripe_core::customer::{
    CreateCustomer, ListCustomer, RetrieveCustomer, RetrieveCustomerReturned, UpdateCustomer,
};
use stripe_emulator::{spawn, Emulator, Options};
use stripe_product::price::{ListPrice, UpdatePrice};
use stripe_shared::{CheckoutSessionMode, CheckoutSessionStatus};

fn plans() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plans.toml")
}

async fn emulator() -> (Emulator, Client) {
    let emulator = spawn(Options {
        catalog: Some(plans()),
        ..Options::default()
    })
    .await
    .expect("emulator starts");
    let client = ClientBuilder::new("sk_test_emulator")
        .url(emulator.base_url.clone())
        .build()
        .expect("client");
    (emulator, client)
}

async fn price_id(client: &Client, lookup_key: &str) -> String {
    let list = ListPrice::new()
        .lookup_keys(vec![lookup_key.to_string()])
        .send(client)
        .await
        .expect("list prices");
    assert_eq!(list.data.len(), 1, "{lookup_key}");
    list.data[0].id.to_string()
}

fn line(price: &str) -> Vec<CreateCheckoutSessionLineItems> {
    vec![CreateCheckoutSessionLineItems {
        price: Some(price.to_string()),
        quantity: Some(1),
        ..Default::default()
    }]
}

fn session(mode: CheckoutSessionMode, price: &str) -> CreateCheckoutSession {
    CreateCheckoutSession::new()
        .mode(mode)
        .line_items(line(price))
        .success_url("https://shop.test/success?session_id={CHECKOUT_SESSION_ID}")
        .cancel_url("https://shop.test/pricing")
}

/// The Stripe error a request ended in: (status, message, param).
fn stripe_error(
    result: Result<impl std::fmt::Debug, StripeError>,
) -> (u16, String, Option<String>) {
    match result {
        Err(StripeError::Stripe(e, status)) => (
            status,
            e.message.clone().unwrap_or_default(),
            e.param.clone(),
        ),
        other => panic!("expected a Stripe error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_catalog_prices_exist_by_lookup_key_with_their_type() {
    let (_e, client) = emulator().await;
    let list = ListPrice::new()
        .lookup_keys(vec!["pro_monthly".to_string(), "lifetime_once".to_string()])
        .send(&client)
        .await
        .unwrap();
    assert_eq!(list.data.len(), 2);
    let monthly = list
        .data
        .iter()
        .find(|p| p.lookup_key.as_deref() == Some("pro_monthly"))
        .unwrap();
    assert_eq!(monthly.unit_amount, Some(2900));
    assert_eq!(
        monthly.recurring.as_ref().unwrap().interval.as_str(),
        "month"
    );
    let once = list
        .data
        .iter()
        .find(|p| p.lookup_key.as_deref() == Some("lifetime_once"))
        .unwrap();
    assert!(once.recurring.is_none());
    assert_eq!(once.type_.as_str(), "one_time");
    assert!(
        matches!(once.product, stripe_types::Expandable::Id(_)),
        "an id unless expanded"
    );

    // `expand[]=data.product` on a list gives each price its product, as Stripe does.
    let expanded = ListPrice::new()
        .lookup_keys(vec!["pro_monthly".to_string()])
        .expand(vec!["data.product".to_string()])
        .send(&client)
        .await
        .unwrap();
    match &expanded.data[0].product {
        stripe_types::Expandable::Object(product) => assert_eq!(product.name, "Pro"),
        other => panic!("not expanded: {other:?}"),
    }
}

#[tokio::test]
async fn customers_are_created_retrieved_updated_and_listed_by_email() {
    let (_e, client) = emulator().await;
    let created = CreateCustomer::new()
        .email("ada@example.com")
        .name("Ada")
        .send(&client)
        .await
        .unwrap();
    let fetched = RetrieveCustomer::new(created.id.clone())
        .send(&client)
        .await
        .unwrap();
    let RetrieveCustomerReturned::Customer(fetched) = fetched else {
        panic!("a live customer, not a deleted one");
    };
    assert_eq!(fetched.email.as_deref(), Some("ada@example.com"));
    let updated = UpdateCustomer::new(created.id.clone())
        .name("Ada L.")
        .send(&client)
        .await
        .unwrap();
    assert_eq!(updated.name.as_deref(), Some("Ada L."));
    CreateCustomer::new()
        .email("bob@example.com")
        .send(&client)
        .await
        .unwrap();
    let found = ListCustomer::new()
        .email("ada@example.com")
        .send(&client)
        .await
        .unwrap();
    assert_eq!(found.data.len(), 1);
    assert_eq!(found.data[0].id, created.id);
    let (status, message, _) =
        stripe_error(RetrieveCustomer::new("cus_missing").send(&client).await);
    assert_eq!(status, 404);
    assert_eq!(message, "No such customer: 'cus_missing'");
}

#[tokio::test]
async fn a_payment_session_is_created_open_with_a_hosted_url_and_can_be_expired() {
    let (e, client) = emulator().await;
    let price = price_id(&client, "lifetime_once").await;
    let created = session(CheckoutSessionMode::Payment, &price)
        .customer_email("ada@example.com")
        .customer_creation(CreateCheckoutSessionCustomerCreation::Always)
        .payment_intent_data(CreateCheckoutSessionPaymentIntentData {
            setup_future_usage: Some(
                CreateCheckoutSessionPaymentIntentDataSetupFutureUsage::OnSession,
            ),
            ..CreateCheckoutSessionPaymentIntentData::new()
        })
        .tax_id_collection(CreateCheckoutSessionTaxIdCollection::new(true))
        .allow_promotion_codes(true)
        .client_reference_id("user-1")
        .invoice_creation(CreateCheckoutSessionInvoiceCreation::new(true))
        .send(&client)
        .await
        .unwrap();
    assert!(created.id.as_str().starts_with("cs_test_"));
    assert_eq!(created.invoice_creation.map(|i| i.enabled), Some(true));
    assert_eq!(created.status, Some(CheckoutSessionStatus::Open));
    assert_eq!(created.amount_total, Some(29900));
    assert_eq!(created.client_reference_id.as_deref(), Some("user-1"));
    let url = created.url.clone().unwrap();
    assert!(
        url.starts_with(&format!("{}/c/pay/cs_test_", e.base_url)),
        "{url}"
    );

    let fetched = RetrieveCheckoutSession::new(created.id.clone())
        .expand(vec!["line_items".to_string()])
        .send(&client)
        .await
        .unwrap();
    let items = fetched.line_items.unwrap().data;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].description.as_deref(), Some("Lifetime"));

    let expired = ExpireCheckoutSession::new(created.id.clone())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(expired.status, Some(CheckoutSessionStatus::Expired));
    assert!(expired.url.is_none());
    let (status, message, _) = stripe_error(
        ExpireCheckoutSession::new(created.id.clone())
            .send(&client)
            .await,
    );
    assert_eq!(status, 400);
    assert!(message.contains("status of \"expired\""), "{message}");
}

#[tokio::test]
async fn a_subscription_session_reuses_a_known_customer() {
    let (_e, client) = emulator().await;
    let price = price_id(&client, "pro_monthly").await;
    let customer = CreateCustomer::new()
        .email("c@example.com")
        .send(&client)
        .await
        .unwrap();
    let created = session(CheckoutSessionMode::Subscription, &price)
        .customer(customer.id.to_string())
        .send(&client)
        .await
        .unwrap();
    assert_eq!(created.mode, CheckoutSessionMode::Subscription);
    assert_eq!(
        created.customer.as_ref().map(|c| c.id().to_string()),
        Some(customer.id.to_string())
    );
}

#[tokio::test]
async fn stripes_parameter_rules_are_enforced_as_stripe_words_them() {
    let (_e, client) = emulator().await;
    let monthly = price_id(&client, "pro_monthly").await;
    let once = price_id(&client, "lifetime_once").await;
    let customer = CreateCustomer::new()
        .email("c@example.com")
        .send(&client)
        .await
        .unwrap();

    let cases: Vec<(&str, CreateCheckoutSession, &str, &str)> = vec![
        (
            "recurring price in payment mode",
            session(CheckoutSessionMode::Payment, &monthly),
            "mode",
            "You specified `payment` mode but passed a recurring price",
        ),
        (
            "one-time price in subscription mode",
            session(CheckoutSessionMode::Subscription, &once),
            "mode",
            "at least one recurring price in `subscription` mode",
        ),
        (
            "promotion codes with discounts",
            session(CheckoutSessionMode::Payment, &once)
                .allow_promotion_codes(true)
                .discounts(vec![CreateCheckoutSessionDiscounts {
                    coupon: Some("SAVE10".into()),
                    ..CreateCheckoutSessionDiscounts::new()
                }]),
            "allow_promotion_codes",
            "You may only specify one of these parameters: allow_promotion_codes, discounts.",
        ),
        (
            "customer with customer_email",
            session(CheckoutSessionMode::Payment, &once)
                .customer(customer.id.to_string())
                .customer_email("x@example.com"),
            "customer",
            "You may only specify one of these parameters: customer, customer_email.",
        ),
        (
            "customer_creation in subscription mode",
            session(CheckoutSessionMode::Subscription, &monthly)
                .customer_creation(CreateCheckoutSessionCustomerCreation::Always),
            "customer_creation",
            "`customer_creation` can only be used in `payment` and `setup` mode.",
        ),
        (
            "invoice_creation in subscription mode",
            session(CheckoutSessionMode::Subscription, &monthly)
                .invoice_creation(CreateCheckoutSessionInvoiceCreation::new(true)),
            "invoice_creation",
            "You can only enable invoice creation when `mode` is set to `payment`. Invoices are \
             created automatically when `mode` is set to `subscription`, and are unsupported when \
             set to `setup`. To learn more visit \
             https://stripe.com/docs/payments/checkout/post-payment-invoices.",
        ),
        (
            "payment_intent_data in subscription mode",
            session(CheckoutSessionMode::Subscription, &monthly).payment_intent_data(
                CreateCheckoutSessionPaymentIntentData {
                    setup_future_usage: Some(
                        CreateCheckoutSessionPaymentIntentDataSetupFutureUsage::OnSession,
                    ),
                    ..CreateCheckoutSessionPaymentIntentData::new()
                },
            ),
            "payment_intent_data",
            "You can not pass `payment_intent_data` in `subscription` mode.",
        ),
        (
            "unknown price",
            session(CheckoutSessionMode::Payment, "price_nope"),
            "line_items[0][price]",
            "No such price: 'price_nope'",
        ),
        (
            "unknown coupon",
            session(CheckoutSessionMode::Payment, &once).discounts(vec![
                CreateCheckoutSessionDiscounts {
                    coupon: Some("NOPE".into()),
                    ..CreateCheckoutSessionDiscounts::new()
                },
            ]),
            "discounts[0][coupon]",
            "No such coupon: 'NOPE'",
        ),
        (
            "relative success_url",
            session(CheckoutSessionMode::Payment, &once).success_url("/success"),
            "success_url",
            "Not a valid URL",
        ),
        (
            "missing cancel_url",
            CreateCheckoutSession::new()
                .mode(CheckoutSessionMode::Payment)
                .line_items(line(&once))
                .success_url("https://shop.test/success"),
            "cancel_url",
            "Missing required param: cancel_url.",
        ),
    ];
    for (name, request, param, message) in cases {
        let (status, got, got_param) = stripe_error(request.send(&client).await);
        assert_eq!(status, 400, "{name}");
        assert!(got.contains(message), "{name}: {got}");
        assert_eq!(got_param.as_deref(), Some(param), "{name}");
    }

    UpdatePrice::new(once.clone())
        .active(false)
        .send(&client)
        .await
        .unwrap();
    let (status, message, param) = stripe_error(
        session(CheckoutSessionMode::Payment, &once)
            .send(&client)
            .await,
    );
    assert_eq!(
        (status, param.as_deref()),
        (400, Some("line_items[0][price]"))
    );
    assert!(
        message.contains("The price specified is inactive"),
        "{message}"
    );
}

#[tokio::test]
async fn requests_without_a_valid_secret_key_are_refused_with_401() {
    let (e, _client) = emulator().await;
    let http = reqwest_like_get(&format!("{}/v1/customers", e.base_url), None).await;
    assert_eq!(http.0, 401);
    assert!(http.1.contains("You did not provide an API key"));
    let http = reqwest_like_get(
        &format!("{}/v1/customers", e.base_url),
        Some("Bearer pk_test_123"),
    )
    .await;
    assert_eq!(http.0, 401);
    assert!(http.1.contains("Invalid API Key provided"));
    // Basic auth with the key as user name, as curl -u sk_test_…: sends it.
    let basic = format!("Basic {}", base64_encode("sk_test_abc:"));
    assert_eq!(
        reqwest_like_get(&format!("{}/v1/customers", e.base_url), Some(&basic))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters() {
    let (e, _client) = emulator().await;
    let url = format!("{}/v1/customers", e.base_url);
    let first = post_form(&url, "email=a%40example.com", Some("key-1")).await;
    let again = post_form(&url, "email=a%40example.com", Some("key-1")).await;
    assert_eq!(first, again, "the same customer, not a second one");
    let other = post_form(&url, "email=b%40example.com", Some("key-1")).await;
    assert_eq!(other.0, 400);
    assert!(other.1.contains("idempotency_error"));
    let list = reqwest_like_get(&url, Some("Bearer sk_test_x")).await;
    assert_eq!(list.1.matches("\"object\":\"customer\"").count(), 1);
}

#[tokio::test]
async fn tax_ids_from_an_existing_customer_need_its_name_updated_as_stripe_requires() {
    let (e, client) = emulator().await;
    let price = price_id(&client, "lifetime_once").await;
    let url = format!("{}/v1/checkout/sessions", e.base_url);
    let (_, customer) = post_form(
        &format!("{}/v1/customers", e.base_url),
        "email=t%40example.com",
        None,
    )
    .await;
    let customer: serde_json::Value = serde_json::from_str(&customer).unwrap();
    let cus = customer["id"].as_str().unwrap();
    let base = format!(
        "mode=payment&line_items[0][price]={price}&line_items[0][quantity]=1\
         &success_url=https://shop.test/ok&cancel_url=https://shop.test/no&tax_id_collection[enabled]=true"
    );
    let refused = post_form(&url, &format!("{base}&customer={cus}"), None).await;
    assert_eq!(refused.0, 400, "{}", refused.1);
    assert!(refused.1.contains("customer_update[name]"), "{}", refused.1);
    let taken = post_form(
        &url,
        &format!("{base}&customer={cus}&customer_update[name]=auto"),
        None,
    )
    .await;
    assert_eq!(taken.0, 200, "{}", taken.1);
    let alone = post_form(&url, &format!("{base}&customer_update[name]=auto"), None).await;
    assert_eq!(
        alone.0, 400,
        "customer_update needs a customer: {}",
        alone.1
    );
    let wrong = post_form(
        &url,
        &format!("{base}&customer={cus}&customer_update[name]=always"),
        None,
    )
    .await;
    assert_eq!(wrong.0, 400, "{}", wrong.1);
}

#[tokio::test]
async fn an_unknown_route_answers_stripes_404_error() {
    let (e, _client) = emulator().await;
    let (status, body) = reqwest_like_get(
        &format!("{}/v1/radar/value_lists", e.base_url),
        Some("Bearer sk_test_x"),
    )
    .await;
    assert_eq!(status, 404);
    assert!(body.contains("Unrecognized request URL"));
}

// A minimal HTTP client over tokio, so the raw status, headers and bodies can be checked.
async fn raw(
    method: &str,
    url: &str,
    auth: Option<&str>,
    body: &str,
    extra: &[(&str, &str)],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut request = format!("{method} /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if let Some(a) = auth {
        request.push_str(&format!("Authorization: {a}\r\n"));
    }
    for (k, v) in extra {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!(
        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn reqwest_like_get(url: &str, auth: Option<&str>) -> (u16, String) {
    raw("GET", url, auth, "", &[]).await
}

async fn post_form(url: &str, body: &str, key: Option<&str>) -> (u16, String) {
    let extra: Vec<(&str, &str)> = key
        .map(|k| vec![("Idempotency-Key", k)])
        .unwrap_or_default();
    raw("POST", url, Some("Bearer sk_test_x"), body, &extra).await
}

fn base64_encode(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
