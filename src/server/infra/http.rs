//! The HTTP/1.1 server loop. axum's own `serve` sets no timer, so hyper's header-read timeout is
//! off there and a client trickling its headers a byte a minute holds a connection (and its
//! task) forever; here every connection must finish its request head within
//! `HEADER_TIMEOUT` (an idle keep-alive connection is closed after as long), and the body and
//! the handling are bounded by the router's own limits. Shutdown stops accepting, lets every
//! request in flight finish for up to a grace period, then returns.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

/// How long a client may take to send a request's head (and how long a keep-alive connection
/// may sit idle).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// for up to `grace`: connections still busy then are cut.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(());
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the listener itself is fine, so wait a moment and go on.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // The peer address feeds the per-client rate limits.
        let service = router
            .clone()
            .map_request(move |mut request: hyper::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(axum::body::Body::new)
            });
        let mut stopping = stopping.clone();
        tokio::spawn(async move {
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            let mut connection = pin!(connection);
            tokio::select! {
                result = connection.as_mut() => log_end(result, peer),
                _ = stopping.changed() => {
                    connection.as_mut().graceful_shutdown();
                    log_end(connection.await, peer);
                }
            }
        });
    }
    drop(listener);
    drop(stopping);
    // Every connection holds a receiver: wait until the last one has finished.
    let _ = stop.send(());
    if tokio::time::timeout(grace, stop.closed()).await.is_err() {
        tracing::warn!(
            connections = stop.receiver_count(),
            "requests still in flight {} s after the stop were cut",
            grace.as_secs()
        );
    }
    Ok(())
}

fn log_end(result: Result<(), hyper::Error>, peer: SocketAddr) {
    if let Err(e) = result {
        // A client that went away, timed out its head, or sent something that is not HTTP.
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}
