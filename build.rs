//! Link settings for the server binary.
//!
//! On Linux with glibc the binary is linked with packed relative relocations (`DT_RELR`, glibc
//! 2.36+, GNU ld 2.38+ or lld 15+): a position-independent executable keeps its address
//! randomisation, but its ~570 KB table of relocations, which the loader reads in full at every
//! start, shrinks to a few kilobytes. That table was a twentieth of the idle server's memory.
//!
//! In release builds on x86_64 Linux, where rustc links with its own lld, the functions an idle
//! server runs (`build/idle-code.order.gz`, written by `scripts/order-idle-code.sh`) are placed
//! next to each other. The kernel maps code in 64 KB windows around each page touched, so code
//! run at idle scattered over the binary kept most of it resident; packed, a fraction is. A name
//! the build no longer has is skipped (the warning is silenced), so a stale list costs memory,
//! never correctness.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    let order = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("build/idle-code.order.gz");
    println!("cargo:rerun-if-changed={}", order.display());
    if var("PROFILE") != "release" || var("CARGO_CFG_TARGET_ARCH") != "x86_64" || !order.exists() {
        return;
    }
    // Kept compressed in the repository (the names of generic functions run to kilobytes).
    let unpacked = std::path::Path::new(&var("OUT_DIR")).join("idle-code.order");
    let unpack = std::fs::File::create(&unpacked).and_then(|out| {
        std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&order)
            .stdout(out)
            .status()
    });
    match unpack {
        Ok(status) if status.success() => {
            println!(
                "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
                unpacked.display()
            );
            println!("cargo:rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
        }
        // Only memory is at stake: build without the order, and say so.
        _ => {
            println!("cargo:warning=could not unpack build/idle-code.order.gz; code left unordered")
        }
    }
}
