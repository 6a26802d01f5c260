//! The launcher: what `sluice sandbox-exec -- PROGRAM ARGS…` does in its own fresh process
//! before it becomes the program. The order matters: a new session first (no controlling
//! terminal to inject keystrokes into, and the process group the server kills), limits while
//! still allowed to raise nothing, the user switch while still root, Landlock last (it sets
//! `no_new_privs`, so nothing executed afterwards can regain privileges).

use crate::{Limits, Spec};
use landlock::{
    make_bitflags, path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::unistd::{setgid, setgroups, setsid, setuid, Gid, Uid};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;

/// The environment variable that carries the [`Spec`] to the launcher (removed before the
/// program runs).
pub const SPEC_ENV: &str = "SLUICE_SANDBOX_SPEC";

/// The Landlock ABI the sandbox needs: 6 is the first that scopes signals and abstract unix
/// sockets to the sandbox (Linux 6.12).
const REQUIRED_ABI: ABI = ABI::V6;

/// Confines this process as `spec` says and executes `argv`. Returns only if something failed;
/// the caller prints the message and exits with [`crate::REFUSED_STATUS`].
pub fn launch(spec: &str, argv: &[OsString]) -> String {
    match confine_and_exec(spec, argv) {
        Ok(never) => match never {},
        Err(message) => format!("sluice sandbox: {message}"),
    }
}

fn confine_and_exec(spec: &str, argv: &[OsString]) -> Result<std::convert::Infallible, String> {
    let spec: Spec =
        serde_json::from_str(spec).map_err(|e| format!("the sandbox spec is unreadable: {e}"))?;
    let (program, args) = argv.split_first().ok_or("no program to run was given")?;
    // Already the leader of a group would make setsid fail; the server does not make one.
    setsid().map_err(|e| format!("setsid failed: {e}"))?;
    apply_limits(&spec.limits)?;
    if let Some(ids) = spec.user {
        let gid = Gid::from_raw(ids.gid);
        setgroups(&[gid]).map_err(|e| format!("setgroups failed: {e}"))?;
        setgid(gid).map_err(|e| format!("setgid {} failed: {e}", ids.gid))?;
        setuid(Uid::from_raw(ids.uid)).map_err(|e| format!("setuid {} failed: {e}", ids.uid))?;
        if nix::unistd::geteuid().is_root() {
            return Err("the sandbox user is root".into());
        }
    }
    restrict(&spec)?;
    let error = std::process::Command::new(program)
        .args(args)
        .env_remove(SPEC_ENV)
        .exec();
    Err(format!(
        "{} could not be executed: {error}",
        program.to_string_lossy()
    ))
}

fn apply_limits(limits: &Limits) -> Result<(), String> {
    let wanted = [
        (Resource::RLIMIT_NPROC, limits.max_processes),
        (Resource::RLIMIT_NOFILE, limits.max_open_files),
        (Resource::RLIMIT_CPU, limits.max_cpu_secs),
        (Resource::RLIMIT_FSIZE, limits.max_file_bytes),
        (Resource::RLIMIT_AS, limits.max_memory_bytes),
        (Resource::RLIMIT_CORE, Some(0)),
    ];
    for (resource, value) in wanted {
        let Some(value) = value else { continue };
        let (_, hard) = getrlimit(resource).map_err(|e| format!("getrlimit failed: {e}"))?;
        let value = value.min(hard);
        setrlimit(resource, value, value)
            .map_err(|e| format!("setrlimit {resource:?} to {value} failed: {e}"))?;
    }
    Ok(())
}

fn restrict(spec: &Spec) -> Result<(), String> {
    let unsupported = |e: landlock::RulesetError| {
        format!(
            "this kernel cannot confine builds (Landlock ABI {} or later is needed: {e}); \
             set [sandbox] mode = \"none\" in the config to run builds unsandboxed",
            REQUIRED_ABI as i32
        )
    };
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(REQUIRED_ABI))
        .map_err(unsupported)?
        .scope(make_bitflags!(Scope::{AbstractUnixSocket | Signal}))
        .map_err(unsupported)?;
    if !spec.network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(REQUIRED_ABI))
            .map_err(unsupported)?;
    }
    let read = AccessFs::from_read(REQUIRED_ABI);
    let status = ruleset
        .create()
        .map_err(unsupported)?
        .add_rules(path_beneath_rules(&spec.read, read))
        .map_err(|e| format!("a read path could not be allowed: {e}"))?
        .add_rules(path_beneath_rules(
            &spec.devices,
            read | AccessFs::WriteFile,
        ))
        .map_err(|e| format!("a device could not be allowed: {e}"))?
        .add_rules(path_beneath_rules(
            &spec.write,
            AccessFs::from_all(REQUIRED_ABI),
        ))
        .map_err(|e| format!("a writable path could not be allowed: {e}"))?
        .restrict_self()
        .map_err(unsupported)?;
    if status.ruleset != RulesetStatus::FullyEnforced || !status.no_new_privs {
        return Err(format!(
            "this kernel enforces the sandbox only partly ({:?}); set [sandbox] mode = \"none\" \
             in the config to run builds unsandboxed",
            status.ruleset
        ));
    }
    Ok(())
}
