//! `/sign-up` and `/sign-in`: plain forms that post to the account server functions, so they
//! work with JavaScript off; a problem comes back as `?error=` and is said above the form.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::model::auth::{CurrentUser, FormProblem};

#[component]
pub fn SignUpPage() -> impl IntoView {
    view! {
        <Title text="Create your account"/>
        <AccountForm
            heading="Create your account"
            action="/api/auth/sign_up"
            submit="Create account"
            password_hint="At least 10 characters."
            password_autocomplete="new-password"
            other=("Already have an account?", "Sign in", "/sign-in")
        />
    }
}

#[component]
pub fn SignInPage() -> impl IntoView {
    view! {
        <Title text="Sign in"/>
        <AccountForm
            heading="Sign in"
            action="/api/auth/sign_in"
            submit="Sign in"
            password_hint=""
            password_autocomplete="current-password"
            other=("New here?", "Create an account", "/sign-up")
        />
    }
}

#[component]
fn AccountForm(
    heading: &'static str,
    action: &'static str,
    submit: &'static str,
    password_hint: &'static str,
    password_autocomplete: &'static str,
    other: (&'static str, &'static str, &'static str),
) -> impl IntoView {
    let query = use_query_map().read_untracked().clone();
    let problem = query
        .get("error")
        .and_then(|code| FormProblem::from_code(&code));
    let email = query.get("email").unwrap_or_default();
    let signed_in = use_context::<CurrentUser>().and_then(|c| c.0);
    view! {
        <section class="account">
            <h1>{heading}</h1>
            {signed_in
                .map(|me| {
                    view! {
                        <p class="notice">"You are signed in as " <strong>{me.email}</strong> "."</p>
                    }
                })}
            {problem
                .map(|p| view! { <p class="error" role="alert">{p.message()}</p> })}
            <form method="post" action=action class="stack">
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="email" required value=email/>
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete=password_autocomplete
                    required
                />
                {(!password_hint.is_empty()).then(|| view! { <p class="hint">{password_hint}</p> })}
                <button class="button primary" type="submit">{submit}</button>
            </form>
            <p>{other.0} " " <a href=other.2>{other.1}</a></p>
        </section>
    }
}
