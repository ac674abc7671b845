//! Accounts you can trust: an email is proven by a mailed link before anything found under it
//! becomes the account's; takeover attempts by signing up with someone else's email get
//! nothing; password reset; sessions that end, on every instance.

use std::time::Duration;

use landing::server::db::{accounts, customers, outbox, profiles, Table};
use reqwest::header::SET_COOKIE;
use serde_json::Value;

use crate::harness::{link_in, on_both_databases, session_cookie, Backend, SmtpSink, TestApp};

const PASSWORD: &str = "correct horse battery";

on_both_databases!(
    backend;
    signing_up_mails_a_single_use_link_that_proves_the_email_and_signs_in,
    a_signed_out_purchase_waits_under_its_email_until_its_owner_proves_it,
    an_operator_email_gives_operator_rights_only_once_proven,
    a_strangers_checkout_with_a_users_email_never_replaces_their_customer,
    a_password_reset_sets_a_new_password_and_ends_every_other_session,
);

/// An app with billing and webhooks on, whose mail goes to a real SMTP server.
pub async fn app_with_mail(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, SmtpSink) {
    let smtp = SmtpSink::start().await;
    let url = format!("smtp://127.0.0.1:{}", smtp.port);
    let mut vars = vec![("SMTP_URL", url.as_str())];
    vars.extend_from_slice(extra);
    (TestApp::spawn_webhooks(backend, &vars).await, smtp)
}

/// The newest mail to `to` that holds a link to `path`.
pub async fn link_for(smtp: &SmtpSink, to: &str, path: &str) -> String {
    for _ in 0..200 {
        let mut mails: Vec<String> = smtp
            .mails()
            .into_iter()
            .filter(|m| m.contains(&format!("To: {to}")))
            .collect();
        mails.sort();
        if let Some(link) = mails.iter().rev().find_map(|m| link_in(m, path)) {
            return link;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {path} link mailed to {to}: {:?}", smtp.mails());
}

pub fn token_of(link: &str) -> String {
    link.split("token=").nth(1).unwrap().to_string()
}

/// Follows a verification link as its account's holder does when signed out: with the
/// account's password.
async fn follow_verification(app: &TestApp, link: &str) -> reqwest::Response {
    let (status, page) = app.get_text(link).await;
    assert_eq!(status, 200);
    assert!(page.contains("Confirm my email"), "{page}");
    assert!(
        page.contains("Your account&#x27;s password") || page.contains("Your account's password"),
        "{page}"
    );
    app.post_form(
        "/api/auth/verify_email",
        &[("token", &token_of(link)), ("password", PASSWORD)],
        None,
    )
    .await
}

pub async fn account(app: &TestApp, cookie: &str) -> Value {
    app.post_form("/api/auth/account", &[], Some(cookie))
        .await
        .json()
        .await
        .unwrap()
}

pub async fn sign_in(app: &TestApp, email: &str, password: &str) -> reqwest::Response {
    app.post_form(
        "/api/auth/sign_in",
        &[("email", email), ("password", password)],
        None,
    )
    .await
}

async fn signing_up_mails_a_single_use_link_that_proves_the_email_and_signs_in(backend: Backend) {
    let (app, smtp) = app_with_mail(backend, &[]).await;
    let cookie = app.member("ada@example.com").await;
    assert_eq!(account(&app, &cookie).await["email_verified"], false);
    let link = link_for(&smtp, "ada@example.com", "/verify-email").await;

    // Only a hash of the token is stored, and the sent mail's body is blanked.
    let token = token_of(&link);
    assert_eq!(app.rows(Table::AuthTokens).await, 1);
    let mails = outbox::all(&app.state.db).await.unwrap();
    for _ in 0..100 {
        if outbox::all(&app.state.db)
            .await
            .unwrap()
            .iter()
            .all(|m| m.sent_at.is_some())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(mails.iter().all(|m| !m.dedupe_key.contains(&token)));
    for m in outbox::all(&app.state.db).await.unwrap() {
        assert!(!m.body.contains(&token), "a sent link is not kept");
    }

    let res = follow_verification(&app, &link).await;
    assert_eq!(res.status(), 200);
    let fresh = session_cookie(&res);
    assert_eq!(account(&app, &fresh).await["email_verified"], true);
    assert_eq!(
        account(&app, &cookie).await["email_verified"],
        true,
        "the account is proven, whichever session asks"
    );

    // Used once: a second use, a forged token and a reset token are all refused.
    for token in [token.as_str(), "forged-token", ""] {
        let res = app
            .post_form(
                "/api/auth/verify_email",
                &[("token", token), ("password", PASSWORD)],
                None,
            )
            .await;
        assert_eq!(res.status(), 400, "{token}");
        assert!(res.headers().get(SET_COOKIE).is_none());
    }
    // A browser following a spent link is told so on the page.
    let location = app
        .browser_post("/api/auth/verify_email", &[("token", &token)], "")
        .await;
    let (_, page) = app.get_text(&location).await;
    assert!(page.contains("expired or was already used"), "{page}");
}

async fn a_signed_out_purchase_waits_under_its_email_until_its_owner_proves_it(backend: Backend) {
    let (app, smtp) = app_with_mail(backend, &[]).await;
    // Bought signed out with the owner's address.
    app.signed_out_lifetime("owner@example.com").await;
    assert_eq!(
        app.rows(Table::Profiles).await,
        0,
        "no profile is made for an email"
    );
    assert_eq!(app.rows(Table::EmailCustomers).await, 1);

    // Someone signs up with that address: they get an account, and nothing of the buyer's.
    let cookie = app.member("owner@example.com").await;
    let billing = app.page_as("/billing", &cookie).await;
    assert!(!billing.contains("Lifetime"), "{billing}");
    assert!(billing.contains("Make a purchase first"), "{billing}");
    let portal = app
        .client
        .post(app.url("/api/stripe/create-portal"))
        .header("cookie", &cookie)
        .header("origin", &app.base)
        .json(&serde_json::json!({ "returnUrl": app.url("/billing") }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        portal.status(),
        400,
        "no Stripe customer is found by an unproven email"
    );
    let app_page = app.page_as("/app", &cookie).await;
    assert!(!app_page.contains("Plan: Lifetime"), "{app_page}");

    // Whoever reads the owner's mail proves it: the purchase and the customer become the
    // account's, once.
    let link = link_for(&smtp, "owner@example.com", "/verify-email").await;
    assert_eq!(follow_verification(&app, &link).await.status(), 200);
    let billing = app.page_as("/billing", &cookie).await;
    assert!(billing.contains("Lifetime"), "{billing}");
    let profile = profiles::find_by_email(&app.state.db, "owner@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(customers::customer_id_for_user(&app.state.db, profile.id)
        .await
        .unwrap()
        .is_some());
    let mut tx = app.state.db.begin().await.unwrap();
    let again = accounts::claim_email_customers(&mut tx, "owner@example.com", profile.id)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(again.is_empty(), "claimed once");
}

async fn an_operator_email_gives_operator_rights_only_once_proven(backend: Backend) {
    let (app, _smtp) = app_with_mail(backend, &[("ADMIN_EMAILS", "boss@example.com")]).await;
    let cookie = app.member("boss@example.com").await;
    let res = app
        .post_form(
            "/api/admin/events",
            &[("failed_only", "false")],
            Some(&cookie),
        )
        .await;
    assert_eq!(
        res.status(),
        403,
        "an unproven operator address is nobody's"
    );
    app.prove("boss@example.com").await;
    let res = app
        .post_form(
            "/api/admin/events",
            &[("failed_only", "false")],
            Some(&cookie),
        )
        .await;
    assert_eq!(res.status(), 200);
}

async fn a_strangers_checkout_with_a_users_email_never_replaces_their_customer(backend: Backend) {
    let (app, _smtp) = app_with_mail(backend, &[]).await;
    app.subscriber("ada@example.com", "pro_monthly", "subscription")
        .await;
    app.prove("ada@example.com").await;
    app.settle().await;
    let ada = profiles::find_by_email(&app.state.db, "ada@example.com")
        .await
        .unwrap()
        .unwrap();
    let before = customers::customer_id_for_user(&app.state.db, ada.id)
        .await
        .unwrap()
        .expect("ada's customer");

    // A stranger, signed out, pays with Ada's address.
    app.signed_out_lifetime("ada@example.com").await;
    let after = customers::customer_id_for_user(&app.state.db, ada.id)
        .await
        .unwrap();
    assert_eq!(
        after.as_deref(),
        Some(before.as_str()),
        "Ada keeps her customer"
    );
}

async fn a_password_reset_sets_a_new_password_and_ends_every_other_session(backend: Backend) {
    let (app, smtp) = app_with_mail(backend, &[]).await;
    let first = app.member("ada@example.com").await;
    let second = session_cookie(&sign_in(&app, "ada@example.com", PASSWORD).await);

    // The same answer for an account and for nobody.
    let known = app
        .post_form(
            "/api/auth/forgot_password",
            &[("email", "ada@example.com")],
            None,
        )
        .await;
    let unknown = app
        .post_form(
            "/api/auth/forgot_password",
            &[("email", "nobody@example.com")],
            None,
        )
        .await;
    assert_eq!(known.status(), unknown.status());
    assert_eq!(known.text().await.unwrap(), unknown.text().await.unwrap());

    let link = link_for(&smtp, "ada@example.com", "/reset-password").await;
    // A second request mails a second link: the reset done with the first uses it up too.
    app.post_form(
        "/api/auth/forgot_password",
        &[("email", "ada@example.com")],
        None,
    )
    .await;
    let other_link = {
        let mut found = None;
        for _ in 0..200 {
            found = smtp
                .mails()
                .iter()
                .filter(|m| m.contains("To: ada@example.com"))
                .filter_map(|m| link_in(m, "/reset-password"))
                .find(|l| *l != link);
            if found.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        found.expect("a second reset link")
    };
    let (status, page) = app.get_text(&link).await;
    assert_eq!(status, 200);
    assert!(page.contains("Set the new password"), "{page}");
    let token = token_of(&link);
    let weak = app
        .post_form(
            "/api/auth/reset_password",
            &[("token", &token), ("password", "short")],
            None,
        )
        .await;
    assert_eq!(weak.status(), 400);
    let res = app
        .post_form(
            "/api/auth/reset_password",
            &[("token", &token), ("password", "a brand new passphrase")],
            None,
        )
        .await;
    assert_eq!(res.status(), 200, "a weak try leaves the link usable");
    let fresh = session_cookie(&res);
    for old in [&first, &second] {
        let (status, _) = app.get_json("/api/me", ("cookie", old.to_string())).await;
        assert_eq!(status, 401, "every other session has ended");
    }
    assert_eq!(account(&app, &fresh).await["email_verified"], true);
    assert_eq!(
        sign_in(&app, "ada@example.com", PASSWORD).await.status(),
        401
    );
    assert_eq!(
        sign_in(&app, "ada@example.com", "a brand new passphrase")
            .await
            .status(),
        200
    );
    let again = app
        .post_form(
            "/api/auth/reset_password",
            &[("token", &token), ("password", "yet another passphrase")],
            None,
        )
        .await;
    assert_eq!(again.status(), 400, "a reset link works once");
    let (_, page) = app.get_text(&link).await;
    assert!(page.contains("expired or was already used"), "{page}");
    let other = app
        .post_form(
            "/api/auth/reset_password",
            &[
                ("token", &token_of(&other_link)),
                ("password", "yet another passphrase"),
            ],
            None,
        )
        .await;
    assert_eq!(other.status(), 400, "the other reset link was used up");
    let (_, page) = app.get_text(&other_link).await;
    assert!(page.contains("expired or was already used"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_on_one_instance_is_refused_by_another_within_a_second() {
    let one = TestApp::spawn(Backend::Postgres).await;
    // Instances behind one balancer share the site's address, and so its tokens' issuer.
    let two = one.second_instance(&[]).await;
    let cookie = one.member("ada@example.com").await;
    let me = |app: &TestApp| {
        app.client
            .get(app.url("/api/me"))
            .header("cookie", cookie.clone())
            .send()
    };
    assert_eq!(
        me(&two).await.unwrap().status(),
        200,
        "one database, one account"
    );
    one.post_form("/api/auth/sign_out", &[], Some(&cookie))
        .await;
    assert_eq!(
        me(&one).await.unwrap().status(),
        401,
        "refused at once where revoked"
    );
    let started = std::time::Instant::now();
    loop {
        if me(&two).await.unwrap().status() == 401 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the other instance still accepts the token after a second"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Sign out everywhere, from the other instance, ends a session made on the first.
    let again = one.member("bob@example.com").await;
    let res = two
        .client
        .post(two.url("/api/auth/sign_out_everywhere"))
        .header("accept", "application/json")
        // The site's one address, whichever instance the balancer picked.
        .header("origin", &one.base)
        .header("cookie", &again)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let started = std::time::Instant::now();
    while one
        .client
        .get(one.url("/api/me"))
        .header("cookie", again.clone())
        .send()
        .await
        .unwrap()
        .status()
        != 401
    {
        assert!(started.elapsed() < Duration::from_secs(1));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
