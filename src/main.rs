//! The server binary: all the work is in `landing::server`, so tests can start the same app.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    landing::server::cli::main(std::env::args().skip(1).collect()).await
}
