//! The appspec's hook scripts of one lifecycle event, run in order, each as an argument
//! vector (the script itself, no shell in between) in its own process group, with CodeDeploy's
//! variables in its environment, killed with its group at its timeout, its output kept in the
//! deployment's log and its last 4 KiB sent back as the event's `logTail`. These are the host
//! owner's own deployment scripts: they run on the host, as the agent's user or `runas`.

use crate::{Outcome, Spec};
use sluice_deploy::appspec::AppSpec;
use sluice_deploy::LifecycleEvent;
use sluice_worker::log::JobLog;
use sluice_worker::process::{operator_command, run, Exit};
use std::path::Path;
use std::time::{Duration, Instant};

/// The most of a script's output a report carries, as CodeDeploy keeps it.
const LOG_TAIL_BYTES: usize = 4096;

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut start = text.len().saturating_sub(LOG_TAIL_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}

pub(crate) async fn run_event(
    appspec: &AppSpec,
    event: LifecycleEvent,
    archive: &Path,
    spec: &Spec,
    deployment_dir: &Path,
) -> Outcome {
    let hooks = appspec.hooks_of(event);
    if hooks.is_empty() {
        return Outcome::success(
            format!("Succeeded: no {} scripts", event.name()),
            String::new(),
        );
    }
    let logs = deployment_dir.join("logs");
    if let Err(e) = std::fs::create_dir_all(&logs) {
        return Outcome::unknown(format!("{}: {e}", logs.display()));
    }
    let log_path = logs.join(format!("{}.log", event.name()));
    let log = match JobLog::create(&log_path, Vec::new()) {
        Ok(l) => l,
        Err(e) => return Outcome::unknown(format!("{}: {e}", log_path.display())),
    };
    for hook in hooks {
        // A location is in the bundle, with or without a leading slash.
        let script = archive.join(hook.location.trim_start_matches('/'));
        let failed = |code: u8, message: String| Outcome {
            code,
            script: hook.location.clone(),
            message,
            log: String::new(),
        };
        if !script.is_file() {
            return failed(
                1,
                format!(
                    "Script does not exist at specified location: {}",
                    script.display()
                ),
            );
        }
        use std::os::unix::fs::PermissionsExt;
        let executable =
            std::fs::metadata(&script).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
        if !executable {
            return failed(
                2,
                format!(
                    "Script at specified location: {} is not executable",
                    hook.location
                ),
            );
        }
        let mut cmd = operator_command(&script.to_string_lossy(), archive);
        cmd.env("LIFECYCLE_EVENT", event.name())
            .env("DEPLOYMENT_ID", &spec.deployment_id)
            .env("APPLICATION_NAME", &spec.application_name)
            .env("DEPLOYMENT_GROUP_NAME", &spec.deployment_group_name)
            .env("DEPLOYMENT_GROUP_ID", &spec.deployment_group_id);
        if let Some(user) = &hook.runas {
            match runas(user) {
                Ok(Some((uid, gid))) => {
                    cmd.uid(uid).gid(gid);
                }
                Ok(None) => {}
                Err(message) => return failed(5, message),
            }
        }
        log.line(&format!("[{}] {}", event.name(), hook.location));
        let deadline = Instant::now() + Duration::from_secs(u64::from(hook.timeout_secs));
        let exit = run(cmd, deadline, &log).await;
        log.flush();
        let outcome = |code: u8, message: String| Outcome {
            code,
            script: hook.location.clone(),
            message,
            log: tail(&log_path),
        };
        match exit {
            Ok(Exit::Finished(status)) if status.success() => {}
            Ok(Exit::Finished(status)) => {
                let code = status
                    .code()
                    .map_or_else(|| "a signal".to_string(), |c| c.to_string());
                return outcome(
                    4,
                    format!(
                        "Script at specified location: {} failed with exit code {code}",
                        hook.location
                    ),
                );
            }
            Ok(Exit::TimedOut) => {
                return outcome(
                    3,
                    format!(
                        "Script at specified location: {} failed to complete in {} seconds",
                        hook.location, hook.timeout_secs
                    ),
                );
            }
            Err(e) => {
                return outcome(
                    4,
                    format!(
                        "Script at specified location: {} could not be run: {e}",
                        hook.location
                    ),
                )
            }
        }
    }
    log.finish();
    Outcome::success(
        format!("Succeeded: {} scripts of {}", hooks.len(), event.name()),
        tail(&log_path),
    )
}

/// The uid and gid `runas` names, `None` when the agent already runs as that user.
fn runas(user: &str) -> Result<Option<(u32, u32)>, String> {
    let (uid, gid) = crate::install::passwd_entry(user)?;
    let current = std::fs::metadata("/proc/self").map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    match current {
        Ok(me) if me == uid => Ok(None),
        Ok(0) => Ok(Some((uid, gid))),
        _ => Err(format!(
            "runas {user} needs the agent to run as root (or as {user})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn spec() -> Spec {
        serde_json::from_str(
            r#"{"DeploymentId":"d-TEST00001","DeploymentGroupId":"g-1","DeploymentGroupName":"Fleet",
                "ApplicationName":"App","Revision":{"RevisionType":"S3"}}"#,
        )
        .expect("spec")
    }

    fn script(dir: &Path, name: &str, body: &str, executable: bool) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(&path, body).expect("script");
        let mode = if executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("mode");
    }

    async fn run(dir: &Path, hook: &str, timeout: u32) -> Outcome {
        let appspec = sluice_deploy::appspec::parse(&format!(
            "version: 0.0\nos: linux\nhooks:\n  AfterInstall:\n    - location: {hook}\n      timeout: {timeout}\n"
        ))
        .expect("appspec");
        run_event(
            &appspec,
            LifecycleEvent::AfterInstall,
            dir,
            &spec(),
            &dir.join("deployment"),
        )
        .await
    }

    #[tokio::test]
    async fn a_hook_runs_in_the_bundle_with_codedeploys_variables_and_its_output_is_kept() {
        let dir = tempfile::tempdir().expect("temp");
        script(
            dir.path(),
            "scripts/after",
            "#!/bin/sh\necho \"$LIFECYCLE_EVENT $DEPLOYMENT_ID $APPLICATION_NAME $DEPLOYMENT_GROUP_NAME $DEPLOYMENT_GROUP_ID\"\n",
            true,
        );
        // A leading slash still means the bundle.
        let outcome = run(dir.path(), "/scripts/after", 10).await;
        assert_eq!(outcome.code, 0, "{outcome:?}");
        assert!(
            outcome
                .log
                .contains("AfterInstall d-TEST00001 App Fleet g-1"),
            "{}",
            outcome.log
        );
    }

    #[tokio::test]
    async fn each_way_a_hook_fails_has_codedeploys_error_code() {
        let dir = tempfile::tempdir().expect("temp");
        script(
            dir.path(),
            "fails",
            "#!/bin/sh\necho broken >&2\nexit 3\n",
            true,
        );
        script(dir.path(), "plain", "#!/bin/sh\n", false);
        script(dir.path(), "slow", "#!/bin/sh\nsleep 30\n", true);
        let failed = run(dir.path(), "fails", 10).await;
        assert_eq!((failed.code, failed.script.as_str()), (4, "fails"));
        assert!(
            failed.message.contains("exit code 3") && failed.log.contains("broken"),
            "{failed:?}"
        );
        assert_eq!(run(dir.path(), "missing", 10).await.code, 1);
        assert_eq!(run(dir.path(), "plain", 10).await.code, 2);
        let slow = run(dir.path(), "slow", 1).await;
        assert_eq!(slow.code, 3, "{slow:?}");
        assert!(slow.message.contains("failed to complete in 1 seconds"));
    }
}
