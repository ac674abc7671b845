//! What the integration tests stand on, so that the test files hold tests only: the app started
//! in-process (`app`), its databases (`databases`), the requests tests make to it (`requests`,
//! `billing`), the Stripe emulator (`emulator`), histories of events and the states compared after
//! them (`history`), the binary as a process (`process`), mail (`mail`), a stand-in Supabase
//! project (`supabase`), and the database/scale choices (`backend`).
//!
//! Every `impl TestApp` lives here: `app` starts and stops it, `requests` and `billing` talk to
//! the app, `emulator` to its Stripe.

mod app;
mod backend;
mod billing;
mod databases;
mod emulator;
mod history;
mod mail;
mod process;
mod requests;
mod supabase;

// Re-exported flat: a test names what it uses as `crate::harness::X`, whichever file holds it.
pub use app::*;
pub(crate) use backend::on_both_databases;
pub use backend::*;
pub use billing::*;
pub use databases::*;
pub use emulator::*;
pub use history::*;
pub use mail::*;
pub use process::*;
pub use requests::*;
pub use supabase::*;
