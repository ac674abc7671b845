//! What the reliability tests compare and count: a history of Stripe events made at the
//! emulator, the stored state two databases fed the same events must share, Stripe's own state,
//! the emulator's delivery log, and replays of the history to another app.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use landing::server::db::{billing, customers, outbox, subscription_holds, Db};
use serde_json::{json, Value};

use super::{emulator_checkout, emulator_session, owner_of, pay_at, pay_with_card, TestApp};

/// The stored state, free of what differs between two databases fed the same events: who
/// (profile ids become emails) and when (read stamps).
pub async fn stored_state(db: &Db) -> Vec<String> {
    let mut owners = HashMap::new();
    let mut lines = Vec::new();
    for s in billing::all_subscriptions(db).await.unwrap() {
        let owner = owner_email(db, &mut owners, &s.stripe_customer_id).await;
        lines.push(format!(
            "subscription {} of {} ({owner:?}): {} {} x{} {:?}..{:?} cancel_at_end={} canceled={:?} trial={:?}",
            s.id,
            s.stripe_customer_id,
            s.status,
            s.price_id,
            s.quantity,
            s.current_period_start,
            s.current_period_end,
            s.cancel_at_period_end,
            s.canceled_at,
            s.trial_end
        ));
    }
    for p in billing::all_purchases(db).await.unwrap() {
        lines.push(format!(
            "purchase {} by {:?}: {} {} {} {} refunded {} dispute {:?}",
            p.checkout_session_id,
            p.stripe_customer_id,
            p.price_id,
            p.amount_total,
            p.currency,
            p.status,
            p.amount_refunded,
            p.dispute_status
        ));
    }
    for i in billing::all_invoices(db).await.unwrap() {
        lines.push(format!(
            "invoice {} of {} for {:?}: {} due {} paid {}",
            i.id, i.stripe_customer_id, i.subscription_id, i.status, i.amount_due, i.amount_paid
        ));
    }
    for s in landing::server::db::schedules::all(db).await.unwrap() {
        lines.push(format!(
            "schedule {} of {}: {} next {:?} at {:?}",
            s.id, s.subscription_id, s.status, s.next_price_id, s.next_starts_at
        ));
    }
    for p in subscription_holds::all_pending_changes(db).await.unwrap() {
        lines.push(format!(
            "pending change of {} to {} until {:?}, invoice {:?}",
            p.subscription_id, p.price_id, p.expires_at, p.hosted_invoice_url
        ));
    }
    for d in subscription_holds::all_subscription_disputes(db)
        .await
        .unwrap()
    {
        lines.push(format!(
            "dispute of {}'s payment: {}",
            d.subscription_id, d.dispute_status
        ));
    }
    for (customer, b) in customers::all_balances(db).await.unwrap() {
        lines.push(format!(
            "balance of {customer}: {} {:?}",
            b.balance, b.currency
        ));
    }
    for m in billing_mails(db).await {
        lines.push(format!("mail {} to {}", m.dedupe_key, m.to_email));
    }
    lines.sort();
    lines
}

/// The mails billing events caused: every queued mail but the accounts' own (their links).
pub async fn billing_mails(db: &Db) -> Vec<outbox::MailRow> {
    outbox::all(db)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| !m.dedupe_key.starts_with("link:"))
        .collect()
}

/// Two stored states are the same; if not, says which lines differ.
pub fn assert_same_state(got: &[String], want: &[String]) {
    let only = |a: &[String], b: &[String]| {
        let b: std::collections::HashSet<&String> = b.iter().collect();
        a.iter()
            .filter(|l| !b.contains(l))
            .cloned()
            .collect::<Vec<_>>()
    };
    let (missing, extra) = (only(want, got), only(got, want));
    assert!(
        missing.is_empty() && extra.is_empty() && got.len() == want.len(),
        "{} lines missing, {} extra (of {}):\nmissing: {:#?}\nextra: {:#?}",
        missing.len(),
        extra.len(),
        want.len(),
        &missing[..missing.len().min(20)],
        &extra[..extra.len().min(20)]
    );
}

async fn owner_email(
    db: &Db,
    cache: &mut HashMap<String, Option<String>>,
    customer: &str,
) -> Option<String> {
    if let Some(known) = cache.get(customer) {
        return known.clone();
    }
    let email = match owner_of(db, customer).await {
        Some(id) => landing::server::db::profiles::find_by_id(db, id)
            .await
            .unwrap()
            .map(|p| p.email),
        None => None,
    };
    cache.insert(customer.to_string(), email.clone());
    email
}

/// Events applied (`processed_at` set) in a database.
pub async fn applied_events(db: &Db) -> usize {
    landing::server::db::events::recent(db, false, 1_000_000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.processed_at.is_some())
        .count()
}

/// Waits until a database has applied `want` events.
pub async fn wait_applied(db: &Db, want: usize, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let applied = applied_events(db).await;
        if applied >= want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{applied} of {want} events applied in {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The ids of the events `db` holds as applied.
pub async fn applied_event_ids(db: &Db) -> std::collections::HashSet<String> {
    landing::server::db::events::recent(db, false, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.processed_at.is_some())
        .map(|e| e.id)
        .collect()
}

/// What the emulator's delivery log says about one endpoint.
#[derive(Debug, Default)]
pub struct DeliveryLog {
    pub deliveries: usize,
    /// 5xx answers.
    pub server_errors: usize,
    /// No answer: refused connections, resets, timeouts.
    pub unanswered: usize,
    /// Per event: how many 2xx answers said it was applied then (`"duplicate": false`).
    pub applied: BTreeMap<String, usize>,
}

impl DeliveryLog {
    pub fn read(app: &TestApp, url: &str) -> DeliveryLog {
        let stripe = app.stripe.as_ref().expect("billing on");
        let store = stripe.store.lock().unwrap();
        let mut log = DeliveryLog::default();
        for d in store.deliveries.iter().filter(|d| d.endpoint_url == url) {
            log.deliveries += 1;
            match d.status {
                Some(s) if s >= 500 => log.server_errors += 1,
                Some(s) if (200..300).contains(&s) => {
                    let fresh = d
                        .response
                        .as_deref()
                        .and_then(|r| serde_json::from_str::<Value>(r).ok())
                        .is_some_and(|v| v["duplicate"] == json!(false));
                    *log.applied.entry(d.event_id.clone()).or_default() += usize::from(fresh);
                }
                Some(_) => {}
                None => log.unanswered += 1,
            }
        }
        log
    }

    /// Every one of `events` applied, and none twice: the database holds each as applied, and
    /// no two deliveries of one event were answered "applied now" (an answer lost to a crash
    /// after its commit leaves none: the redelivery is then a duplicate).
    pub async fn assert_applied_once(&self, events: &[String], db: &Db) {
        let doubled: Vec<_> = self.applied.iter().filter(|(_, n)| **n > 1).collect();
        assert!(doubled.is_empty(), "applied more than once: {doubled:?}");
        let stored = applied_event_ids(db).await;
        let lost: Vec<_> = events.iter().filter(|e| !stored.contains(*e)).collect();
        assert!(
            lost.is_empty(),
            "{} events never applied: {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        );
        assert_eq!(stored.len(), events.len());
    }
}

/// The mail a history should cause: one receipt per completed checkout, one "payment did not go
/// through" per failed invoice, one "please confirm" per invoice the bank wants confirmed, one
/// "trial ends soon" per trial end.
pub fn expected_mail(events: &[Value]) -> usize {
    let mut causes = std::collections::BTreeSet::new();
    for e in events {
        let object = &e["data"]["object"];
        match e["type"].as_str().unwrap_or("") {
            "checkout.session.completed" => causes.insert(format!("receipt {}", object["id"])),
            "invoice.payment_failed" => causes.insert(format!("failed {}", object["id"])),
            "invoice.payment_action_required" => causes.insert(format!("confirm {}", object["id"])),
            "customer.subscription.trial_will_end" => {
                causes.insert(format!("trial {} {}", object["id"], object["trial_end"]))
            }
            _ => false,
        };
    }
    causes.len()
}

/// A history of Stripe events at the emulator, across many customers: one-time purchases (some
/// refunded in full or in part, some disputed, each dispute won or lost), subscriptions (some with a trial), upgrades, downgrades scheduled for the period's end (some kept, some released), cancellations at period end (some undone),
/// cancellations now, failed renewals, and renewals month after month until there are at
/// least `target` events. Returns how many there are.
pub async fn make_history(app: &TestApp, target: usize) -> usize {
    let base = app.stripe_base();
    let price = |key: &'static str| async move {
        app.stripe_call(
            reqwest::Method::GET,
            "/v1/prices",
            &[("lookup_keys[]", key)],
        )
        .await["data"][0]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let pro_yearly = price("pro_yearly").await;
    let starter_monthly = price("starter_monthly").await;
    // A third of the history is purchases; renewals make the rest.
    let customers = (target / 30).max(8);
    for i in 0..customers {
        let email = format!("c{i}@storm.example");
        let url = match i % 5 {
            0 => {
                let extra = [("customer_creation", "always")];
                emulator_session(&base, "payment", "lifetime_once", &email, &extra).await
            }
            1 => {
                emulator_checkout(
                    &base,
                    "pro_monthly",
                    &email,
                    &[("subscription_data[trial_period_days]", "20")],
                )
                .await
            }
            2 => emulator_checkout(&base, "pro_monthly", &email, &[]).await,
            _ => emulator_checkout(&base, "starter_monthly", &email, &[]).await,
        };
        // Now and then a buyer's bank disputes the payment (Stripe's card 0259): a one-time
        // purchase's, or a subscription's first. Some subscribers' banks ask for 3-D Secure on
        // every payment (3184): their upgrades wait for it (pending updates).
        match i % 15 {
            0 | 7 => {
                pay_with_card(&url, &email, "4000000000000259").await;
            }
            8 => {
                let to = pay_with_card(&url, &email, "4000002760003184").await;
                app.client
                    .post(format!("{base}{to}"))
                    .form(&[("action", "complete")])
                    .send()
                    .await
                    .unwrap();
            }
            _ => {
                pay_at(&url, &email).await;
            }
        }
    }
    // Money going back: some purchases refunded in part or in full (and some of those refunds
    // failing at the bank), every dispute decided: won, lost or prevented.
    let (charges, disputes) = {
        let stripe = app.stripe.as_ref().unwrap();
        let store = stripe.store.lock().unwrap();
        let mut charges: Vec<_> = store
            .charges
            .values()
            .filter(|c| c.dispute.is_none() && c.invoice.is_none())
            .map(|c| (c.created, c.id.clone()))
            .collect();
        charges.sort();
        let disputes: Vec<String> = store.disputes.keys().cloned().collect();
        (charges, disputes)
    };
    for (j, (_, charge)) in charges.iter().enumerate() {
        let amount = match j % 3 {
            0 => vec![("charge", charge.as_str())],
            1 => vec![("charge", charge.as_str()), ("amount", "5000")],
            _ => continue,
        };
        let refund = app
            .stripe_call(reqwest::Method::POST, "/v1/refunds", &amount)
            .await;
        if j % 4 == 0 {
            let id = refund["id"].as_str().expect("a refund");
            app.control(&format!("refunds/{id}/fail"), &[]).await;
        }
    }
    for (j, dispute) in disputes.iter().enumerate() {
        // Some are reviewed first (`charge.dispute.updated`); a reviewed one is won or lost.
        let reviewed = j % 4 == 1;
        if reviewed {
            app.control(
                &format!("disputes/{dispute}/update"),
                &[("status", "under_review")],
            )
            .await;
        }
        let outcome = match ["won", "lost", "prevented"][j % 3] {
            "prevented" if reviewed => "won",
            outcome => outcome,
        };
        app.control(
            &format!("disputes/{dispute}/close"),
            &[("outcome", outcome)],
        )
        .await;
    }
    // Inquiries about subscriptions' payments: one closed without a chargeback, one escalated
    // to a chargeback (its money withdrawn) and then won (reinstated).
    let (quiet, disputing, authenticating) = {
        let stripe = app.stripe.as_ref().unwrap();
        let store = stripe.store.lock().unwrap();
        let customers = |pick: fn(&stripe_emulator::store::Customer) -> bool| {
            store
                .customers
                .values()
                .filter(|c| pick(c))
                .map(|c| c.id.clone())
                .collect::<std::collections::HashSet<_>>()
        };
        let disputing = customers(|c| c.disputes_payments);
        let authenticating = customers(|c| c.authenticates_every_payment);
        let mut quiet: Vec<_> = store
            .charges
            .values()
            .filter(|c| c.invoice.is_some() && c.dispute.is_none())
            .filter(|c| {
                c.customer
                    .as_ref()
                    .is_some_and(|id| !disputing.contains(id))
            })
            .map(|c| (c.created, c.id.clone()))
            .collect();
        quiet.sort();
        (quiet, disputing, authenticating)
    };
    for (j, (_, charge)) in quiet.iter().take(2).enumerate() {
        let inquiry = app
            .control(
                &format!("charges/{charge}/dispute"),
                &[("status", "warning_needs_response")],
            )
            .await;
        let id = inquiry["id"].as_str().unwrap();
        let steps: &[&str] = if j == 0 {
            &["warning_under_review", "warning_closed"]
        } else {
            &["needs_response", "won"]
        };
        for status in steps {
            app.control(&format!("disputes/{id}/update"), &[("status", status)])
                .await;
        }
    }
    // The subscriptions the history changes: not those held for a dispute (the site pauses
    // and cancels them meanwhile) nor those whose bank wants every payment confirmed.
    let (subs, waiting) = {
        let stripe = app.stripe.as_ref().unwrap();
        let store = stripe.store.lock().unwrap();
        let mut subs: Vec<_> = store
            .subscriptions
            .values()
            .filter(|s| !disputing.contains(&s.customer) && !authenticating.contains(&s.customer))
            .map(|s| (s.seq, s.id.clone(), s.customer.clone()))
            .collect();
        subs.sort();
        let mut waiting: Vec<_> = store
            .subscriptions
            .values()
            .filter(|s| authenticating.contains(&s.customer))
            .map(|s| (s.seq, s.id.clone(), s.items[0].id.clone()))
            .collect();
        waiting.sort();
        (
            subs.into_iter()
                .map(|(_, id, customer)| (id, customer))
                .collect::<Vec<_>>(),
            waiting,
        )
    };
    // Upgrades that wait for 3-D Secure: half are paid on the invoice's page (the update
    // applies), half left until Stripe drops them (the first month below expires them).
    let pro_monthly = price("pro_monthly").await;
    for (j, (_, sub, item)) in waiting.iter().enumerate() {
        let updated = app
            .stripe_call(
                reqwest::Method::POST,
                &format!("/v1/subscriptions/{sub}"),
                &[
                    ("items[0][id]", item),
                    ("items[0][price]", &pro_monthly),
                    ("proration_behavior", "always_invoice"),
                    ("payment_behavior", "pending_if_incomplete"),
                ],
            )
            .await;
        assert!(updated["pending_update"].is_object(), "{updated}");
        if j % 2 == 0 {
            let invoice = updated["latest_invoice"].as_str().unwrap();
            app.control(&format!("invoices/{invoice}/pay"), &[]).await;
        }
    }
    let post = reqwest::Method::POST;
    for (i, (sub, customer)) in subs.iter().enumerate() {
        let path = format!("/v1/subscriptions/{sub}");
        match i % 8 {
            0 => {
                app.stripe_call(post.clone(), &path, &[("items[0][price]", &pro_yearly)])
                    .await;
            }
            1 => {
                app.stripe_call(post.clone(), &path, &[("cancel_at_period_end", "true")])
                    .await;
            }
            2 => {
                app.stripe_call(post.clone(), &path, &[("cancel_at_period_end", "true")])
                    .await;
                app.stripe_call(post.clone(), &path, &[("cancel_at_period_end", "false")])
                    .await;
            }
            3 => {
                app.stripe_call(reqwest::Method::DELETE, &path, &[]).await;
            }
            4 => {
                app.control(&format!("subscriptions/{sub}/fail_next_renewal"), &[])
                    .await;
            }
            // A downgrade scheduled for the period's end; kept, or given up again (Keep).
            5 | 6 => {
                let made = app
                    .stripe_call(
                        post.clone(),
                        "/v1/subscription_schedules",
                        &[("from_subscription", sub)],
                    )
                    .await;
                let id = made["id"].as_str().unwrap().to_string();
                let phase = &made["phases"][0];
                let current = phase["items"][0]["price"].as_str().unwrap().to_string();
                let (start, end) = (
                    phase["start_date"].to_string(),
                    phase["end_date"].to_string(),
                );
                let next = if current == starter_monthly {
                    &pro_yearly
                } else {
                    &starter_monthly
                };
                app.stripe_call(
                    post.clone(),
                    &format!("/v1/subscription_schedules/{id}"),
                    &[
                        ("phases[0][items][0][price]", &current),
                        ("phases[0][start_date]", &start),
                        ("phases[0][end_date]", &end),
                        ("phases[1][items][0][price]", next),
                        ("phases[1][proration_behavior]", "none"),
                        ("end_behavior", "release"),
                    ],
                )
                .await;
                if i % 8 == 6 {
                    app.stripe_call(
                        post.clone(),
                        &format!("/v1/subscription_schedules/{id}/release"),
                        &[],
                    )
                    .await;
                }
            }
            // Credit given in the Dashboard (`customer.updated`), which renewals then spend.
            7 => {
                app.stripe_call(
                    post.clone(),
                    &format!("/v1/customers/{customer}/balance_transactions"),
                    &[("amount", "-1500"), ("currency", "usd")],
                )
                .await;
            }
            _ => {}
        }
    }
    let mut months = 0;
    while (event_count(app).await < target || months == 0) && months < 60 {
        app.control("advance", &[("days", "31")]).await;
        months += 1;
        // Now and then a renewal fails.
        if months % 3 == 0 {
            for (sub, _) in subs.iter().skip(months).step_by(9) {
                let _ = app
                    .client
                    .post(format!(
                        "{base}/_emulator/subscriptions/{sub}/fail_next_renewal"
                    ))
                    .send()
                    .await;
            }
        }
    }
    // The site holds disputed subscriptions by calling Stripe, which makes events of its own:
    // the history ends once the live app has applied every event and made no new one.
    loop {
        let made = event_count(app).await;
        wait_applied(&app.state.db, made, Duration::from_secs(600)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        if event_count(app).await == made {
            return made;
        }
    }
}

async fn event_count(app: &TestApp) -> usize {
    app.stripe
        .as_ref()
        .unwrap()
        .store
        .lock()
        .unwrap()
        .events
        .len()
}

/// Every event the emulator has made, as it would deliver them.
pub fn all_events(app: &TestApp) -> Vec<Value> {
    let stripe = app.stripe.as_ref().unwrap();
    let store = stripe.store.lock().unwrap();
    store
        .events
        .iter()
        .map(|e| e.json(store.pending_webhooks(&e.type_)))
        .collect()
}

/// Stripe's own state (the emulator's store) equals ours, subscription by subscription, what
/// went back of each payment (refunded amount, dispute status) purchase by purchase, and each
/// customer's balance.
pub async fn assert_as_stripe_has_it(app: &TestApp, db: &Db) {
    let mut ours_back: Vec<(i64, Option<String>)> = billing::all_purchases(db)
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.amount_refunded, p.dispute_status))
        .collect();
    ours_back.sort();
    {
        let stripe = app.stripe.as_ref().unwrap();
        let store = stripe.store.lock().unwrap();
        let mut theirs_back: Vec<(i64, Option<String>)> = store
            .charges
            .values()
            .filter(|c| c.invoice.is_none())
            .map(|c| {
                let dispute = c.dispute.as_ref().map(|d| store.disputes[d].status.clone());
                (c.amount_refunded, dispute)
            })
            .collect();
        theirs_back.sort();
        assert_eq!(
            ours_back, theirs_back,
            "refunds and disputes as Stripe has them"
        );
    }
    // Every customer whose balance ever moved has it stored as Stripe has it now.
    let balances: HashMap<String, i64> = customers::all_balances(db)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, b)| (id, b.balance))
        .collect();
    {
        let stripe = app.stripe.as_ref().unwrap();
        let store = stripe.store.lock().unwrap();
        for c in store.customers.values().filter(|c| c.currency.is_some()) {
            assert_eq!(balances.get(&c.id), Some(&c.balance), "{}'s balance", c.id);
        }
    }
    let ours: HashMap<String, billing::SubscriptionRow> = billing::all_subscriptions(db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id.clone(), s))
        .collect();
    let stripe = app.stripe.as_ref().unwrap();
    {
        let store = stripe.store.lock().unwrap();
        assert_eq!(
            ours.len(),
            store.subscriptions.len(),
            "every subscription stored"
        );
        for (id, theirs) in &store.subscriptions {
            let mine = &ours[id];
            assert_eq!(mine.status, theirs.status, "{id}");
            assert_eq!(
                mine.cancel_at_period_end, theirs.cancel_at_period_end,
                "{id}"
            );
            assert_eq!(mine.price_id, theirs.items[0].price, "{id}");
            assert_eq!(
                mine.current_period_end,
                Some(theirs.current_period_end),
                "{id}"
            );
        }
    }
    let ours: HashMap<String, landing::server::db::schedules::ScheduleRow> =
        landing::server::db::schedules::all(db)
            .await
            .unwrap()
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
    let store = stripe.store.lock().unwrap();
    assert_eq!(
        ours.len(),
        store.subscription_schedules.len(),
        "every schedule stored"
    );
    for (id, theirs) in &store.subscription_schedules {
        assert_eq!(ours[id].status, theirs.status, "{id}");
    }
}

/// Replays every event three times, shuffled, `concurrency` at a time, to `url`, in the
/// background; the emulator's answer once all are delivered.
pub fn replay(
    live: &TestApp,
    url: &str,
    concurrency: usize,
) -> tokio::task::JoinHandle<serde_json::Value> {
    let control = format!("{}/_emulator/replay", live.stripe_base());
    let form = [
        ("times", "3".to_string()),
        ("seed", "8".to_string()),
        ("concurrency", concurrency.to_string()),
        ("url", url.to_string()),
    ];
    tokio::spawn(async move {
        reqwest::Client::builder()
            .timeout(Duration::from_secs(900))
            .build()
            .unwrap()
            .post(control)
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    })
}

/// Waits until the storm has made `n` deliveries to `url`.
pub async fn after_deliveries(live: &TestApp, url: &str, n: usize) {
    for _ in 0..6000 {
        if DeliveryLog::read(live, url).deliveries >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the storm did not get going");
}
