//! `/success?session_id=…` (where `/welcome?session_id=…` leads too): what was bought and
//! where the receipt goes. The session id shows the purchase; it never signs anyone in. Without one (a
//! success URL written without `{CHECKOUT_SESSION_ID}`), a thank-you that points to where the
//! purchase will show.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::checkout::checkout_result;
use crate::model::error::AppError;

#[component]
pub fn SuccessPage() -> impl IntoView {
    let session_id = use_query_map()
        .read_untracked()
        .get("session_id")
        .unwrap_or_default();
    // Stripe fills in `{CHECKOUT_SESSION_ID}`; a URL without it names no session.
    if session_id.is_empty() || session_id == "{CHECKOUT_SESSION_ID}" {
        return view! {
            <Title text="Thank you"/>
            <section class="success">
                <h1>"Thank you for your purchase"</h1>
                <p>
                    "If you just paid, your purchase shows on "
                    <a href="/billing">"Billing"</a>
                    " within a moment, and a receipt is on its way to the email you paid with."
                </p>
                <p><a href="/app">"Go to the app"</a> " · " <a href="/">"Back to the site"</a></p>
            </section>
        }
        .into_any();
    }
    let summary = Resource::new_blocking(move || session_id.clone(), checkout_result);
    view! {
        <Title text="Thank you"/>
        <section class="success">
            <Suspense fallback=|| view! { <p>"Confirming your purchase…"</p> }>
                {move || Suspend::new(async move {
                    match summary.await {
                        Ok(s) if s.paid => {
                            view! {
                                <h1>"Thank you — your purchase is confirmed"</h1>
                                <ul class="items">
                                    {s.items
                                        .into_iter()
                                        .map(|(name, amount)| view! { <li><span>{name}</span> <span>{amount}</span></li> })
                                        .collect_view()}
                                </ul>
                                <p class="total">"Total paid: " <strong>{s.total}</strong></p>
                                {match s.email {
                                    Some(e) => view! { <p>"A receipt is on its way to " <strong>{e}</strong> "."</p> }.into_any(),
                                    None => view! { <p>"A receipt is on its way to the email you paid with."</p> }.into_any(),
                                }}
                                <p>
                                    {match (s.subscription, s.trial, s.trial_refused, s.canceled) {
                                        (true, _, _, true) => "This subscription has been cancelled: you already subscribe with this account, and one subscription is all it needs. Nothing more is charged for it, and an email says why.",
                                        (true, _, true, _) => "Your subscription is active. The free trial is for a first subscription only and you have subscribed before, so the first period is billed today.",
                                        (true, true, _, _) => "Your free trial has started: the first payment is at its end, and you can cancel before then from your billing page.",
                                        (true, _, _, _) => "Your subscription is active.",
                                        _ => "It is yours to keep.",
                                    }}
                                    " " <a href="/">"Back to the site"</a>
                                </p>
                            }
                                .into_any()
                        }
                        Ok(_) => {
                            view! {
                                <h1>"This checkout is not paid"</h1>
                                <p>"Nothing was charged. " <a href="/pricing">"Back to pricing"</a></p>
                            }
                                .into_any()
                        }
                        Err(e) => {
                            // Too many confirmations from one address is no sign the purchase
                            // is missing: the heading must not say it is.
                            let heading = if matches!(e, AppError::TooManyRequests(_)) {
                                "We cannot confirm this purchase just now"
                            } else {
                                "We could not find this purchase"
                            };
                            view! {
                                <h1>{heading}</h1>
                                <p class="error" role="alert">{e.to_string()}</p>
                                <p><a href="/pricing">"Back to pricing"</a></p>
                            }
                                .into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
    .into_any()
}
