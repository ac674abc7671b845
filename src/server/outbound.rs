//! The HTTP client we call other services with (Stripe, a Supabase project's keys): https with
//! the webpki roots, or plain http for a local stand-in (the emulator, a local Supabase). Which
//! of the two a deployment may use is the configuration's rule, not this client's.

use std::time::Duration;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// A pooled HTTP/1 client sending bodies of type `B`.
pub type Outbound<B> = Client<HttpsConnector<HttpConnector>, B>;

/// `connect_timeout`: how long a TCP connection may take (none: the system's);
/// `idle`: how long a pooled connection is kept unused.
pub fn client<B>(connect_timeout: Option<Duration>, idle: Duration) -> Outbound<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(connect_timeout);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(idle)
        .pool_timer(TokioTimer::new())
        .build(connector)
}
