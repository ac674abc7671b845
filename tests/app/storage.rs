//! The schema and the storage functions, identical on SQLite and PostgreSQL.

use landing::server::db::{customers, profiles, DbError, DbUuid, Table};

use crate::support::{on_both_databases, TestApp};

on_both_databases!(
    migrations_create_every_table_of_the_design_and_can_run_again,
    emails_are_unique_whatever_their_case,
    a_user_has_one_stripe_customer_and_relinking_replaces_it,
    a_stripe_customer_cannot_belong_to_two_users,
    deleting_a_profile_removes_its_customer_link,
    a_customer_cannot_be_linked_to_a_missing_profile,
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

    crate::support::link(db, user.id, "cus_first")
        .await
        .unwrap();
    crate::support::link(db, user.id, "cus_first")
        .await
        .expect("linking again is idempotent");
    assert_eq!(
        customers::customer_id_for_user(db, user.id)
            .await
            .unwrap()
            .as_deref(),
        Some("cus_first")
    );
    crate::support::link(db, user.id, "cus_second")
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
        crate::support::owner_of(db, "cus_second").await,
        Some(user.id)
    );
    assert_eq!(crate::support::owner_of(db, "cus_first").await, None);
}

async fn a_stripe_customer_cannot_belong_to_two_users(app: TestApp) {
    let db = &app.state.db;
    let a = profiles::insert(db, "a@example.com", None).await.unwrap();
    let b = profiles::insert(db, "b@example.com", None).await.unwrap();
    crate::support::link(db, a.id, "cus_shared").await.unwrap();
    assert!(matches!(
        crate::support::link(db, b.id, "cus_shared").await,
        Err(DbError::CustomerTaken)
    ));
    assert_eq!(
        customers::customer_id_for_user(db, b.id).await.unwrap(),
        None
    );
    assert_eq!(crate::support::owner_of(db, "cus_shared").await, Some(a.id));
}

async fn deleting_a_profile_removes_its_customer_link(app: TestApp) {
    let db = &app.state.db;
    let user = profiles::insert(db, "gone@example.com", None)
        .await
        .unwrap();
    crate::support::link(db, user.id, "cus_gone").await.unwrap();
    assert!(profiles::delete(db, user.id).await.unwrap());
    assert_eq!(db.count_rows(Table::StripeCustomers).await.unwrap(), 0);
    assert!(!profiles::delete(db, user.id).await.unwrap());
}

async fn a_customer_cannot_be_linked_to_a_missing_profile(app: TestApp) {
    let db = &app.state.db;
    let result = crate::support::link(db, DbUuid::new_v4(), "cus_orphan").await;
    assert!(matches!(result, Err(DbError::Sqlx(_))), "{result:?}");
    assert_eq!(db.count_rows(Table::StripeCustomers).await.unwrap(), 0);
}
