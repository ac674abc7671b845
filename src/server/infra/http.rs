//! The HTTP/1.1 server loop. axum's own `serve` sets no timer, so hyper's header-read timeout is
//! off there and a client trickling its headers a byte a minute holds a connection (and its
//! task) forever; here every connection must finish its request head within
//! `HEADER_TIMEOUT` (an idle keep-alive connection is closed after as long), and the body and
//! the handling are bounded by the router's own limits.
//!
//! Shutdown comes in two steps. First it lingers: it keeps accepting for a short while (`linger`)
//! and every answer says `Connection: close`, while `/readyz` says 503, so a balancer stops sending
//! and keep-alive clients move on, and nobody's connection waits in the kernel's accept queue to be
//! reset when the listener closes. Then it takes what already waits in that queue, closes the
//! listener, and lets every request in flight finish for up to a grace period.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::header::CONNECTION;
use axum::http::HeaderValue;
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

/// How long a connection accepted during the stop may take to send its request.
const STOPPING_HEADER_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest a stop spends taking the connections waiting in the accept queue.
const DRAIN: Duration = Duration::from_millis(100);

/// How long the stop goes on accepting: `linger`; then how long requests in flight may take.
#[derive(Debug, Clone, Copy)]
pub struct Stop {
    pub linger: Duration,
    pub grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves; then lingers and drains (see the
/// module notes): connections still busy after `stop.grace` are cut.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
    stop_after: Stop,
) -> std::io::Result<()> {
    let (stop, stopping) = watch::channel(());
    let closing = Arc::new(AtomicBool::new(false));
    let mut shutdown = pin!(shutdown);
    let linger = tokio::time::sleep(Duration::MAX);
    let mut linger = pin!(linger);
    let mut lingering = false;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown, if !lingering => {
                lingering = true;
                closing.store(true, Ordering::Relaxed);
                linger.as_mut().reset(tokio::time::Instant::now() + stop_after.linger);
                continue;
            }
            () = &mut linger, if lingering => break,
        };
        match accepted {
            Ok((stream, peer)) => spawn_connection(stream, peer, &router, &closing, &stopping),
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted: the
                // listener itself is fine, so wait a moment and go on.
                tracing::warn!(error = %e, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    // Whoever finished connecting before the listener closes is served, not reset. First the
    // queue is shrunk to one place: the kernel then drops new connection attempts (their
    // clients try again a second later and find the port closed) instead of queueing them
    // for a reset. Then what waits is taken, for `DRAIN` at most.
    if let Err(e) = socket2::SockRef::from(&listener).listen(0) {
        tracing::debug!(error = %e, "cannot shrink the accept queue");
    }
    let drain_until = tokio::time::Instant::now() + DRAIN;
    while tokio::time::Instant::now() < drain_until {
        let waiting = tokio::select! {
            biased;
            accepted = listener.accept() => accepted.ok(),
            () = std::future::ready(()) => None,
        };
        match waiting {
            Some((stream, peer)) => spawn_connection(stream, peer, &router, &closing, &stopping),
            None => break,
        }
    }
    drop(listener);
    drop(stopping);
    // Every connection holds a receiver: wait until the last one has finished.
    let _ = stop.send(());
    if tokio::time::timeout(stop_after.grace, stop.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = stop.receiver_count(),
            "requests still in flight {} s after the stop were cut",
            stop_after.grace.as_secs()
        );
    }
    Ok(())
}

/// Serves one connection until it ends, or until the stop (then gracefully: the request in
/// flight finishes). Once `closing`, every answer says `Connection: close`; a connection
/// accepted then serves its one request whatever the stop (the stop would close it before its
/// request is read, and its client would see a reset), within the grace like any other.
fn spawn_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: &Router,
    closing: &Arc<AtomicBool>,
    stopping: &watch::Receiver<()>,
) {
    let _ = stream.set_nodelay(true);
    let closing = closing.clone();
    let one_request = closing.load(Ordering::Relaxed);
    // The peer address feeds the per-client rate limits.
    let service = router
        .clone()
        .map_request(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request.map(axum::body::Body::new)
        })
        .map_response(move |mut response: axum::response::Response| {
            if closing.load(Ordering::Relaxed) {
                response
                    .headers_mut()
                    .insert(CONNECTION, HeaderValue::from_static("close"));
            }
            response
        });
    let mut stopping = stopping.clone();
    tokio::spawn(async move {
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            // A client that connects now sends its request at once; one that opened a spare
            // connection and sends nothing on it does not hold the stop for long.
            .header_read_timeout(if one_request {
                STOPPING_HEADER_TIMEOUT
            } else {
                HEADER_TIMEOUT
            })
            .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let mut connection = pin!(connection);
        if one_request {
            log_end(connection.await, peer);
            drop(stopping);
            return;
        }
        tokio::select! {
            result = connection.as_mut() => log_end(result, peer),
            _ = stopping.changed() => {
                connection.as_mut().graceful_shutdown();
                log_end(connection.await, peer);
            }
        }
    });
}

fn log_end(result: Result<(), hyper::Error>, peer: SocketAddr) {
    if let Err(e) = result {
        // A client that went away, timed out its head, or sent something that is not HTTP.
        tracing::debug!(error = %e, %peer, "connection ended with an error");
    }
}
