//! The hosted pages: Checkout (with Stripe's test cards and a 3D Secure step), the customer
//! portal, invoices, and a dashboard of events and webhook deliveries. One module per page,
//! the shared document and style in `layout`. They are plain HTML forms: they work without
//! JavaScript.

mod authentication;
mod checkout;
mod dashboard;
mod invoice;
mod layout;
mod portal;

pub use authentication::{authentication_page, authentication_submit};
pub use checkout::{checkout_page, checkout_submit};
pub use dashboard::dashboard;
pub use invoice::{invoice_page, invoice_pay};
pub use layout::escape;
pub use portal::{portal_action, portal_page};
