//! Who is asking: the session token from the `Authorization: Bearer` header (API clients) or the
//! HttpOnly cookie (browsers), the extractors that server functions and axum routes share, and
//! the two middlewares around every request (same-origin check, token refresh).

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, ORIGIN, REFERER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::jwt::{self, TokenError};
use super::sessions::Sessions;
use crate::model::auth::Me;
use crate::model::error::AppError;
use crate::server::config::Config;
use crate::server::db::{profiles, DbError, DbUuid};
use crate::server::error::ServerError;
use crate::server::state::AppState;

/// The session cookie's name on an http site (development, the tests).
pub const COOKIE_NAME: &str = "landing_session";
/// Its name on an https site: a browser keeps a `__Host-` cookie only when it is set Secure, for
/// the whole site (`Path=/`) and with no `Domain`, so no other host (a sibling subdomain, a
/// network attacker on plain http) can plant one or shadow ours.
pub const SECURE_COOKIE_NAME: &str = "__Host-landing_session";

/// The session cookie's name for a site that is (or is not) served over https.
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_COOKIE_NAME
    } else {
        COOKIE_NAME
    }
}

/// The Stripe webhook is authenticated by its signature, not by origin.
const ORIGIN_EXEMPT: &[&str] = &["/api/stripe/webhook"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    pub id: DbUuid,
    pub email: String,
    /// Whether the owner has proven the email: until then nothing is found for them by it.
    pub email_verified: bool,
    /// The Supabase user (`sub`) whose token this request came with, if it did.
    pub supabase_subject: Option<String>,
}

/// A signed-in user, or nobody; a bad Bearer token is still refused.
#[derive(Clone, Debug)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

/// A refusal in the JSON shape the API keeps (README, "Compatible with the Next.js integration"): `{"error": "…"}` with the status.
#[derive(Debug)]
pub struct AuthRejection(pub AppError);

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

enum Presented {
    Bearer(String),
    Cookie(String),
}

/// The session cookie's value, under the one name this site uses (`cookie_name`): on https a
/// cookie without the `__Host-` prefix is not ours.
fn cookie_token(headers: &HeaderMap, secure: bool) -> Option<String> {
    let wanted = cookie_name(secure);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

fn presented(sessions: &Sessions, headers: &HeaderMap) -> Option<Presented> {
    if let Some(auth) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let token = auth
            .strip_prefix("Bearer ")
            .or_else(|| auth.strip_prefix("bearer "))
            .unwrap_or("")
            .trim();
        return Some(Presented::Bearer(token.to_string()));
    }
    cookie_token(headers, sessions.secure()).map(Presented::Cookie)
}

/// Resolves the request's identity. A cookie that no longer verifies (expired, revoked, old
/// secret) means signed out; a bad Bearer token is an error the client must see.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<AuthUser>, AuthRejection> {
    let (token, is_bearer) = match presented(&state.sessions, headers) {
        None => return Ok(None),
        Some(Presented::Bearer(t)) => (t, true),
        Some(Presented::Cookie(t)) => (t, false),
    };
    let id = match state.sessions.verify(&token) {
        Ok((_, id)) => id,
        // Not ours: a Bearer token may be a Supabase user's, when Supabase is configured.
        Err(e) if is_bearer && e != TokenError::Revoked => {
            return match &state.supabase {
                Some(supabase) => match supabase.verify(&token).await {
                    Ok(identity) => super::identities::account_of(state, &identity)
                        .await
                        .map(|p| {
                            Some(AuthUser {
                                id: p.id,
                                email_verified: p.email_verified(),
                                email: p.email,
                                supabase_subject: Some(identity.id.to_string()),
                            })
                        })
                        .map_err(AuthRejection),
                    Err(e) => Err(AuthRejection(AppError::Unauthorized(format!(
                        "Not signed in: {e}."
                    )))),
                },
                None => Err(reject(e)),
            };
        }
        Err(e) if is_bearer => return Err(reject(e)),
        Err(_) => return Ok(None),
    };
    let profile = profiles::find_by_id(&state.db, id)
        .await
        .map_err(internal)?;
    match profile {
        Some(p) => Ok(Some(AuthUser {
            id: p.id,
            email_verified: p.email_verified(),
            email: p.email,
            supabase_subject: None,
        })),
        // The account was deleted: its tokens name nobody.
        None if is_bearer => Err(reject(TokenError::MissingSubject)),
        None => Ok(None),
    }
}

fn reject(e: TokenError) -> AuthRejection {
    AuthRejection(AppError::Unauthorized(format!("Not signed in: {e}.")))
}

fn internal(e: DbError) -> AuthRejection {
    ServerError::db("authenticate a request", e).log();
    AuthRejection(AppError::Internal)
}

impl<S> FromRequestParts<S> for MaybeAuthUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        authenticate(&state, &parts.headers)
            .await
            .map(MaybeAuthUser)
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let MaybeAuthUser(user) = MaybeAuthUser::from_request_parts(parts, state).await?;
        // The words the Next.js integration's clients expect.
        user.ok_or_else(|| AuthRejection(AppError::Unauthorized("Not signed in".into())))
    }
}

/// Whose token this request carries (Bearer or cookie), from its verified claims alone: for
/// read-only marks on a page, where a database round trip to load the profile buys nothing.
pub fn token_subject(sessions: &Sessions, headers: &HeaderMap) -> Option<DbUuid> {
    let token = match presented(sessions, headers)? {
        Presented::Bearer(t) | Presented::Cookie(t) => t,
    };
    sessions.verify(&token).ok().map(|(_, id)| id)
}

/// The identity shown in page headers: from the cookie's claims alone, no database round trip.
pub fn me_from_headers(sessions: &Sessions, headers: &HeaderMap) -> Option<Me> {
    let (claims, id) = cookie_claims(sessions, headers)?;
    Some(Me {
        id: id.to_string(),
        email: claims.email?,
    })
}

/// The session cookie's claims, verified and not revoked; `None` when there is no cookie or it
/// does not verify.
pub fn cookie_claims(sessions: &Sessions, headers: &HeaderMap) -> Option<(jwt::Claims, DbUuid)> {
    sessions
        .verify(&cookie_token(headers, sessions.secure())?)
        .ok()
}

/// Past half its life, a session is renewed by the next response (see `refresh_session`).
pub fn renewal_due(claims: &jwt::Claims) -> bool {
    claims.exp - jwt::now() < jwt::LIFETIME / 2
}

/// `Set-Cookie` for a session token: HttpOnly, SameSite=Lax, and on https Secure under the
/// `__Host-` name.
pub fn session_cookie(token: &str, secure: bool) -> HeaderValue {
    let value = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        cookie_name(secure),
        jwt::LIFETIME,
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).expect("a JWT is a valid header value")
}

pub fn clear_cookie(secure: bool) -> HeaderValue {
    let value = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        cookie_name(secure),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).expect("static header value")
}

/// Re-issues the cookie's token once half its life is spent, so active people stay signed in
/// while a stolen token still dies within a day. A revoked or expired token is never renewed:
/// it does not get past `cookie_claims`.
pub async fn refresh_session(
    State(sessions): State<Arc<Sessions>>,
    State(config): State<Arc<Config>>,
    request: Request,
    next: Next,
) -> Response {
    let renewal = cookie_claims(&sessions, request.headers())
        .filter(|(claims, _)| renewal_due(claims))
        .and_then(|(claims, id)| sessions.renew(&claims, id));
    let mut response = next.run(request).await;
    // A response that sets the cookie itself (sign-in, sign-out) wins.
    if let Some(token) = renewal {
        if !response.headers().contains_key(SET_COOKIE) {
            response.headers_mut().append(
                SET_COOKIE,
                session_cookie(&token, config.site_url.is_https()),
            );
        }
    }
    response
}

/// State-changing requests from a browser must come from our own origin (CSRF). A request with
/// a foreign `Origin` is refused; one with no `Origin` that carries our cookie must show a
/// same-origin `Referer`. Clients without cookies (API calls with Bearer tokens, curl) pass.
pub async fn same_origin(
    State(config): State<Arc<Config>>,
    request: Request,
    next: Next,
) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe || ORIGIN_EXEMPT.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let site = config.site_url.origin();
    let headers = request.headers();
    // Where the browser says the request comes from, when it says (`Sec-Fetch-Site`): another
    // site, or a sibling host of ours, is refused whatever its `Origin`.
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let foreign_fetch = matches!(fetch_site, Some("cross-site" | "same-site"));
    let allowed = !foreign_fetch
        && match headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
            Some(origin) => origin == site,
            None if cookie_token(headers, config.site_url.is_https()).is_some() => headers
                .get(REFERER)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|r| r == site || r.starts_with(&format!("{site}/"))),
            None => true,
        };
    if allowed {
        next.run(request).await
    } else {
        tracing::warn!(path = %request.uri().path(), "cross-site request refused");
        AuthRejection(AppError::Forbidden(
            "Cross-site request refused: it must come from this site's own pages.".into(),
        ))
        .into_response()
    }
}
