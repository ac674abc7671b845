//! `static-pricing FILE ADDR`: serves FILE's bytes as `text/html` at every path from memory, with
//! the same runtime (tokio, axum) as the site: the fastest the pricing page could possibly be
//! served on this machine, for `bench/run.sh` to compare the site against.

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::Router;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(file), Some(addr)) = (args.next(), args.next()) else {
        eprintln!("usage: static-pricing FILE ADDR");
        std::process::exit(2);
    };
    let body: &'static [u8] = Vec::leak(tokio::fs::read(&file).await.expect("readable file"));
    let app = Router::new().fallback(move || async move {
        ([(CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    });
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    axum::serve(listener, app).await.expect("serve");
}
