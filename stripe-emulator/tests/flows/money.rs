//! Plan changes with proration, refunds and disputes.

use super::*;

/// The preview of a price change, and the change itself at the preview's `proration_date`:
/// an upgrade invoiced at once for the prorated difference, a downgrade without proration that
/// the next renewal bills, and a change of interval that starts a new cycle and invoices now.
#[tokio::test]
async fn price_changes_are_previewed_and_billed_with_stripes_proration() {
    use stripe_billing::invoice::{
        CreatePreviewInvoice, CreatePreviewInvoiceSubscriptionDetails,
        CreatePreviewInvoiceSubscriptionDetailsItems,
        CreatePreviewInvoiceSubscriptionDetailsProrationBehavior as PreviewProration,
        RetrieveInvoice,
    };
    use stripe_billing::subscription::{
        UpdateSubscription, UpdateSubscriptionItems, UpdateSubscriptionProrationBehavior,
    };

    let s = setup().await;
    let (customer, sub) = s.subscribe("starter_monthly").await;
    let current = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap();
    let item = current.items.data[0].clone();
    // Half-way through the 30-day period.
    let at = item.current_period_start + 15 * 86_400;
    let preview = |price: String, proration: PreviewProration| {
        CreatePreviewInvoice::new()
            .customer(customer.as_str())
            .subscription(sub.as_str())
            .subscription_details(CreatePreviewInvoiceSubscriptionDetails {
                items: Some(vec![CreatePreviewInvoiceSubscriptionDetailsItems {
                    id: Some(item.id.to_string()),
                    price: Some(price),
                    ..CreatePreviewInvoiceSubscriptionDetailsItems::new()
                }]),
                proration_behavior: Some(proration),
                proration_date: Some(at),
                ..CreatePreviewInvoiceSubscriptionDetails::new()
            })
    };
    let change = |price: String, proration: UpdateSubscriptionProrationBehavior| {
        UpdateSubscription::new(sub.as_str())
            .items(vec![UpdateSubscriptionItems {
                id: Some(item.id.to_string()),
                price: Some(price),
                ..UpdateSubscriptionItems::new()
            }])
            .proration_behavior(proration)
            .proration_date(at)
    };

    // Upgrade: $9 → $29 a month, half the month left: −$4.50 + $14.50 = $10.00 now.
    let pro = s.price("pro_monthly").await;
    let shown = preview(pro.clone(), PreviewProration::AlwaysInvoice)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(shown.amount_due, 1000);
    assert!(shown.id.is_none(), "a preview is not an invoice yet");
    let lines: Vec<i64> = shown.lines.data.iter().map(|l| l.amount).collect();
    assert_eq!(lines, [-450, 1450]);
    s.clear();
    let upgraded = change(
        pro.clone(),
        UpdateSubscriptionProrationBehavior::AlwaysInvoice,
    )
    .send(&s.client)
    .await
    .unwrap();
    assert_eq!(
        upgraded.items.data[0].current_period_end, item.current_period_end,
        "same interval: same cycle"
    );
    let invoice_id = upgraded.latest_invoice.unwrap().id().clone().unwrap();
    let charged = RetrieveInvoice::new(invoice_id)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(charged.amount_paid, shown.amount_due);
    let e = s.events(5).await;
    assert_eq!(
        types(&e),
        [
            "customer.subscription.updated",
            "invoice.created",
            "invoice.finalized",
            "invoice.paid",
            "invoice.payment_succeeded"
        ]
    );
    assert_eq!(
        e[0].1["data"]["previous_attributes"]["items"]["data"][0]["price"]["id"],
        item.price.id.as_str()
    );

    // Downgrade without proration: nothing now, the renewal charges $9.
    let starter = s.price("starter_monthly").await;
    let next = preview(starter.clone(), PreviewProration::None)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(next.amount_due, 900);
    assert_eq!(next.billing_reason.unwrap().as_str(), "subscription_cycle");
    s.clear();
    change(starter, UpdateSubscriptionProrationBehavior::None)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(types(&s.events(1).await), ["customer.subscription.updated"]);
    let renewed = s
        .control(&format!("/_emulator/subscriptions/{sub}/renew"), &[])
        .await;
    let renewal = RetrieveInvoice::new(renewed["latest_invoice"].as_str().unwrap())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(renewal.amount_paid, next.amount_due);

    // Monthly → yearly: a new yearly cycle from now, with the unused month credited.
    let renewed_item = RetrieveSubscription::new(sub.as_str())
        .send(&s.client)
        .await
        .unwrap()
        .items
        .data[0]
        .clone();
    let yearly = s.price("pro_yearly").await;
    let now = renewed_item.current_period_start;
    let to_yearly = UpdateSubscription::new(sub.as_str())
        .items(vec![UpdateSubscriptionItems {
            id: Some(item.id.to_string()),
            price: Some(yearly),
            ..UpdateSubscriptionItems::new()
        }])
        .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .proration_date(now)
        .send(&s.client)
        .await
        .unwrap();
    let yearly_item = &to_yearly.items.data[0];
    assert_eq!(yearly_item.current_period_start, now);
    assert_eq!(yearly_item.current_period_end, now + 365 * 86_400);
    let invoice = RetrieveInvoice::new(to_yearly.latest_invoice.unwrap().id().clone().unwrap())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(
        invoice.amount_paid,
        29_000 - 900,
        "a full unused month credited"
    );

    // A price outside the subscription's reach is refused with Stripe's words.
    let refused = preview("price_nope".into(), PreviewProration::AlwaysInvoice)
        .send(&s.client)
        .await;
    assert!(refused.is_err());
}

/// Money going back: partial and full refunds with `charge.refunded`, and the dispute card
/// 0259 paying, then disputed, then the dispute closed by the bank.
#[tokio::test]
async fn refunds_and_disputes_emit_stripes_charge_events() {
    use stripe_core::charge::RetrieveCharge;
    use stripe_core::refund::CreateRefund;

    let s = setup().await;
    let id = s.session("lifetime_once", |r| r).await;
    assert_eq!(s.pay(&id, "4242 4242 4242 4242").await.status(), 303);
    let session = RetrieveCheckoutSession::new(id.as_str())
        .send(&s.client)
        .await
        .unwrap();
    let pi = session.payment_intent.unwrap().id().to_string();
    s.events(3).await;
    s.clear();

    let partial = CreateRefund::new()
        .payment_intent(pi.as_str())
        .amount(10_000)
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(partial.amount, 10_000);
    let charge = partial.charge.unwrap().id().clone();
    let e = s.events(2).await;
    assert_eq!(types(&e), ["refund.created", "charge.refunded"]);
    assert_eq!(e[1].1["data"]["object"]["amount_refunded"], 10_000);
    assert_eq!(e[1].1["data"]["object"]["refunded"], false);
    let rest = CreateRefund::new()
        .charge(charge.as_str())
        .send(&s.client)
        .await
        .unwrap();
    assert_eq!(rest.amount, 29_900 - 10_000, "the rest of the charge");
    let read = RetrieveCharge::new(charge.clone())
        .send(&s.client)
        .await
        .unwrap();
    assert!(read.refunded);
    let again = CreateRefund::new()
        .charge(charge.as_str())
        .send(&s.client)
        .await;
    assert!(again.is_err(), "nothing left to refund");

    // 0259: paid, then disputed; the bank then decides.
    let id = s.session("lifetime_once", |r| r).await;
    s.clear();
    assert_eq!(s.pay(&id, "4000 0000 0000 0259").await.status(), 303);
    let e = s.events(3).await;
    let created = e
        .iter()
        .find(|(t, _)| t == "charge.dispute.created")
        .expect("a dispute")
        .1["data"]["object"]
        .clone();
    assert_eq!(created["status"], "needs_response");
    let dispute = created["id"].as_str().unwrap().to_string();
    s.clear();
    let closed = s
        .control(
            &format!("/_emulator/disputes/{dispute}/close"),
            &[("outcome", "won")],
        )
        .await;
    assert_eq!(closed["status"], "won");
    let e = s.events(1).await;
    assert_eq!(types(&e), ["charge.dispute.closed"]);
    let twice = s
        .post_form(
            &format!("/_emulator/disputes/{dispute}/close"),
            &[("outcome", "lost")],
        )
        .await;
    assert_eq!(twice.status(), 400);
}
