//! Repository automation: `cargo xtask codegen [--check]` regenerates the wire crate from the
//! pinned botocore model; `cargo xtask tidy` lives in the tidy test instead, so `cargo test` runs it.

mod codegen;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("codegen") => codegen::run(args.iter().any(|a| a == "--check")),
        _ => bail!("usage: cargo xtask codegen [--check]"),
    }
}
