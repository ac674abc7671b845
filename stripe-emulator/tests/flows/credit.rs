//! Honest amounts: the customer's balance (credit from a change, or given by hand) pays the next
//! invoices before any card is charged, and a coupon discounts a subscription's invoices for as
//! long as its `duration` says — in the invoices and in their previews alike.

use super::*;

impl Setup {
    /// A GET of the API, as JSON.
    async fn read(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let res = self
            .http
            .get(format!("{}{path}", self.emulator.base_url))
            .bearer_auth("sk_test_flows")
            .query(query)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.unwrap()
    }

    /// A POST of the API whose refusal is expected: the status and Stripe's error.
    async fn refused(&self, path: &str, fields: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .http
            .post(format!("{}{path}", self.emulator.base_url))
            .bearer_auth("sk_test_flows")
            .form(fields)
            .send()
            .await
            .unwrap();
        (res.status().as_u16(), res.json().await.unwrap())
    }

    /// The customer's invoices, oldest first.
    async fn invoices_of(&self, customer: &str) -> Vec<Value> {
        let list = self
            .read("/v1/invoices", &[("customer", customer), ("limit", "100")])
            .await;
        let mut invoices = list["data"].as_array().unwrap().clone();
        invoices.reverse();
        invoices
    }

    async fn balance_of(&self, customer: &str) -> i64 {
        self.read(&format!("/v1/customers/{customer}"), &[]).await["balance"]
            .as_i64()
            .unwrap()
    }

    async fn item_of(&self, sub: &str) -> String {
        self.read(&format!("/v1/subscriptions/{sub}"), &[]).await["items"]["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The next renewal's preview for a change to `price` (`preview_mode=recurring`).
    async fn renewal_preview(&self, customer: &str, sub: &str, price: &str) -> Value {
        let item = self.item_of(sub).await;
        self.control_api(
            "/v1/invoices/create_preview",
            &[
                ("customer", customer),
                ("subscription", sub),
                ("subscription_details[items][0][id]", &item),
                ("subscription_details[items][0][price]", price),
                ("subscription_details[proration_behavior]", "always_invoice"),
                ("preview_mode", "recurring"),
            ],
        )
        .await
    }

    /// Subscribes to `lookup_key` with the coupon `coupon` applied at Checkout.
    async fn subscribe_with_coupon(&self, lookup_key: &str, coupon: &str) -> (String, String) {
        let session = self
            .session(lookup_key, |r| {
                r.discounts(vec![
                    stripe_checkout::checkout_session::CreateCheckoutSessionDiscounts {
                        coupon: Some(coupon.to_string()),
                        ..Default::default()
                    },
                ])
            })
            .await;
        assert_eq!(self.pay(&session, "4242424242424242").await.status(), 303);
        let read = self
            .read(
                &format!("/v1/checkout/sessions/{session}"),
                &[("expand[]", "line_items")],
            )
            .await;
        (
            read["customer"].as_str().unwrap().to_string(),
            read["subscription"].as_str().unwrap().to_string(),
        )
    }
}

#[tokio::test]
async fn a_yearly_plan_switched_to_monthly_at_once_credits_the_unused_year_which_renewals_spend() {
    let s = setup().await;
    let (customer, sub) = s.subscribe("starter_yearly").await;
    s.clear();
    let monthly = s.price("starter_monthly").await;
    let item = s.item_of(&sub).await;
    let start = s.read(&format!("/v1/subscriptions/{sub}"), &[]).await["items"]["data"][0]
        ["current_period_start"]
        .as_i64()
        .unwrap();

    // At the year's start: $90 unused, $9 for the new month, so $81 of credit and nothing due.
    let start_text = start.to_string();
    s.control_api(
        &format!("/v1/subscriptions/{sub}"),
        &[
            ("items[0][id]", &item),
            ("items[0][price]", &monthly),
            ("proration_behavior", "always_invoice"),
            ("proration_date", &start_text),
        ],
    )
    .await;
    let change = s.invoices_of(&customer).await.pop().unwrap();
    assert_eq!(change["billing_reason"], "subscription_update");
    assert_eq!(change["total"], -8100, "{change}");
    assert_eq!(
        (&change["amount_due"], &change["amount_paid"]),
        (&json(0), &json(0))
    );
    assert_eq!(
        (&change["starting_balance"], &change["ending_balance"]),
        (&json(0), &json(-8100))
    );
    assert_eq!(change["status"], "paid");
    assert_eq!(s.balance_of(&customer).await, -8100);
    // Stripe tells of the new balance with `customer.updated`, naming the one before.
    let events = s.events(1).await;
    let updated = events
        .iter()
        .find(|(t, _)| t == "customer.updated")
        .map(|(_, e)| e)
        .expect("customer.updated");
    assert_eq!(updated["data"]["object"]["balance"], -8100);
    assert_eq!(updated["data"]["previous_attributes"]["balance"], 0);
    let transactions = s
        .read(
            &format!("/v1/customers/{customer}/balance_transactions"),
            &[],
        )
        .await;
    assert_eq!(transactions["data"][0]["type"], "applied_to_invoice");
    assert_eq!(transactions["data"][0]["amount"], -8100);
    assert_eq!(transactions["data"][0]["invoice"], change["id"]);

    // The next renewal, previewed, is paid from the credit.
    let next = s
        .control_api(
            "/v1/invoices/create_preview",
            &[
                ("customer", &customer),
                ("subscription", &sub),
                ("subscription_details[items][0][id]", &item),
                ("subscription_details[items][0][price]", &monthly),
                ("subscription_details[proration_behavior]", "none"),
            ],
        )
        .await;
    assert_eq!(
        (
            &next["total"],
            &next["starting_balance"],
            &next["amount_due"]
        ),
        (&json(900), &json(-8100), &json(0)),
        "{next}"
    );

    // Nine renewals of $9 spend the $81; the tenth is charged.
    for month in 1..=10 {
        s.control("/_emulator/advance", &[("days", "30")]).await;
        let renewal = s.invoices_of(&customer).await.pop().unwrap();
        assert_eq!(renewal["billing_reason"], "subscription_cycle");
        assert_eq!(renewal["total"], 900);
        let left = (-8100 + 900 * month).min(0);
        let charged = if month <= 9 { 0 } else { 900 };
        assert_eq!(
            (&renewal["amount_due"], &renewal["amount_paid"]),
            (&json(charged), &json(charged)),
            "month {month}: {renewal}"
        );
        assert_eq!(renewal["ending_balance"], left, "month {month}");
        assert_eq!(renewal["status"], "paid");
        assert_eq!(s.balance_of(&customer).await, left);
    }
    let subscription = s.read(&format!("/v1/subscriptions/{sub}"), &[]).await;
    assert_eq!(subscription["status"], "active");
}

fn json(n: i64) -> Value {
    Value::from(n)
}

#[tokio::test]
async fn credit_given_by_hand_pays_renewals_until_it_is_spent() {
    let s = setup().await;
    let (customer, _sub) = s.subscribe("starter_monthly").await;
    s.clear();
    let path = format!("/v1/customers/{customer}/balance_transactions");
    let given = s
        .control_api(
            &path,
            &[
                ("amount", "-1000"),
                ("currency", "usd"),
                ("description", "Sorry for the outage"),
            ],
        )
        .await;
    assert_eq!(given["object"], "customer_balance_transaction");
    assert_eq!(given["type"], "adjustment");
    assert_eq!(given["ending_balance"], -1000);
    assert_eq!(s.balance_of(&customer).await, -1000);
    let events = s.events(1).await;
    assert_eq!(types(&events), ["customer.updated"]);
    assert_eq!(events[0].1["data"]["previous_attributes"]["balance"], 0);

    // $10 of credit: the first $9 renewal is free, the second costs $8.
    s.control("/_emulator/advance", &[("days", "30")]).await;
    let first = s.invoices_of(&customer).await.pop().unwrap();
    assert_eq!(
        (&first["amount_due"], &first["ending_balance"]),
        (&json(0), &json(-100))
    );
    s.control("/_emulator/advance", &[("days", "30")]).await;
    let second = s.invoices_of(&customer).await.pop().unwrap();
    assert_eq!(
        (
            &second["starting_balance"],
            &second["amount_due"],
            &second["ending_balance"]
        ),
        (&json(-100), &json(800), &json(0))
    );
    assert_eq!(s.balance_of(&customer).await, 0);
    let listed = s.read(&path, &[]).await;
    let amounts: Vec<i64> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_i64().unwrap())
        .collect();
    assert_eq!(amounts, [100, 900, -1000], "newest first");

    // Stripe's refusals: no amount, a zero amount, no currency, an unknown customer.
    for (fields, param) in [
        (vec![("currency", "usd")], "amount"),
        (vec![("amount", "0"), ("currency", "usd")], "amount"),
        (vec![("amount", "-100")], "currency"),
    ] {
        let (status, body) = s.refused(&path, &fields).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["param"], param, "{body}");
    }
    let (status, _) = s
        .refused(
            "/v1/customers/cus_nobody/balance_transactions",
            &[("amount", "-100"), ("currency", "usd")],
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(s.balance_of(&customer).await, 0);
}

#[tokio::test]
async fn a_coupon_discounts_a_subscriptions_invoices_for_its_duration() {
    let s = setup().await;
    for (id, duration, months) in [
        ("ONCE50", "once", None),
        ("FOREVER50", "forever", None),
        ("TWO50", "repeating", Some("2")),
    ] {
        let mut fields = vec![("id", id), ("percent_off", "50"), ("duration", duration)];
        if let Some(m) = months {
            fields.push(("duration_in_months", m));
        }
        let coupon = s.control_api("/v1/coupons", &fields).await;
        assert_eq!(coupon["duration"], duration);
        assert_eq!(
            coupon["duration_in_months"],
            months.map_or(Value::Null, |m| m.parse::<i64>().unwrap().into())
        );
    }
    let (status, body) = s
        .refused(
            "/v1/coupons",
            &[("percent_off", "5"), ("duration", "repeating")],
        )
        .await;
    assert_eq!(
        (status, &body["error"]["param"]),
        (400, &Value::from("duration_in_months"))
    );
    let (status, _) = s
        .refused(
            "/v1/coupons",
            &[
                ("percent_off", "5"),
                ("duration", "once"),
                ("duration_in_months", "3"),
            ],
        )
        .await;
    assert_eq!(status, 400);

    let mut charged = Vec::new();
    for coupon in ["ONCE50", "FOREVER50", "TWO50"] {
        let (customer, sub) = s.subscribe_with_coupon("starter_monthly", coupon).await;
        // What the next renewal will cost, before the clock moves.
        let next = s
            .renewal_preview(&customer, &sub, &s.price("pro_monthly").await)
            .await;
        charged.push((coupon, "pro next", next["amount_due"].as_i64().unwrap()));
        for _ in 0..3 {
            s.control("/_emulator/advance", &[("days", "30")]).await;
        }
        let invoices = s.invoices_of(&customer).await;
        for invoice in &invoices {
            charged.push((coupon, "invoice", invoice["amount_paid"].as_i64().unwrap()));
            let subtotal = invoice["subtotal"].as_i64().unwrap();
            let off = subtotal - invoice["total"].as_i64().unwrap();
            let listed = invoice["total_discount_amounts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["amount"].as_i64().unwrap())
                .sum::<i64>();
            assert_eq!(off, listed, "{invoice}");
        }
    }
    // Every subscription above was advanced by the later ones too: read each one's first four.
    let by = |coupon: &str| -> Vec<i64> {
        charged
            .iter()
            .filter(|(c, kind, _)| *c == coupon && *kind == "invoice")
            .map(|(_, _, a)| *a)
            .take(4)
            .collect()
    };
    assert_eq!(by("ONCE50"), [450, 900, 900, 900]);
    assert_eq!(by("FOREVER50"), [450, 450, 450, 450]);
    // Two months from the start: the invoices at day 0 and day 30.
    assert_eq!(by("TWO50"), [450, 450, 900, 900]);
    let next = |coupon: &str| {
        charged
            .iter()
            .find(|(c, kind, _)| *c == coupon && *kind == "pro next")
            .unwrap()
            .2
    };
    // A change to Pro now: the once coupon's discount went to the first invoice.
    assert_eq!(next("ONCE50"), 2900);
    assert_eq!(next("FOREVER50"), 1450);
    assert_eq!(next("TWO50"), 1450);
}

#[tokio::test]
async fn checkouts_line_items_show_what_the_coupon_took_off() {
    let s = setup().await;
    s.control_api("/v1/coupons", &[("id", "LAUNCH20"), ("percent_off", "20")])
        .await;
    let session = s
        .session("pro_yearly", |r| {
            r.discounts(vec![
                stripe_checkout::checkout_session::CreateCheckoutSessionDiscounts {
                    coupon: Some("LAUNCH20".into()),
                    ..Default::default()
                },
            ])
        })
        .await;
    let read = s
        .read(
            &format!("/v1/checkout/sessions/{session}"),
            &[("expand[]", "line_items")],
        )
        .await;
    let item = &read["line_items"]["data"][0];
    assert_eq!(
        (
            &item["amount_subtotal"],
            &item["amount_discount"],
            &item["amount_total"]
        ),
        (&json(29000), &json(5800), &json(23200)),
        "{item}"
    );
    assert_eq!(read["amount_total"], 23200);
}

#[tokio::test]
async fn a_preview_mode_stripe_does_not_know_is_refused() {
    let s = setup().await;
    let (customer, sub) = s.subscribe("starter_monthly").await;
    let item = s.item_of(&sub).await;
    let pro = s.price("pro_monthly").await;
    let (status, body) = s
        .refused(
            "/v1/invoices/create_preview",
            &[
                ("customer", &customer),
                ("subscription", &sub),
                ("subscription_details[items][0][id]", &item),
                ("subscription_details[items][0][price]", &pro),
                ("preview_mode", "everything"),
            ],
        )
        .await;
    assert_eq!(
        (status, &body["error"]["param"]),
        (400, &Value::from("preview_mode"))
    );
}
