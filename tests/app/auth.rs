//! Accounts: sign-up, sign-in, sign-out, the rules that refuse, the limits (tokens are in
//! `tokens`).

use landing::server::db::Table;
use reqwest::header::{ACCEPT, COOKIE, ORIGIN, SET_COOKIE};
use serde_json::Value;

use crate::harness::{on_both_databases, session_cookie, Backend, TestApp};

on_both_databases!(
    signing_up_says_check_your_inbox_and_signing_in_shows_your_email,
    a_taken_email_gets_the_same_answer_as_a_new_one_whatever_its_case,
    a_wrong_password_and_an_unknown_email_get_the_same_answer,
    weak_passwords_and_bad_emails_are_refused_and_nothing_is_stored,
    a_browser_form_that_fails_goes_back_to_the_form_with_the_reason,
    signing_out_ends_the_session_and_a_copied_token_stops_working,
);

const PASSWORD: &str = "correct horse battery";

fn message(body: &Value) -> String {
    body.as_object()
        .and_then(|o| o.values().next())
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

async fn signing_up_says_check_your_inbox_and_signing_in_shows_your_email(app: TestApp) {
    let res = app.sign_up("ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers().get(SET_COOKIE).is_none(),
        "signing up signs nobody in"
    );
    assert!(res.text().await.unwrap().contains("Check your inbox"));

    let res = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let raw = res.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        raw.contains("HttpOnly") && raw.contains("SameSite=Lax") && raw.contains("Max-Age=86400")
    );
    assert!(!raw.contains("Secure"), "the test site is http");
    let cookie = session_cookie(&res);

    let html = app
        .client
        .get(app.url("/pricing"))
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("<strong>ada@example.com</strong>"), "{html}");
    let (status, me) = app.me_with(("cookie", cookie.clone())).await;
    assert_eq!(
        (status, me["email"].as_str()),
        (200, Some("ada@example.com"))
    );
    let token = cookie.trim_start_matches("landing_session=").to_string();
    let (status, _) = app
        .me_with(("authorization", format!("Bearer {token}")))
        .await;
    assert_eq!(status, 200, "the same token works as a Bearer token");
}

async fn a_taken_email_gets_the_same_answer_as_a_new_one_whatever_its_case(app: TestApp) {
    let first = app.sign_up("Ada@Example.com", PASSWORD).await;
    let second = app
        .sign_up("ADA@example.COM", "another good password")
        .await;
    assert_eq!(first.status(), second.status());
    assert!(second.headers().get(SET_COOKIE).is_none());
    assert_eq!(first.text().await.unwrap(), second.text().await.unwrap());
    assert_eq!(app.sign_in("aDa@eXample.com", PASSWORD).await.status(), 200);
    assert_eq!(
        app.sign_in("ada@example.com", "another good password")
            .await
            .status(),
        401,
        "the second sign-up changed nothing"
    );
    assert_eq!(app.state.db.count_rows(Table::Profiles).await.unwrap(), 1);
}

async fn a_wrong_password_and_an_unknown_email_get_the_same_answer(app: TestApp) {
    app.sign_up("ada@example.com", PASSWORD).await;
    let wrong = app.sign_in("ada@example.com", "not the password").await;
    let unknown = app.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    let (a, b): (Value, Value) = (wrong.json().await.unwrap(), unknown.json().await.unwrap());
    assert_eq!(a, b);
    assert_eq!(message(&a), "The email or password is incorrect.");
}

async fn weak_passwords_and_bad_emails_are_refused_and_nothing_is_stored(app: TestApp) {
    for (email, password) in [
        ("ada@example.com", "short"),
        ("ada@example.com", "password123"),
        ("ada@example.com", "ada@example.com"),
        ("not-an-email", PASSWORD),
        ("", PASSWORD),
    ] {
        let res = app.sign_up(email, password).await;
        assert_eq!(res.status(), 400, "{email} / {password}");
        assert!(res.headers().get(SET_COOKIE).is_none());
    }
    assert_eq!(app.state.db.count_rows(Table::Profiles).await.unwrap(), 0);
}

async fn a_browser_form_that_fails_goes_back_to_the_form_with_the_reason(app: TestApp) {
    let res = app
        .client
        .post(app.url("/api/auth/sign_in"))
        .header(ACCEPT, "text/html")
        .header(ORIGIN, &app.base)
        .form(&[
            ("email", "ada@example.com"),
            ("password", "wrong password!"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        location,
        "/sign-in?error=wrong_credentials&email=ada%40example.com"
    );
    let (status, html) = app.get_text(&location).await;
    assert_eq!(status, 200);
    assert!(html.contains("The email or password is incorrect."));
    assert!(
        html.contains(r#"value="ada@example.com""#),
        "the email is kept"
    );
}

async fn signing_out_ends_the_session_and_a_copied_token_stops_working(app: TestApp) {
    let cookie = app.member("ada@example.com").await;
    let (status, _) = app.me_with(("cookie", cookie.clone())).await;
    assert_eq!(status, 200);
    let res = app
        .post_form("/api/auth/sign_out", &[], Some(&cookie))
        .await;
    assert_eq!(res.status(), 200);
    let set = res.headers()[SET_COOKIE].to_str().unwrap();
    assert!(
        set.starts_with("landing_session=;") && set.contains("Max-Age=0"),
        "{set}"
    );
    // A copy of the old cookie, or its token as a Bearer, no longer opens anything.
    let (status, _) = app.me_with(("cookie", cookie.clone())).await;
    assert_eq!(status, 401);
    let token = cookie.trim_start_matches("landing_session=").to_string();
    let (status, body) = app
        .me_with(("authorization", format!("Bearer {token}")))
        .await;
    assert_eq!(status, 401);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("session has ended"));
    let page = app.page_as("/pricing", &cookie).await;
    assert!(!page.contains("Signed in as"), "{page}");
}

#[tokio::test]
async fn too_many_failed_sign_ins_for_one_email_are_refused_with_429() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.sign_up("ada@example.com", PASSWORD).await;
    for _ in 0..5 {
        assert_eq!(
            app.sign_in("ada@example.com", "wrong password!")
                .await
                .status(),
            401
        );
    }
    let res = app.sign_in("ada@example.com", PASSWORD).await;
    assert_eq!(res.status(), 429, "even the right password waits");
    assert!(message(&res.json().await.unwrap()).contains("Too many attempts"));
    assert_eq!(
        app.sign_in("other@example.com", "wrong password!")
            .await
            .status(),
        401,
        "other emails are not blocked"
    );
}

#[tokio::test]
async fn too_many_sign_ins_from_one_client_are_refused_with_429() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for i in 0..30 {
        let res = app
            .sign_in(&format!("u{i}@example.com"), "wrong password!")
            .await;
        assert_eq!(res.status(), 401, "attempt {i}");
    }
    assert_eq!(
        app.sign_in("u99@example.com", "wrong password!")
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn state_changing_requests_from_another_origin_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let cookie = app.member("ada@example.com").await;
    let post = |origin: Option<&str>, referer: Option<&str>, cookie: Option<&str>| {
        let mut req = app
            .client
            .post(app.url("/api/auth/sign_out"))
            .header(ACCEPT, "application/json");
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        if let Some(r) = referer {
            req = req.header("referer", r);
        }
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send()
    };
    let evil = post(Some("https://evil.example"), None, Some(&cookie))
        .await
        .unwrap();
    assert_eq!(evil.status(), 403);
    assert!(evil.headers().get(SET_COOKIE).is_none(), "nothing changed");
    assert_eq!(
        post(None, None, Some(&cookie)).await.unwrap().status(),
        403,
        "a cookie needs a same-origin referer"
    );
    assert_eq!(
        post(None, Some("https://evil.example/x"), Some(&cookie))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        post(None, Some(&format!("{}/pricing", app.base)), Some(&cookie))
            .await
            .unwrap()
            .status(),
        200
    );
    // A browser that says the request comes from another site, or a sibling host
    // (`Sec-Fetch-Site`), is refused even with our own Origin; a same-origin one passes.
    let fetched = |site: &'static str| {
        app.client
            .post(app.url("/api/auth/sign_out"))
            .header(ACCEPT, "application/json")
            .header(ORIGIN, &app.base)
            .header("sec-fetch-site", site)
            .header(COOKIE, &cookie)
            .send()
    };
    for foreign in ["cross-site", "same-site"] {
        assert_eq!(fetched(foreign).await.unwrap().status(), 403, "{foreign}");
    }
    assert_eq!(fetched("same-origin").await.unwrap().status(), 200);
    let cookie = app.member("bob@example.com").await;
    assert_eq!(
        post(Some(&app.base), None, Some(&cookie))
            .await
            .unwrap()
            .status(),
        200
    );
    // Signing in from another site (login CSRF) is refused too.
    let res = app
        .client
        .post(app.url("/api/auth/sign_in"))
        .header(ORIGIN, "https://evil.example")
        .form(&[("email", "ada@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}
