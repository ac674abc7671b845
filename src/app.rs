//! The HTML shell and the route table.

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Link, MetaTags, Stylesheet};
use leptos_router::{
    components::{Route, Router, Routes},
    SsrMode, StaticSegment,
};

use crate::components::nav::{Footer, Nav};
use crate::pages::{
    account::{
        AccountPage, ForgotPasswordPage, ResetPasswordPage, SignInPage, SignUpPage, VerifyEmailPage,
    },
    admin::AdminEventsPage,
    billing::{BillingPage, ChangePlanPage},
    home::HomePage,
    not_found::NotFound,
    pricing::PricingPage,
    product::ProductPage,
    success::SuccessPage,
};

/// The document around every page. Rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/landing.css"/>
        <Link rel="icon" type_="image/svg+xml" href="/favicon.svg"/>
        <Router>
            <Nav/>
            <main id="main">
                <Routes fallback=NotFound>
                    <Route path=StaticSegment("") view=HomePage/>
                    <Route path=StaticSegment("pricing") view=PricingPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("sign-in") view=SignInPage/>
                    <Route path=StaticSegment("sign-up") view=SignUpPage/>
                    <Route path=StaticSegment("forgot-password") view=ForgotPasswordPage/>
                    <Route path=StaticSegment("verify-email") view=VerifyEmailPage/>
                    <Route
                        path=StaticSegment("reset-password")
                        view=ResetPasswordPage
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("account") view=AccountPage ssr=SsrMode::Async/>
                    // Async: the page waits for Stripe's answer, so it reads without JavaScript.
                    <Route path=StaticSegment("success") view=SuccessPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("app") view=ProductPage ssr=SsrMode::Async/>
                    <Route path=StaticSegment("billing") view=BillingPage ssr=SsrMode::Async/>
                    <Route
                        path=(StaticSegment("billing"), StaticSegment("change"))
                        view=ChangePlanPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("admin"), StaticSegment("events"))
                        view=AdminEventsPage
                        ssr=SsrMode::Async
                    />
                </Routes>
            </main>
            <Footer/>
        </Router>
    }
}
