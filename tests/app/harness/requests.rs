//! `TestApp`'s requests to the app as a browser or a script makes them: pages, forms, JSON, and
//! the accounts tests need (sign-up, sign-in, proven emails, tokens).

use reqwest::header::{ACCEPT, COOKIE, ORIGIN};
use serde_json::Value;

use super::TestApp;

impl TestApp {
    // ---- Pages and forms ----
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// A GET with one header (a cookie, a Bearer token): the status and the JSON body.
    pub async fn get_json(&self, path: &str, header: (&str, String)) -> (u16, Value) {
        let res = self
            .client
            .get(self.url(path))
            .header(header.0, header.1)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_text(&self, path: &str) -> (u16, String) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        (status, res.text().await.expect("body"))
    }

    /// A GET from the client `forwarded_for` names (the app must trust 127.0.0.1 as its proxy),
    /// as whoever holds `cookie` if any: the status, `Retry-After` and the body.
    pub async fn get_from(
        &self,
        path: &str,
        cookie: Option<&str>,
        forwarded_for: &str,
    ) -> (u16, Option<String>, String) {
        let mut req = self
            .client
            .get(self.url(path))
            .header("x-forwarded-for", forwarded_for);
        if let Some(cookie) = cookie {
            req = req.header(COOKIE, cookie);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let retry_after = res
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap().to_string());
        (status, retry_after, res.text().await.expect("body"))
    }

    /// GET as whoever holds the session `cookie` (`name=value`) and return the body.
    pub async fn page_as(&self, path: &str, cookie: &str) -> String {
        let res = self
            .client
            .get(self.url(path))
            .header("cookie", cookie)
            .send()
            .await
            .expect("request");
        res.text().await.expect("body")
    }

    pub async fn page(&self, path: &str, cookie: &str) -> String {
        let res = self
            .client
            .get(self.url(path))
            .header(COOKIE, cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
        res.text().await.unwrap()
    }

    /// A plain HTML form post (no JavaScript): returns the redirect's target.
    pub async fn browser_post(&self, path: &str, form: &[(&str, &str)], cookie: &str) -> String {
        let res = self
            .client
            .post(self.url(path))
            .header(ACCEPT, "text/html")
            .header(ORIGIN, &self.base)
            .header(COOKIE, cookie)
            .form(form)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_redirection(), "{path}: {}", res.status());
        res.headers()["location"].to_str().unwrap().to_string()
    }

    /// Posts a form to a server function as `fetch` would (JSON answers, no redirect).
    pub async fn post_form(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        cookie: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url(path))
            .header("accept", "application/json")
            .header("origin", &self.base)
            .form(fields);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send().await.unwrap()
    }

    // ---- Accounts ----
    pub async fn sign_up(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_form(
            "/api/auth/sign_up",
            &[("email", email), ("password", password)],
            None,
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_form(
            "/api/auth/sign_in",
            &[("email", email), ("password", password)],
            None,
        )
        .await
    }

    pub async fn me_with(&self, header: (&str, String)) -> (u16, Value) {
        self.get_json("/api/me", header).await
    }

    /// Signs up, then signs in with the password (the account's email stays unproven);
    /// returns the session cookie.
    pub async fn member(&self, email: &str) -> String {
        let fields = [("email", email), ("password", "correct horse battery")];
        let res = self.post_form("/api/auth/sign_up", &fields, None).await;
        assert!(res.status().is_success(), "sign-up: {}", res.status());
        let res = self.post_form("/api/auth/sign_in", &fields, None).await;
        assert!(res.status().is_success(), "sign-in: {}", res.status());
        session_cookie(&res)
    }

    /// A member whose email counts as proven, as following the mailed link makes it (the link
    /// itself is tested in `identity`); returns the session cookie.
    pub async fn proven_member(&self, email: &str) -> String {
        let cookie = self.member(email).await;
        self.prove(email).await;
        cookie
    }

    /// What following a verification link does to the profile with `email`.
    pub async fn prove(&self, email: &str) {
        use landing::server::db::profiles;
        let profile = profiles::find_by_email(&self.state.db, email)
            .await
            .unwrap()
            .expect("a profile with that email");
        let mut tx = self.state.db.begin().await.unwrap();
        assert!(profiles::mark_verified(&mut tx, profile.id, email)
            .await
            .unwrap());
        let parsed = landing::server::auth::email::Email::parse(email).unwrap();
        landing::server::billing::sync::claim_email(&mut tx, profile.id, &parsed)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    pub fn token_for(&self, id: landing::server::db::DbUuid, email: &str) -> String {
        self.state.sessions.issue_unstored(id, email)
    }

    pub async fn sign_in_from(&self, forwarded_for: &str, email: &str, password: &str) -> u16 {
        self.client
            .post(self.url("/api/auth/sign_in"))
            .header("accept", "application/json")
            .header("origin", &self.base)
            .header("x-forwarded-for", forwarded_for)
            .form(&[("email", email), ("password", password)])
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

/// The session cookie (`landing_session=…`) a response sets.
pub fn session_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("landing_session="))
        .map(|v| v.split(';').next().unwrap().to_string())
        .expect("session cookie")
}

/// An answer as the tests read it: its status, its `Retry-After` and its JSON body (null when it
/// has none).
pub async fn answer_of(res: reqwest::Response) -> (u16, Option<String>, serde_json::Value) {
    let status = res.status().as_u16();
    let retry_after = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .map(|v| v.to_str().unwrap().to_string());
    (
        status,
        retry_after,
        res.json().await.unwrap_or(serde_json::Value::Null),
    )
}
