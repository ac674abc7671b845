//! Accounts: sign-up, sign-in, tokens (ours and Supabase's), the rules that refuse, the limits.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use landing::server::db::{profiles, Table};
use reqwest::header::{ACCEPT, COOKIE, ORIGIN, SET_COOKIE};
use serde_json::{json, Value};

use crate::support::{on_both_databases, Backend, TestApp, JWT_SECRET};

on_both_databases!(
    signing_up_says_check_your_inbox_and_signing_in_shows_your_email,
    a_taken_email_gets_the_same_answer_as_a_new_one_whatever_its_case,
    a_wrong_password_and_an_unknown_email_get_the_same_answer,
    weak_passwords_and_bad_emails_are_refused_and_nothing_is_stored,
    a_browser_form_that_fails_goes_back_to_the_form_with_the_reason,
    every_kind_of_bad_token_is_refused_with_401_and_changes_nothing,
    signing_out_ends_the_session_and_a_copied_token_stops_working,
);

on_both_databases!(
    backend;
    a_supabase_token_is_accepted_only_with_supabases_own_key_and_its_profile_made_once,
);

const PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// Posts a form to a server function as `fetch` would (JSON answers, no redirect).
    async fn post_fn(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> reqwest::Response {
        self.post_form(path, fields, cookie).await
    }

    async fn sign_up(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_fn(
            "/api/auth/sign_up",
            &[("email", email), ("password", password)],
            None,
        )
        .await
    }

    async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_fn(
            "/api/auth/sign_in",
            &[("email", email), ("password", password)],
            None,
        )
        .await
    }

    async fn me_with(&self, header: (&str, String)) -> (u16, Value) {
        self.get_json("/api/me", header).await
    }
}

/// `landing_session=…` from a response's Set-Cookie.
fn session_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("landing_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("a session cookie")
}

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

fn mint(claims: Value, alg: Algorithm, secret: &str) -> String {
    encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn b64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn supabase_claims(sub: &str, email: &str, exp_offset: i64) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({ "sub": sub, "email": email, "role": "authenticated", "aud": "authenticated", "iat": now, "exp": now + exp_offset })
}

async fn every_kind_of_bad_token_is_refused_with_401_and_changes_nothing(app: TestApp) {
    let sub = uuid::Uuid::new_v4().to_string();
    let good = supabase_claims(&sub, "eve@example.com", 3600);
    let none_token = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(good.to_string().as_bytes())
    );
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("anon");
    let mut no_sub = good.clone();
    no_sub.as_object_mut().unwrap().remove("sub");
    let cases = [
        ("alg none", none_token),
        ("HS512", mint(good.clone(), Algorithm::HS512, JWT_SECRET)),
        (
            "bad signature",
            mint(
                good.clone(),
                Algorithm::HS256,
                "some-other-secret-0123456789abcdef",
            ),
        ),
        (
            "expired",
            mint(
                supabase_claims(&sub, "eve@example.com", -60),
                Algorithm::HS256,
                JWT_SECRET,
            ),
        ),
        ("wrong aud", mint(wrong_aud, Algorithm::HS256, JWT_SECRET)),
        ("missing sub", mint(no_sub, Algorithm::HS256, JWT_SECRET)),
        (
            "sub not a uuid",
            mint(
                supabase_claims("user-1", "eve@example.com", 3600),
                Algorithm::HS256,
                JWT_SECRET,
            ),
        ),
        ("malformed", "abc.def".to_string()),
        ("empty", String::new()),
    ];
    for (name, token) in cases {
        let (status, body) = app
            .me_with(("authorization", format!("Bearer {token}")))
            .await;
        assert_eq!(status, 401, "{name}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .starts_with("Not signed in"),
            "{name}: {body}"
        );
    }
    assert_eq!(app.state.db.count_rows(Table::Profiles).await.unwrap(), 0);
    let (status, body) = app.me_with(("x-nothing", String::new())).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("Not signed in"))
    );
}

async fn signing_out_ends_the_session_and_a_copied_token_stops_working(app: TestApp) {
    let cookie = app.member("ada@example.com").await;
    let (status, _) = app.me_with(("cookie", cookie.clone())).await;
    assert_eq!(status, 200);
    let res = app.post_fn("/api/auth/sign_out", &[], Some(&cookie)).await;
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

/// Claims of our own session token, minted by hand (as `jwt::Signer` would, at `iat`).
fn our_claims(site: &str, sub: &str, sid: &str, iat: i64, lifetime: i64) -> Value {
    json!({ "iss": site, "sub": sub, "sid": sid, "email": "ada@example.com", "role": "authenticated",
            "aud": "authenticated", "iat": iat, "nbf": iat, "exp": iat + lifetime })
}

#[tokio::test]
async fn a_half_spent_cookie_is_reissued_and_an_https_site_sets_secure_cookies() {
    let site = "https://shop.example.com";
    let app = TestApp::spawn_with(Backend::Sqlite, &[("SITE_URL", site)]).await;
    let user = profiles::insert(&app.state.db, "ada@example.com", None)
        .await
        .unwrap();
    let sub = user.id.to_string();
    let now = chrono::Utc::now().timestamp();
    let old = our_claims(site, &sub, "s-old", now - 20 * 3600, 24 * 3600);
    let token = mint(old, Algorithm::HS256, JWT_SECRET);
    let res = app
        .client
        .get(app.url("/pricing"))
        .header(COOKIE, format!("landing_session={token}"))
        .send()
        .await
        .unwrap();
    let set = res
        .headers()
        .get(SET_COOKIE)
        .expect("a fresh cookie")
        .to_str()
        .unwrap()
        .to_string();
    assert!(set.contains("Secure"), "{set}");
    assert_ne!(
        set.split(';').next().unwrap(),
        format!("landing_session={token}")
    );

    let fresh = mint(
        our_claims(site, &sub, "s-fresh", now - 3600, 24 * 3600),
        Algorithm::HS256,
        JWT_SECRET,
    );
    let res = app
        .client
        .get(app.url("/pricing"))
        .header(COOKIE, format!("landing_session={fresh}"))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().get(SET_COOKIE).is_none(),
        "a fresh token is left alone"
    );
}

#[tokio::test]
async fn tokens_of_another_issuer_not_yet_valid_or_without_a_session_are_refused() {
    let site = "https://shop.example.com";
    let app = TestApp::spawn_with(Backend::Sqlite, &[("SITE_URL", site)]).await;
    let user = profiles::insert(&app.state.db, "ada@example.com", None)
        .await
        .unwrap();
    let sub = user.id.to_string();
    let now = chrono::Utc::now().timestamp();
    let good = our_claims(site, &sub, "s1", now, 3600);
    let mut elsewhere = good.clone();
    elsewhere["iss"] = json!("https://evil.example");
    let mut future = good.clone();
    future["nbf"] = json!(now + 600);
    let mut no_sid = good.clone();
    no_sid.as_object_mut().unwrap().remove("sid");
    let mut no_iss = good.clone();
    no_iss.as_object_mut().unwrap().remove("iss");
    let (status, _) = app
        .me_with((
            "authorization",
            format!("Bearer {}", mint(good, Algorithm::HS256, JWT_SECRET)),
        ))
        .await;
    assert_eq!(status, 200, "the hand-minted token is otherwise good");
    for (name, claims) in [
        ("another issuer", elsewhere),
        ("nbf in the future", future),
        ("no session", no_sid),
        ("no issuer", no_iss),
    ] {
        let token = mint(claims, Algorithm::HS256, JWT_SECRET);
        let (status, body) = app
            .me_with(("authorization", format!("Bearer {token}")))
            .await;
        assert_eq!(status, 401, "{name}: {body}");
        // As a cookie it means signed out, and is never renewed.
        let res = app
            .client
            .get(app.url("/pricing"))
            .header(COOKIE, format!("landing_session={token}"))
            .send()
            .await
            .unwrap();
        assert!(res.headers().get(SET_COOKIE).is_none(), "{name}");
    }
}

const SUPABASE_URL: &str = "https://abcd.supabase.co";
const SUPABASE_SECRET: &str = "supabase-legacy-secret-0123456789abcdef";

fn supabase_token(sub: &str, email: &str, secret: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "iss": format!("{SUPABASE_URL}/auth/v1"), "sub": sub, "email": email,
        "role": "authenticated", "aud": "authenticated", "iat": now - 2, "exp": now + 3600,
        "session_id": uuid::Uuid::new_v4().to_string(), "is_anonymous": false });
    mint(claims, Algorithm::HS256, secret)
}

async fn a_supabase_token_is_accepted_only_with_supabases_own_key_and_its_profile_made_once(
    backend: Backend,
) {
    let sub = uuid::Uuid::new_v4().to_string();
    // Not configured: refused, even when signed with our own secret (no shared key any more).
    let plain = TestApp::spawn(backend).await;
    for secret in [SUPABASE_SECRET, JWT_SECRET] {
        let token = supabase_token(&sub, "sue@example.com", secret);
        let (status, _) = plain
            .me_with(("authorization", format!("Bearer {token}")))
            .await;
        assert_eq!(status, 401);
    }
    drop(plain);

    let app = TestApp::spawn_with(
        backend,
        &[
            ("SUPABASE_URL", SUPABASE_URL),
            ("SUPABASE_JWT_SECRET", SUPABASE_SECRET),
        ],
    )
    .await;
    let token = supabase_token(&sub, "Sue@Example.com", SUPABASE_SECRET);
    for _ in 0..2 {
        let (status, me) = app
            .me_with(("authorization", format!("Bearer {token}")))
            .await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["id"], sub.as_str());
        assert_eq!(me["email"], "sue@example.com");
    }
    assert_eq!(app.state.db.count_rows(Table::Profiles).await.unwrap(), 1);
    let profile = profiles::find_by_email(&app.state.db, "sue@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(profile.password_hash.is_none());
    assert!(
        !profile.email_verified(),
        "Supabase's own claims cannot prove an email (users can write them)"
    );
    // Our secret, a wrong issuer or an anonymous user: refused.
    let ours = supabase_token(&sub, "sue@example.com", JWT_SECRET);
    let now = chrono::Utc::now().timestamp();
    let anonymous = mint(
        json!({ "iss": format!("{SUPABASE_URL}/auth/v1"), "sub": uuid::Uuid::new_v4().to_string(),
            "email": "anon@example.com", "aud": "authenticated", "iat": now, "exp": now + 60,
            "is_anonymous": true }),
        Algorithm::HS256,
        SUPABASE_SECRET,
    );
    let elsewhere = mint(
        json!({ "iss": "https://other.supabase.co/auth/v1", "sub": uuid::Uuid::new_v4().to_string(),
            "email": "x@example.com", "aud": "authenticated", "iat": now, "exp": now + 60 }),
        Algorithm::HS256,
        SUPABASE_SECRET,
    );
    for (name, token) in [
        ("our secret", ours),
        ("anonymous", anonymous),
        ("issuer", elsewhere),
    ] {
        let (status, body) = app
            .me_with(("authorization", format!("Bearer {token}")))
            .await;
        assert_eq!(status, 401, "{name}: {body}");
    }
    assert_eq!(app.state.db.count_rows(Table::Profiles).await.unwrap(), 1);

    // With SUPABASE_EMAILS_CONFIRMED the operator vouches for the project's emails.
    let vouched = TestApp::spawn_with(
        backend,
        &[
            ("SUPABASE_URL", SUPABASE_URL),
            ("SUPABASE_JWT_SECRET", SUPABASE_SECRET),
            ("SUPABASE_EMAILS_CONFIRMED", "true"),
        ],
    )
    .await;
    let (status, _) = vouched
        .me_with(("authorization", format!("Bearer {token}")))
        .await;
    assert_eq!(status, 200);
    let profile = profiles::find_by_email(&vouched.state.db, "sue@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(profile.email_verified());
}
