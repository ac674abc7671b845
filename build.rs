//! Link settings for the server binary.
//!
//! On Linux with glibc the binary is linked with packed relative relocations (`DT_RELR`, glibc
//! 2.36+, GNU ld 2.38+ or lld 15+): a position-independent executable keeps its address
//! randomisation, but its ~570 KB table of relocations, which the loader reads in full at every
//! start, shrinks to a few kilobytes. That table was a twentieth of the idle server's memory.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "linux" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
