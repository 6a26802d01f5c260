//! Repository automation: `cargo xtask codegen [--check]` regenerates the wire crate from the
//! pinned botocore model; `cargo xtask test` runs the whole test suite; `cargo xtask bench`
//! measures the API under load. Tidy checks live in `tests/tidy.rs`, so `cargo test` runs them.

mod bench;
mod bench_scale;
mod codegen;
mod test;

use anyhow::{bail, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("codegen") => codegen::run(args.iter().any(|a| a == "--check")),
        Some("test") => test::run_all(&codegen::workspace_root()),
        Some("bench") => bench::run(&codegen::workspace_root(), &args[1..]),
        _ => bail!(
            "usage: cargo xtask codegen [--check] | test | bench [--seconds N] [--connections N] [--scale [--postgres] [--max N] | --replicas [--max N]]"
        ),
    }
}
