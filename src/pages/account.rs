//! The account pages: sign up, sign in, forgot and reset a password, confirm an email, and
//! `/account`. All are plain forms that post to the account server functions, so they work with
//! JavaScript off; a problem comes back as `?error=` and is said above the form.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::auth::{load_account, reset_link_is_live};
use crate::model::auth::{AccountView, CurrentUser, FormProblem};
use crate::model::error::AppError;

/// The `?error=` problem and the `?email=` kept from the form that was sent back.
fn sent_back() -> (Option<FormProblem>, String) {
    let query = use_query_map().read_untracked().clone();
    (
        query
            .get("error")
            .and_then(|code| FormProblem::from_code(&code)),
        query.get("email").unwrap_or_default(),
    )
}

fn query_flag(name: &str) -> bool {
    use_query_map().read_untracked().get(name).is_some()
}

#[component]
fn Problem(problem: Option<FormProblem>) -> impl IntoView {
    problem.map(|p| view! { <p class="error" role="alert">{p.message()}</p> })
}

#[component]
fn EmailField(email: String) -> impl IntoView {
    view! {
        <label for="email">"Email"</label>
        <input id="email" name="email" type="email" autocomplete="email" required value=email/>
    }
}

#[component]
fn PasswordField(
    label: &'static str,
    autocomplete: &'static str,
    hint: &'static str,
) -> impl IntoView {
    view! {
        <label for="password">{label}</label>
        <input id="password" name="password" type="password" autocomplete=autocomplete required/>
        {(!hint.is_empty()).then(|| view! { <p class="hint">{hint}</p> })}
    }
}

#[component]
pub fn SignUpPage() -> impl IntoView {
    let (problem, email) = sent_back();
    let sent = query_flag("sent");
    view! {
        <Title text="Create your account"/>
        <section class="account">
            {if sent {
                view! {
                    <h1>"Check your inbox"</h1>
                    <p role="status">
                        "We sent a link to confirm your email address. Follow it to finish "
                        "setting up your account; it works for 24 hours."
                    </p>
                    <p>"Already confirmed? " <a href="/sign-in">"Sign in"</a></p>
                }
                    .into_any()
            } else {
                view! {
                    <h1>"Create your account"</h1>
                    <Problem problem/>
                    <form method="post" action="/api/auth/sign_up" class="stack">
                        <EmailField email/>
                        <PasswordField
                            label="Password"
                            autocomplete="new-password"
                            hint="At least 10 characters."
                        />
                        <button class="button primary" type="submit">"Create account"</button>
                    </form>
                    <p>"Already have an account? " <a href="/sign-in">"Sign in"</a></p>
                }
                    .into_any()
            }}
        </section>
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    let (problem, email) = sent_back();
    let everywhere = use_query_map()
        .read_untracked()
        .get("signed_out")
        .as_deref()
        == Some("everywhere");
    let signed_in = use_context::<CurrentUser>().and_then(|c| c.0);
    view! {
        <Title text="Sign in"/>
        <section class="account">
            <h1>"Sign in"</h1>
            {everywhere
                .then(|| {
                    view! { <p class="notice" role="status">"You are signed out on every device."</p> }
                })}
            {signed_in
                .map(|me| {
                    view! {
                        <p class="notice">"You are signed in as " <strong>{me.email}</strong> "."</p>
                    }
                })}
            <Problem problem/>
            <form method="post" action="/api/auth/sign_in" class="stack">
                <EmailField email/>
                <PasswordField label="Password" autocomplete="current-password" hint=""/>
                <button class="button primary" type="submit">"Sign in"</button>
            </form>
            <p><a href="/forgot-password">"Forgot your password?"</a></p>
            <p>"New here? " <a href="/sign-up">"Create an account"</a></p>
        </section>
    }
}

#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let (problem, email) = sent_back();
    let sent = query_flag("sent");
    view! {
        <Title text="Reset your password"/>
        <section class="account">
            <h1>"Reset your password"</h1>
            {if sent {
                view! {
                    <p role="status">
                        "If an account uses that email, we sent it a link to choose a new "
                        "password. It works once, for one hour."
                    </p>
                }
                    .into_any()
            } else {
                view! {
                    <Problem problem/>
                    <p>"We will mail you a link to choose a new password."</p>
                    <form method="post" action="/api/auth/forgot_password" class="stack">
                        <EmailField email/>
                        <button class="button primary" type="submit">"Send the link"</button>
                    </form>
                }
                    .into_any()
            }}
            <p><a href="/sign-in">"Back to sign in"</a></p>
        </section>
    }
}

/// Where a mailed reset link leads: the new password's form, if the link still works.
#[component]
pub fn ResetPasswordPage() -> impl IntoView {
    let (problem, _) = sent_back();
    let token = use_query_map()
        .read_untracked()
        .get("token")
        .unwrap_or_default();
    let live = Resource::new_blocking(move || token.clone(), reset_link_is_live);
    view! {
        <Title text="Choose a new password"/>
        <section class="account">
            <h1>"Choose a new password"</h1>
            <Problem problem/>
            <Suspense fallback=|| view! { <p>"Checking your link…"</p> }>
                {move || Suspend::new(async move {
                    let token = use_query_map().read_untracked().get("token").unwrap_or_default();
                    match live.await {
                        Ok(true) => {
                            view! {
                                <form method="post" action="/api/auth/reset_password" class="stack">
                                    <input type="hidden" name="token" value=token/>
                                    <PasswordField
                                        label="New password"
                                        autocomplete="new-password"
                                        hint="At least 10 characters. Every other device is signed out."
                                    />
                                    <button class="button primary" type="submit">"Set the new password"</button>
                                </form>
                            }
                                .into_any()
                        }
                        Ok(false) => {
                            view! {
                                <p class="error" role="alert">{FormProblem::LinkInvalid.message()}</p>
                                <p><a href="/forgot-password">"Ask for a new link"</a></p>
                            }
                                .into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Where a mailed "confirm your email" link leads. Confirming takes a click: mail scanners
/// fetch links, and a fetch must not use the link up. It proves the address only for the
/// account's holder: signed in to it, or typing its password here (someone who signed up with
/// a stranger's address cannot have the stranger prove it for them).
#[component]
pub fn VerifyEmailPage() -> impl IntoView {
    let (problem, _) = sent_back();
    let token = use_query_map()
        .read_untracked()
        .get("token")
        .unwrap_or_default();
    let signed_in = use_context::<CurrentUser>().and_then(|c| c.0);
    let ask_password = signed_in.is_none()
        || matches!(
            problem,
            Some(FormProblem::PasswordNeeded | FormProblem::WrongPassword)
        );
    let spent = problem == Some(FormProblem::LinkInvalid) || token.is_empty();
    view! {
        <Title text="Confirm your email"/>
        <section class="account">
            <h1>"Confirm your email"</h1>
            <Problem problem/>
            {if spent {
                view! {
                    <p>
                        "Sign in and ask for a new link on " <a href="/account">"your account"</a>
                        "."
                    </p>
                }
                    .into_any()
            } else {
                view! {
                    {match (&signed_in, ask_password) {
                        (Some(me), false) => {
                            view! {
                                <p>
                                    "Confirm this address for the account you are signed in to, "
                                    <strong>{me.email.clone()}</strong> "."
                                </p>
                            }
                                .into_any()
                        }
                        _ => {
                            view! {
                                <p>
                                    "Enter the password you chose when you created the account, "
                                    "to show it is yours."
                                </p>
                            }
                                .into_any()
                        }
                    }}
                    <form method="post" action="/api/auth/verify_email" class="stack">
                        <input type="hidden" name="token" value=token/>
                        {ask_password
                            .then(|| {
                                view! {
                                    <PasswordField
                                        label="Your account's password"
                                        autocomplete="current-password"
                                        hint=""
                                    />
                                }
                            })}
                        <button class="button primary" type="submit">"Confirm my email"</button>
                    </form>
                    <p class="hint">
                        "Did not create an account here? You need do nothing: without the "
                        "account's password, nothing changes. If this address is yours and you "
                        "want its account, " <a href="/forgot-password">"reset the password"</a>
                        ": the link comes to this inbox."
                    </p>
                }
                    .into_any()
            }}
        </section>
    }
}

/// `/account`: the email and whether it is proven, a new link, and "sign out everywhere".
#[component]
pub fn AccountPage() -> impl IntoView {
    let (problem, _) = sent_back();
    let query = use_query_map().read_untracked().clone();
    let notice = if query.get("verified").is_some() {
        Some("Your email is confirmed.")
    } else if query.get("reset").is_some() {
        Some("Your password is changed, and every other device is signed out.")
    } else if query.get("sent").is_some() {
        Some("We sent a new link. Check your inbox.")
    } else {
        None
    };
    let account = Resource::new_blocking(|| (), |()| load_account());
    view! {
        <Title text="Your account"/>
        <section class="account">
            <h1>"Your account"</h1>
            {notice.map(|n| view! { <p class="notice" role="status">{n}</p> })}
            <Problem problem/>
            <Suspense fallback=|| view! { <p>"Loading your account…"</p> }>
                {move || Suspend::new(async move {
                    match account.await {
                        Ok(a) => view! { <AccountDetails a/> }.into_any(),
                        Err(AppError::Unauthorized(_)) => {
                            view! { <p><a href="/sign-in">"Sign in"</a> " to see your account."</p> }
                                .into_any()
                        }
                        Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn AccountDetails(a: AccountView) -> impl IntoView {
    view! {
        <dl>
            <dt>"Email"</dt>
            <dd>{a.email}</dd>
            <dt>"Status"</dt>
            <dd>{if a.email_verified { "Confirmed" } else { "Not confirmed yet" }}</dd>
        </dl>
        {(!a.email_verified)
            .then(|| {
                view! {
                    <p class="notice" role="status">
                        "Confirm your email with the link we mailed you. Until then, purchases "
                        "made with this address while signed out stay unclaimed."
                    </p>
                    <form method="post" action="/api/auth/resend_verification">
                        <button class="button" type="submit">"Send the link again"</button>
                    </form>
                }
            })}
        <h2>"Sessions"</h2>
        <p>"Signed in on a device you no longer use? End every session, this one too."</p>
        <form method="post" action="/api/auth/sign_out_everywhere">
            <button class="button" type="submit">"Sign out everywhere"</button>
        </form>
    }
}
