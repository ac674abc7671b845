//! The `landing` binary's commands besides serving: `sync` without a Stripe key, and `resync`
//! storing what Stripe holds when its webhooks never arrived.

use crate::harness::{env_with, landing};

#[tokio::test]
async fn catalog_sync_without_a_stripe_key_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = landing(&env_with(&[]), dir.path())
        .args(["catalog", "sync"])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: STRIPE_SECRET_KEY"));
}

#[tokio::test]
async fn resync_stores_what_stripe_holds_and_events_lists_the_failures() {
    let stripe = crate::harness::catalog_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let db_url = format!("sqlite://{}/landing.db", dir.path().display());
    let env = env_with(&[
        ("DATABASE_URL", &db_url),
        ("STRIPE_SECRET_KEY", crate::harness::STRIPE_KEY),
        ("STRIPE_API_BASE", &stripe.base_url),
        ("RUST_LOG", "warn"),
    ]);
    // A subscription paid at Stripe whose webhooks never reached us.
    let url =
        crate::harness::emulator_checkout(&stripe.base_url, "pro_monthly", "lost@example.com", &[])
            .await;
    crate::harness::pay_at(&url, "lost@example.com").await;
    let customer = stripe
        .store
        .lock()
        .unwrap()
        .customers
        .keys()
        .next()
        .unwrap()
        .clone();

    let run = |args: Vec<String>| {
        let env = env.clone();
        let dir = dir.path().to_path_buf();
        async move {
            let out = landing(&env, &dir).args(&args).output().await.unwrap();
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).to_string()
        }
    };
    let out = run(vec!["resync".into(), "--customer".into(), customer.clone()]).await;
    assert!(
        out.contains("resynced 1 customer(s): 1 checkout(s), 1 subscription(s), 1 invoice(s)"),
        "{out}"
    );
    let out = run(vec!["resync".into(), "--all".into()]).await;
    assert!(out.contains("resynced 1 customer(s)"), "{out}");
    let db = landing::server::db::Db::connect(&landing::server::config::DatabaseUrl::Sqlite(
        db_url.clone(),
    ))
    .await
    .unwrap();
    let subs = landing::server::db::billing::all_subscriptions(&db)
        .await
        .unwrap();
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0].status, "active");
    assert_eq!(subs[0].stripe_customer_id, customer);
    assert!(
        subs[0].user_id.is_none(),
        "bought signed out: it waits under the checkout email until someone proves it"
    );

    assert!(run(vec!["events".into(), "--failed".into()])
        .await
        .contains("0 event(s)"));
    let event = landing::server::db::events::NewEvent {
        id: "evt_failed_once",
        type_: "invoice.payment_failed",
        stripe_created: 1,
        livemode: false,
        payload: "{}",
    };
    landing::server::db::events::record_failure(&db, &event, "Stripe could not be reached")
        .await
        .unwrap();
    db.close().await;
    let out = run(vec!["events".into(), "--failed".into()]).await;
    assert!(out.contains("evt_failed_once"), "{out}");
    assert!(out.contains("NOT APPLIED"), "{out}");
    assert!(out.contains("Stripe could not be reached"), "{out}");
    assert!(out.contains("1 event(s)"), "{out}");
}
