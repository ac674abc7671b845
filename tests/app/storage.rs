//! The schema and the storage functions, identical on SQLite and PostgreSQL.

use std::collections::HashMap;

use landing::server::db::billing::{self, SubscriptionRow};
use landing::server::db::{customers, profiles, DbError, DbUuid, Table};

use crate::harness::{on_both_databases, TestApp};

on_both_databases!(
    migrations_create_every_table_of_the_design_and_can_run_again,
    emails_are_unique_whatever_their_case,
    a_user_has_one_stripe_customer_and_relinking_replaces_it,
    a_stripe_customer_cannot_belong_to_two_users,
    deleting_a_profile_removes_its_customer_link,
    a_customer_cannot_be_linked_to_a_missing_profile,
    the_live_plans_of_many_people_are_read_in_one_query,
);

async fn migrations_create_every_table_of_the_design_and_can_run_again(app: TestApp) {
    for table in Table::ALL {
        assert_eq!(
            app.state.db.count_rows(table).await.unwrap(),
            0,
            "{}",
            table.name()
        );
    }
    app.state
        .db
        .migrate()
        .await
        .expect("a second run is a no-op");
}

async fn emails_are_unique_whatever_their_case(app: TestApp) {
    let db = &app.state.db;
    let ada = profiles::insert(db, "ada@example.com", Some("hash"))
        .await
        .unwrap();
    assert!(matches!(
        profiles::insert(db, "ADA@Example.com", None).await,
        Err(DbError::EmailTaken)
    ));
    let found = profiles::find_by_email(db, "Ada@EXAMPLE.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, ada.id);
    assert_eq!(found.password_hash.as_deref(), Some("hash"));
    assert_eq!(
        profiles::find_by_id(db, ada.id)
            .await
            .unwrap()
            .unwrap()
            .email,
        "ada@example.com"
    );
    assert!(profiles::find_by_email(db, "bob@example.com")
        .await
        .unwrap()
        .is_none());
    assert_eq!(db.count_rows(Table::Profiles).await.unwrap(), 1);
}

async fn a_user_has_one_stripe_customer_and_relinking_replaces_it(app: TestApp) {
    let db = &app.state.db;
    let user = profiles::insert(db, "u@example.com", None).await.unwrap();
    assert_eq!(
        customers::customer_id_for_user(db, user.id).await.unwrap(),
        None
    );

    crate::harness::link(db, user.id, "cus_first")
        .await
        .unwrap();
    crate::harness::link(db, user.id, "cus_first")
        .await
        .expect("linking again is idempotent");
    assert_eq!(
        customers::customer_id_for_user(db, user.id)
            .await
            .unwrap()
            .as_deref(),
        Some("cus_first")
    );
    crate::harness::link(db, user.id, "cus_second")
        .await
        .unwrap();
    assert_eq!(
        customers::customer_id_for_user(db, user.id)
            .await
            .unwrap()
            .as_deref(),
        Some("cus_second")
    );
    assert_eq!(db.count_rows(Table::StripeCustomers).await.unwrap(), 1);
    assert_eq!(
        crate::harness::owner_of(db, "cus_second").await,
        Some(user.id)
    );
    assert_eq!(crate::harness::owner_of(db, "cus_first").await, None);
}

async fn a_stripe_customer_cannot_belong_to_two_users(app: TestApp) {
    let db = &app.state.db;
    let a = profiles::insert(db, "a@example.com", None).await.unwrap();
    let b = profiles::insert(db, "b@example.com", None).await.unwrap();
    crate::harness::link(db, a.id, "cus_shared").await.unwrap();
    assert!(matches!(
        crate::harness::link(db, b.id, "cus_shared").await,
        Err(DbError::CustomerTaken)
    ));
    assert_eq!(
        customers::customer_id_for_user(db, b.id).await.unwrap(),
        None
    );
    assert_eq!(crate::harness::owner_of(db, "cus_shared").await, Some(a.id));
}

async fn deleting_a_profile_removes_its_customer_link(app: TestApp) {
    let db = &app.state.db;
    let user = profiles::insert(db, "gone@example.com", None)
        .await
        .unwrap();
    crate::harness::link(db, user.id, "cus_gone").await.unwrap();
    assert!(profiles::delete(db, user.id).await.unwrap());
    assert_eq!(db.count_rows(Table::StripeCustomers).await.unwrap(), 0);
    assert!(!profiles::delete(db, user.id).await.unwrap());
}

async fn a_customer_cannot_be_linked_to_a_missing_profile(app: TestApp) {
    let db = &app.state.db;
    let result = crate::harness::link(db, DbUuid::new_v4(), "cus_orphan").await;
    assert!(matches!(result, Err(DbError::Sqlx(_))), "{result:?}");
    assert_eq!(db.count_rows(Table::StripeCustomers).await.unwrap(), 0);
}

async fn the_live_plans_of_many_people_are_read_in_one_query(app: TestApp) {
    let db = &app.state.db;
    let [ada, bob, cy, dee] = ["ada", "bob", "cy", "dee"].map(|n| format!("{n}@example.com"));
    let mut users = Vec::new();
    for email in [&ada, &bob, &cy, &dee] {
        users.push(profiles::insert(db, email, None).await.unwrap().id);
    }
    let [ada, bob, cy, dee] = [users[0], users[1], users[2], users[3]];
    let sub =
        |id: &str, user: Option<DbUuid>, customer: &str, status: &str, price: &str, created| {
            SubscriptionRow {
                id: id.into(),
                user_id: user,
                stripe_customer_id: customer.into(),
                status: status.into(),
                price_id: price.into(),
                quantity: 1,
                current_period_start: None,
                current_period_end: None,
                cancel_at_period_end: false,
                cancel_at: None,
                canceled_at: None,
                trial_end: None,
                stripe_created: created,
                synced_at_ms: 1,
                pending_price_id: None,
                pending_invoice_id: None,
                pending_expires_at: None,
            }
        };
    let rows = [
        // Ada's own row is live; a newer one of hers is canceled and does not count.
        sub("sub_ada1", Some(ada), "cus_ada", "active", "price_a", 100),
        sub("sub_ada2", Some(ada), "cus_ada", "canceled", "price_x", 200),
        // Bob's rows are his customer's, stored before the customer was linked to him: the
        // newest live one counts.
        sub("sub_bob1", None, "cus_bob", "trialing", "price_b", 50),
        sub("sub_bob2", None, "cus_bob", "past_due", "price_c", 60),
        // Dee's two live rows were created in the same second: the lower id, as the billing
        // page orders them.
        sub("sub_dee_b", Some(dee), "cus_dee", "active", "price_e", 70),
        sub("sub_dee_a", Some(dee), "cus_dee", "active", "price_d", 70),
    ];
    let mut tx = db.begin().await.unwrap();
    for row in &rows {
        assert!(billing::upsert_subscription(&mut tx, row).await.unwrap());
    }
    tx.commit().await.unwrap();
    crate::harness::link(db, bob, "cus_bob").await.unwrap();

    let expected: HashMap<DbUuid, String> = [(ada, "price_a"), (bob, "price_c"), (dee, "price_d")]
        .map(|(u, p)| (u, p.to_string()))
        .into();
    let all = [ada, bob, cy, dee];
    assert_eq!(
        billing::live_prices_for_users(db, &all).await.unwrap(),
        expected
    );
    assert!(billing::live_prices_for_users(db, &[cy])
        .await
        .unwrap()
        .is_empty());
    assert!(billing::live_prices_for_users(db, &[])
        .await
        .unwrap()
        .is_empty());
    // The same as the first live row of each person's subscriptions as the billing page lists
    // them.
    for user in all {
        let first_live = billing::subscriptions_for_user(db, user)
            .await
            .unwrap()
            .into_iter()
            .find(|s| matches!(s.status.as_str(), "active" | "trialing" | "past_due"))
            .map(|s| s.price_id);
        assert_eq!(first_live.as_ref(), expected.get(&user));
    }
    // Through the batching reader: 400 lookups at once, each answered with its own person's.
    let mut lookups = tokio::task::JoinSet::new();
    for n in 0..400 {
        let user = all[n % all.len()];
        let reads = app.state.plan_reads.clone();
        lookups.spawn(async move { (user, reads.live_price(user).await.unwrap()) });
    }
    let mut answered = 0;
    while let Some(answer) = lookups.join_next().await {
        let (user, price) = answer.unwrap();
        assert_eq!(price.as_ref(), expected.get(&user), "{user}");
        answered += 1;
    }
    assert_eq!(answered, 400);
}
