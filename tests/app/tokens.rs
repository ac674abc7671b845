//! Tokens: every kind of bad one refused, ours reissued when half spent and refused from another
//! issuer or session, and Supabase's accepted only with its own key.

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use landing::server::db::{profiles, Table};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{json, Value};

use crate::harness::{on_both_databases, Backend, TestApp, JWT_SECRET};

on_both_databases!(every_kind_of_bad_token_is_refused_with_401_and_changes_nothing,);

on_both_databases!(
    backend;
    a_supabase_token_is_accepted_only_with_supabases_own_key_and_its_profile_made_once,
);

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
        .header(COOKIE, format!("__Host-landing_session={token}"))
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
    // On https the cookie is `__Host-`: Secure, the whole site, no Domain.
    assert!(set.starts_with("__Host-landing_session="), "{set}");
    assert!(
        set.contains("; Path=/;") && !set.contains("Domain"),
        "{set}"
    );
    // A cookie without the prefix is not ours there: signed out, never renewed.
    let unprefixed = app
        .client
        .get(app.url("/api/me"))
        .header(COOKIE, format!("landing_session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(unprefixed.status(), 401);
    assert!(unprefixed.headers().get(SET_COOKIE).is_none());
    assert_ne!(
        set.split(';').next().unwrap(),
        format!("__Host-landing_session={token}")
    );

    let fresh = mint(
        our_claims(site, &sub, "s-fresh", now - 3600, 24 * 3600),
        Algorithm::HS256,
        JWT_SECRET,
    );
    let res = app
        .client
        .get(app.url("/pricing"))
        .header(COOKIE, format!("__Host-landing_session={fresh}"))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers().get(SET_COOKIE).is_none(),
        "a fresh token is left alone"
    );
}

/// A stolen cookie used once a day is renewed a day at a time, but never past the session's
/// absolute lifetime (`SESSION_MAX_DAYS`): its holder signs in again.
#[tokio::test]
async fn a_session_is_not_renewed_past_its_absolute_lifetime() {
    let app = TestApp::spawn_with(Backend::Sqlite, &[("SESSION_MAX_DAYS", "30")]).await;
    let user = profiles::insert(&app.state.db, "ada@example.com", None)
        .await
        .unwrap();
    let sub = user.id.to_string();
    let now = chrono::Utc::now().timestamp();
    let day = 24 * 3600;
    let renewed = |signed_in_days_ago: i64| {
        let mut claims = our_claims(&app.base, &sub, "s-1", now - 20 * 3600, day);
        claims["auth_time"] = json!(now - signed_in_days_ago * day);
        let token = mint(claims, Algorithm::HS256, JWT_SECRET);
        let client = app.client.clone();
        let url = app.url("/pricing");
        async move {
            let res = client
                .get(url)
                .header(COOKIE, format!("landing_session={token}"))
                .send()
                .await
                .unwrap();
            res.headers()
                .get(SET_COOKIE)
                .map(|v| v.to_str().unwrap().to_string())
        }
    };
    // Signed in three days ago: renewed for another day.
    let set = renewed(3).await.expect("renewed");
    assert!(set.contains("Max-Age="), "{set}");
    // Signed in 31 days ago: the token lives out its last hours, and is not renewed.
    assert_eq!(renewed(31).await, None);
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
            .header(COOKIE, format!("__Host-landing_session={token}"))
            .send()
            .await
            .unwrap();
        assert!(res.headers().get(SET_COOKIE).is_none(), "{name}");
    }
}

pub const SUPABASE_URL: &str = "https://abcd.supabase.co";

pub const SUPABASE_SECRET: &str = "supabase-legacy-secret-0123456789abcdef";

pub fn supabase_token(sub: &str, email: &str, secret: &str) -> String {
    supabase_token_issued(sub, email, secret, chrono::Utc::now().timestamp() - 2)
}

/// A Supabase access token issued at `iat` (unix seconds).
pub fn supabase_token_issued(sub: &str, email: &str, secret: &str, iat: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({ "iss": format!("{SUPABASE_URL}/auth/v1"), "sub": sub, "email": email,
        "role": "authenticated", "aud": "authenticated", "iat": iat, "exp": now + 3600,
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
