//! Account pre-hijacking, reproduced as an attacker would try it, and each attempt failing:
//! a sign-up over someone's account, a stranger confirming a sign-up made with their address,
//! an unproven Supabase identity waiting for the owner to prove the email, a local registration
//! standing in the way of the owner's Supabase sign-in, and Supabase tokens outliving "sign out
//! everywhere".

use std::time::Duration;

use landing::server::db::{profiles, DbUuid, Table};
use serde_json::Value;

use crate::harness::{link_in, on_both_databases, session_cookie, Backend, SmtpSink, TestApp};
use crate::identity::{account, app_with_mail, link_for, sign_in, token_of};
use crate::tokens::{supabase_token, supabase_token_issued, SUPABASE_SECRET, SUPABASE_URL};

const OWNER_PASSWORD: &str = "the owner's own passphrase";
const ATTACKER_PASSWORD: &str = "the attacker's choice!";

on_both_databases!(
    backend;
    a_sign_up_over_an_existing_account_never_sets_the_attackers_password,
    a_stranger_confirming_a_sign_up_made_with_their_email_proves_nothing,
    an_unproven_supabase_identity_is_detached_when_the_owner_proves_the_email,
    a_local_registration_never_blocks_the_owners_supabase_sign_in,
    sign_out_everywhere_and_a_reset_refuse_earlier_supabase_tokens,
);

fn supabase(confirmed: bool) -> Vec<(&'static str, &'static str)> {
    vec![
        ("SUPABASE_URL", SUPABASE_URL),
        ("SUPABASE_JWT_SECRET", SUPABASE_SECRET),
        (
            "SUPABASE_EMAILS_CONFIRMED",
            if confirmed { "true" } else { "false" },
        ),
    ]
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// What `/api/me` answers for a Supabase user's token.
async fn me_as(app: &TestApp, sub: &str, email: &str) -> (u16, Value) {
    app.me_with(bearer(&supabase_token(sub, email, SUPABASE_SECRET)))
        .await
}

/// Resets `email`'s password by the link mailed to it (asking for one first when `ask`).
async fn reset_by_mail(app: &TestApp, smtp: &SmtpSink, email: &str, ask: bool) -> String {
    if ask {
        let res = app
            .post_form("/api/auth/forgot_password", &[("email", email)], None)
            .await;
        assert_eq!(res.status(), 200);
    }
    let link = link_for(smtp, email, "/reset-password").await;
    let res = app
        .post_form(
            "/api/auth/reset_password",
            &[("token", &token_of(&link)), ("password", OWNER_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    session_cookie(&res)
}

async fn a_sign_up_over_an_existing_account_never_sets_the_attackers_password(backend: Backend) {
    let (app, smtp) = app_with_mail(backend, &supabase(false)).await;
    // Sue came in by Supabase: an account with no password.
    let sue = uuid::Uuid::new_v4().to_string();
    assert_eq!(me_as(&app, &sue, "sue@example.com").await.0, 200);
    // Ann has a password.
    app.member("ann@example.com").await;
    for email in ["sue@example.com", "ann@example.com"] {
        let res = app.sign_up(email, ATTACKER_PASSWORD).await;
        assert_eq!(res.status(), 200, "the same answer as for a new email");
        assert_eq!(
            res.text().await.unwrap(),
            "\"Check your inbox: we sent a link to confirm your email address.\""
        );
    }
    // Each owner is told, with a link to choose their own password, and no confirmation link
    // that would set the attacker's.
    for email in ["sue@example.com", "ann@example.com"] {
        let mail = (0..200)
            .find_map(|_| {
                std::thread::sleep(Duration::from_millis(50));
                smtp.mails().into_iter().find(|m| {
                    m.contains(&format!("To: {email}")) && m.contains("Someone tried to sign up")
                })
            })
            .expect("a mail to the owner");
        let text = mail.replace("=\r\n", "").replace("=\n", "");
        assert!(link_in(&mail, "/reset-password").is_some(), "{mail}");
        assert!(
            text.contains("The password typed at sign-up is not used"),
            "{mail}"
        );
    }
    let confirmations = smtp
        .mails()
        .iter()
        .filter(|m| m.contains("To: sue@example.com") && m.contains("/verify-email"))
        .count();
    assert_eq!(confirmations, 0);
    assert_eq!(
        sign_in(&app, "sue@example.com", ATTACKER_PASSWORD)
            .await
            .status(),
        401
    );
    assert_eq!(
        sign_in(&app, "ann@example.com", ATTACKER_PASSWORD)
            .await
            .status(),
        401
    );

    // Sue follows the link and chooses her own password, on her own account.
    reset_by_mail(&app, &smtp, "sue@example.com", false).await;
    let res = sign_in(&app, "sue@example.com", OWNER_PASSWORD).await;
    assert_eq!(res.status(), 200);
    let (_, me) = app.me_with(("cookie", session_cookie(&res))).await;
    assert_eq!(me["id"], sue.as_str(), "the same account");
    assert_eq!(
        sign_in(&app, "sue@example.com", ATTACKER_PASSWORD)
            .await
            .status(),
        401
    );
}

async fn a_stranger_confirming_a_sign_up_made_with_their_email_proves_nothing(backend: Backend) {
    let (app, smtp) = app_with_mail(backend, &[]).await;
    // Vic bought the lifetime plan signed out.
    app.signed_out_lifetime("vic@example.com").await;
    // The attacker signs up with Vic's address and a password of their own.
    assert_eq!(
        app.sign_up("vic@example.com", ATTACKER_PASSWORD)
            .await
            .status(),
        200
    );
    let attacker = session_cookie(&sign_in(&app, "vic@example.com", ATTACKER_PASSWORD).await);

    // Vic gets the confirmation mail and clicks it, signed out: the page asks for the password
    // of the account, which Vic does not know.
    let link = link_for(&smtp, "vic@example.com", "/verify-email").await;
    let (status, page) = app.get_text(&link).await;
    assert_eq!(status, 200);
    assert!(page.contains("Enter the password you chose"), "{page}");
    assert!(page.contains("Did not create an account here?"), "{page}");
    let token = token_of(&link);
    let bare = app
        .post_form("/api/auth/verify_email", &[("token", &token)], None)
        .await;
    assert_eq!(bare.status(), 401);
    assert!(bare.text().await.unwrap().contains("Enter the password"));
    let guess = app
        .post_form(
            "/api/auth/verify_email",
            &[("token", &token), ("password", OWNER_PASSWORD)],
            None,
        )
        .await;
    assert_eq!(guess.status(), 401);
    // A browser is sent back to the same link, asked for the password again.
    let back = app
        .browser_post("/api/auth/verify_email", &[("token", &token)], "")
        .await;
    assert!(back.starts_with("/verify-email?token="), "{back}");
    assert!(back.contains("error=password_needed"), "{back}");

    // Nothing moved: the attacker's account is unproven and holds none of Vic's purchase.
    assert_eq!(account(&app, &attacker).await["email_verified"], false);
    let billing = app.page_as("/billing", &attacker).await;
    assert!(!billing.contains("Lifetime"), "{billing}");

    // Vic takes the address back with a reset: the attacker is out, the purchase is Vic's.
    let vic = reset_by_mail(&app, &smtp, "vic@example.com", true).await;
    assert_eq!(account(&app, &vic).await["email_verified"], true);
    assert_eq!(app.me_with(("cookie", attacker)).await.0, 401);
    assert_eq!(
        sign_in(&app, "vic@example.com", ATTACKER_PASSWORD)
            .await
            .status(),
        401
    );
    let billing = app.page_as("/billing", &vic).await;
    assert!(billing.contains("Lifetime"), "{billing}");
}

async fn an_unproven_supabase_identity_is_detached_when_the_owner_proves_the_email(
    backend: Backend,
) {
    let (app, smtp) = app_with_mail(backend, &supabase(false)).await;
    // The attacker's Supabase user is named vic@example.com, unconfirmed: it makes an account.
    let attacker = uuid::Uuid::new_v4().to_string();
    let (status, me) = me_as(&app, &attacker, "vic@example.com").await;
    assert_eq!(status, 200, "{me}");
    // Vic signs up: the address is taken, so Vic is mailed a link to choose a password, and
    // proves the address by following it.
    assert_eq!(
        app.sign_up("vic@example.com", OWNER_PASSWORD)
            .await
            .status(),
        200
    );
    let vic = reset_by_mail(&app, &smtp, "vic@example.com", false).await;
    assert_eq!(account(&app, &vic).await["email_verified"], true);
    // The attacker's token opens nothing now, on any page.
    let (status, body) = me_as(&app, &attacker, "vic@example.com").await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("detached"),
        "{body}"
    );
    let (status, _) = app
        .entitlements(bearer(&supabase_token(
            &attacker,
            "vic@example.com",
            SUPABASE_SECRET,
        )))
        .await;
    assert_eq!(status, 401);
    assert_eq!(app.rows(Table::Identities).await, 1);
}

async fn a_local_registration_never_blocks_the_owners_supabase_sign_in(backend: Backend) {
    // Unconfirmed Supabase emails: the owner's identity gets an account of its own.
    let (app, _smtp) = app_with_mail(backend, &supabase(false)).await;
    app.sign_up("sue@example.com", ATTACKER_PASSWORD).await;
    let squatter = profiles::find_by_email(&app.state.db, "sue@example.com")
        .await
        .unwrap()
        .unwrap();
    let sue = uuid::Uuid::new_v4().to_string();
    let (status, me) = me_as(&app, &sue, "sue@example.com").await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["id"], sue.as_str());
    assert_ne!(me["id"], squatter.id.to_string().as_str());
    // A proven local account is not handed to an unproven identity either.
    app.proven_member("ann@example.com").await;
    let ann = profiles::find_by_email(&app.state.db, "ann@example.com")
        .await
        .unwrap()
        .unwrap();
    let stranger = uuid::Uuid::new_v4().to_string();
    let (status, me) = me_as(&app, &stranger, "ann@example.com").await;
    assert_eq!(status, 200, "{me}");
    assert_ne!(me["id"], ann.id.to_string().as_str());
    let mine = profiles::find_by_id(&app.state.db, DbUuid(stranger.parse().unwrap()))
        .await
        .unwrap()
        .unwrap();
    assert!(!mine.holds_email && !mine.email_verified());
    drop(app);

    // Confirmed Supabase emails: the owner proves the inbox, so the squatter's unproven
    // account becomes the owner's, without the squatter's password or sessions.
    let (app, _smtp) = app_with_mail(backend, &supabase(true)).await;
    let squatter = app.member("sue@example.com").await;
    let (status, me) = me_as(&app, &sue, "sue@example.com").await;
    assert_eq!(status, 200, "{me}");
    let profile = profiles::find_by_email(&app.state.db, "sue@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(me["id"], profile.id.to_string().as_str());
    assert!(profile.email_verified() && profile.password_hash.is_none());
    assert_eq!(app.me_with(("cookie", squatter)).await.0, 401);
    assert_eq!(
        sign_in(&app, "sue@example.com", ATTACKER_PASSWORD)
            .await
            .status(),
        401
    );
}

async fn sign_out_everywhere_and_a_reset_refuse_earlier_supabase_tokens(backend: Backend) {
    let (app, smtp) = app_with_mail(backend, &supabase(true)).await;
    let sue = uuid::Uuid::new_v4().to_string();
    let now = chrono::Utc::now().timestamp();
    let earlier = supabase_token_issued(&sue, "sue@example.com", SUPABASE_SECRET, now - 5);
    assert_eq!(app.me_with(bearer(&earlier)).await.0, 200);
    let res = app
        .client
        .post(app.url("/api/auth/sign_out_everywhere"))
        .header("accept", "application/json")
        .header("authorization", format!("Bearer {earlier}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (status, body) = app.me_with(bearer(&earlier)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("signed out everywhere"));
    // A token Supabase issues afterwards opens the account again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = supabase_token_issued(
        &sue,
        "sue@example.com",
        SUPABASE_SECRET,
        chrono::Utc::now().timestamp(),
    );
    assert_eq!(app.me_with(bearer(&later)).await.0, 200);
    // A reset refuses it in turn (a second later: tokens carry their issue time in seconds, and
    // one of the same second as the reset still passes).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    reset_by_mail(&app, &smtp, "sue@example.com", true).await;
    assert_eq!(app.me_with(bearer(&later)).await.0, 401);
}
