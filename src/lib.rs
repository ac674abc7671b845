//! landing — a Rust site that sells a SaaS with Stripe.
//!
//! One compile boundary: everything under [`server`] exists only in the `ssr` build; the rest is
//! shared by the server and the browser (`hydrate`, islands only).

pub mod api;
pub mod app;
pub mod components;
pub mod model;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod server;

/// The browser entry point: wakes the islands in the server-rendered page. Everything outside an
/// island stays plain HTML, so pages work with JavaScript off and the wasm stays small.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Readable panics while developing; a release build leaves the formatting machinery out.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}
