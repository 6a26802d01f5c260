//! Running jobs: the executors that do an action's work on this machine (commands in a process
//! group with a timeout, CodeBuild-style buildspecs, git sources) and the standalone worker
//! that polls a Sluice server for jobs over the public API. The same executor code runs inside
//! `sluice serve` and in `sluice worker`.

pub mod buildspec;
#[cfg(test)]
mod buildspec_properties;
pub mod client;
pub mod error;
pub mod files;
pub mod git;
pub mod glob;
pub mod log;
pub mod poller;
pub mod process;
pub mod runners;
pub mod shell;

pub use error::Error;

pub type Result<T> = std::result::Result<T, Error>;
