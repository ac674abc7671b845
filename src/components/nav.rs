//! The header and footer on every page.

use std::sync::Arc;

use leptos::prelude::*;

use crate::model::auth::CurrentUser;
use crate::model::billing::BillingMode;
use crate::model::catalog::Catalog;

#[component]
pub fn Nav() -> impl IntoView {
    let catalog = expect_context::<Arc<Catalog>>();
    let badge = use_context::<BillingMode>().and_then(BillingMode::badge);
    let me = use_context::<CurrentUser>().and_then(|c| c.0);
    view! {
        <header class="site-header">
            {badge.map(|text| view! { <p class="test-mode" role="status">{text}</p> })}
            <a class="skip-link" href="#main">"Skip to content"</a>
            <nav aria-label="Main">
                <a class="brand" href="/">{catalog.product.name.clone()}</a>
                <ul>
                    <li><a href="/pricing">"Pricing"</a></li>
                    {match me {
                        Some(me) => {
                            view! {
                                <li><a href="/app">"App"</a></li>
                                <li><a href="/billing">"Billing"</a></li>
                                <li class="who">
                                    "Signed in as " <a href="/account"><strong>{me.email}</strong></a>
                                </li>
                                <li>
                                    <form method="post" action="/api/auth/sign_out">
                                        <button class="link" type="submit">"Sign out"</button>
                                    </form>
                                </li>
                            }
                                .into_any()
                        }
                        None => {
                            view! {
                                <li><a href="/sign-in">"Sign in"</a></li>
                                <li><a class="button primary small" href="/sign-up">"Sign up"</a></li>
                            }
                                .into_any()
                        }
                    }}
                </ul>
            </nav>
        </header>
    }
}

#[component]
pub fn Footer() -> impl IntoView {
    let catalog = expect_context::<Arc<Catalog>>();
    view! {
        <footer class="site-footer">
            <p>{catalog.product.name.clone()}" · Payments are handled by Stripe."</p>
        </footer>
    }
}
