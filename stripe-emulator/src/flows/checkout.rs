//! A buyer pays on the hosted Checkout page: the session completes and what it sold comes to
//! exist (a payment, or a subscription with its first invoice).

use serde_json::json;

use super::invoicing::{issue_invoice, Draft, Payment};
use super::start::{start_subscription, NewSubscription};
use crate::error::ApiError;
use crate::objects::{Charge, Discount, InvoiceLine, PaymentIntent};
use crate::store::{self, Customer, CustomerDetails, Duration, Store};

/// Completes a paid Checkout Session: customer, payment or subscription (with its first
/// invoice), then `checkout.session.completed`. Returns the URL to send the buyer to.
pub fn complete_checkout(
    store: &mut Store,
    base_url: &str,
    session_id: &str,
    details: CustomerDetails,
) -> Result<String, ApiError> {
    let session = store
        .sessions
        .get(session_id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("checkout.session", session_id))?;
    if session.status != "open" {
        return Err(ApiError::invalid_param(
            "session",
            "This Checkout Session is no longer active.",
        ));
    }
    let now = store.now();

    let needs_customer = session.mode == "subscription"
        || session.customer_creation.as_deref() == Some("always")
        || session.invoice_creation;
    let customer_id = match &session.customer {
        Some(id) => Some(id.clone()),
        None if needs_customer => {
            let customer = Customer {
                id: store::new_id("cus"),
                email: Some(details.email.clone()),
                name: details.name.clone(),
                metadata: Default::default(),
                created: now,
                seq: store.next_seq(),
                authenticates_every_payment: false,
                disputes_payments: false,
                balance: 0,
                currency: None,
            };
            let json = customer.json();
            let id = customer.id.clone();
            store.customers.insert(id.clone(), customer);
            store.emit("customer.created", json, None);
            Some(id)
        }
        None => None,
    };

    if session.card_authenticates_every_payment {
        if let Some(c) = customer_id
            .as_ref()
            .and_then(|id| store.customers.get_mut(id))
        {
            c.authenticates_every_payment = true;
        }
    }
    let mut updated = session.clone();
    updated.customer = customer_id.clone();
    updated.customer_details = Some(details.clone());
    updated.status = "complete".into();
    // A trial's first payment waits for its end, as Stripe says it.
    updated.payment_status = if session.trial_period_days.is_some() {
        "no_payment_required"
    } else {
        "paid"
    }
    .into();
    updated.awaiting_authentication = false;

    if session.mode == "payment" {
        let charge = Charge {
            id: store::new_id("ch"),
            amount: session.amount_total,
            amount_refunded: 0,
            currency: session.currency.clone(),
            customer: customer_id.clone(),
            payment_intent: String::new(),
            dispute: None,
            created: now,
            invoice: None,
        };
        let pi = PaymentIntent {
            latest_charge: Some(charge.id.clone()),
            id: store::new_id("pi"),
            amount: session.amount_total,
            currency: session.currency.clone(),
            customer: customer_id.clone(),
            status: "succeeded".into(),
            setup_future_usage: session.setup_future_usage.clone(),
            created: now,
        };
        let mut created = pi.json();
        created["status"] = json!("requires_payment_method");
        created["amount_received"] = json!(0);
        store.emit("payment_intent.created", created, None);
        store.emit("payment_intent.succeeded", pi.json(), None);
        updated.payment_intent = Some(pi.id.clone());
        store.charges.insert(
            charge.id.clone(),
            Charge {
                payment_intent: pi.id.clone(),
                ..charge
            },
        );
        store.payment_intents.insert(pi.id.clone(), pi);
        // `invoice_creation[enabled]`: a paid invoice for the purchase, as its receipt.
        if let (true, Some(customer)) = (session.invoice_creation, customer_id.clone()) {
            let lines = session
                .line_items
                .iter()
                .filter_map(|li| {
                    let price = store.prices.get(&li.price)?;
                    Some(InvoiceLine {
                        price: price.id.clone(),
                        description: format!("{} × {}", li.quantity, store.product_name(price)),
                        amount: price.unit_amount * li.quantity,
                        quantity: li.quantity,
                    })
                })
                .collect();
            let off = session.amount_subtotal - session.amount_total;
            let draft = Draft {
                customer,
                subscription: None,
                reason: "manual",
                lines,
                discount: (off > 0).then(|| (store::new_id("di"), off)),
                period: (now, now),
                uses_balance: false,
            };
            updated.invoice = Some(issue_invoice(store, base_url, draft, Payment::Paid));
        }
    } else {
        let customer = customer_id
            .clone()
            .ok_or_else(|| ApiError::missing("customer"))?;
        let items = session
            .line_items
            .iter()
            .filter(|li| {
                store
                    .prices
                    .get(&li.price)
                    .is_some_and(|p| p.recurring.is_some())
            })
            .map(|li| (li.price.clone(), li.quantity))
            .collect();
        let sub_id = start_subscription(
            store,
            base_url,
            NewSubscription {
                customer,
                items,
                trial_days: session.trial_period_days,
                anchor: session.billing_cycle_anchor,
                // The page charged the session's total (a share of it up to an anchor).
                first_charge: Some(session.amount_total),
                paid_at_checkout: true,
                // The session's coupon discounts the subscription's invoices for its duration.
                discount: session.coupons.first().and_then(|id| {
                    let coupon = store.coupons.get(id)?;
                    Some(Discount {
                        id: store::new_id("di"),
                        coupon: id.clone(),
                        start: now,
                        end: match coupon.duration {
                            Duration::Repeating(months) => Some(now + months * 30 * super::DAY),
                            Duration::Once | Duration::Forever => None,
                        },
                    })
                }),
            },
        );
        let invoice_id = store.subscriptions[&sub_id].latest_invoice.clone();
        updated.subscription = Some(sub_id);
        updated.invoice = invoice_id;
    }

    let success = updated
        .success_url
        .replace("{CHECKOUT_SESSION_ID}", &updated.id);
    let json = updated.json(base_url);
    store.sessions.insert(updated.id.clone(), updated);
    store.emit("checkout.session.completed", json, None);
    Ok(success)
}
