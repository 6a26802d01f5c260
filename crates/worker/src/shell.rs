//! Runs an action's commands the way CodeBuild does: one after another, in a shell session
//! whose exported variables and working directory carry from one command to the next. Each
//! command runs in its own process group with what is left of the job's time; at the deadline
//! the whole group is killed. The command text reaches bash through an environment variable
//! and `eval` in a fixed wrapper, never pasted into a shell string; the server's own
//! environment is not inherited (only `PATH`, `HOME`, `LANG`, `TMPDIR` and the action's own).

use crate::log::JobLog;
use crate::{Error, Result};
use sluice_sandbox::{Jail, Sandbox};
use std::path::{Path, PathBuf};
use std::time::Instant;

const WRAPPER: &str = r#"__sluice_cmd=$SLUICE_COMMAND
unset SLUICE_COMMAND
if [ -s "$SLUICE_STATE" ]; then . "$SLUICE_STATE"; fi
if [ -s "$SLUICE_STATE.cwd" ]; then cd "$(cat "$SLUICE_STATE.cwd")" || exit 125; fi
eval "$__sluice_cmd"
__sluice_rc=$?
export -p > "$SLUICE_STATE.new" && mv "$SLUICE_STATE.new" "$SLUICE_STATE"
pwd > "$SLUICE_STATE.cwd"
exit $__sluice_rc
"#;

/// A shell session over one workspace.
#[derive(Debug)]
pub struct Session {
    sandbox: Sandbox,
    jail: Jail,
    state: PathBuf,
    env: Vec<(String, String)>,
    deadline: Instant,
    log: JobLog,
}

impl Session {
    /// `state_dir` holds the session's variables between commands (outside the workspace, so
    /// it never ends up in an artifact).
    pub fn new(
        sandbox: Sandbox,
        jail: Jail,
        state_dir: &Path,
        env: Vec<(String, String)>,
        deadline: Instant,
        log: JobLog,
    ) -> Self {
        Self {
            sandbox,
            jail,
            state: state_dir.join("shell-state"),
            env,
            deadline,
            log,
        }
    }

    pub fn log(&self) -> &JobLog {
        &self.log
    }

    /// Runs one command; a non-zero exit or the deadline is a `Failed` error naming it.
    pub async fn run(&mut self, command: &str) -> Result<()> {
        self.log
            .line(&format!("[Container] Running command {command}"));
        let mut cmd = self.sandbox.command("bash", &self.jail);
        cmd.args(["--noprofile", "--norc", "-c", WRAPPER]);
        cmd.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("SLUICE_STATE", &self.state)
            .env("SLUICE_COMMAND", command);
        let status = match crate::process::run(cmd, self.deadline, &self.log).await? {
            crate::process::Exit::TimedOut => {
                self.log.line(&format!(
                    "[Container] Command timed out and was killed: {command}"
                ));
                return Err(Error::Failed(format!(
                    "Command timed out and was killed: {}",
                    self.log.mask(command)
                )));
            }
            crate::process::Exit::Finished(status) => status,
        };
        if status.success() {
            return Ok(());
        }
        let code = status
            .code()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "killed by a signal".into());
        self.log.line(&format!(
            "[Container] Command did not exit successfully {command} exit status {code}"
        ));
        Err(Error::Failed(format!(
            "Command did not exit successfully {} exit status {code}",
            self.log.mask(command)
        )))
    }

    /// The value a command exported, if any (for `outputVariables`).
    pub fn exported(&self, name: &str) -> Option<String> {
        let state = std::fs::read_to_string(&self.state).ok()?;
        let prefix = format!("declare -x {name}=");
        let line = state.lines().find(|l| l.starts_with(&prefix))?;
        unquote(&line[prefix.len()..])
    }
}

/// Undoes `export -p`'s double quoting (`"a \"b\" \$c"`).
fn unquote(s: &str) -> Option<String> {
    let inner = s.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// Whether `name` can be an environment variable name.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn session(dir: &Path, env: Vec<(String, String)>, secs: u64) -> Session {
        let ws = dir.join("ws");
        std::fs::create_dir_all(&ws).expect("ws");
        let log = JobLog::create(&dir.join("log"), vec!["s3cr3t-value".into()]).expect("log");
        Session::new(
            Sandbox::unconfined(),
            Jail::under(&ws, &ws).expect("jail"),
            dir,
            env,
            Instant::now() + Duration::from_secs(secs),
            log,
        )
    }

    #[tokio::test]
    async fn exported_variables_and_directory_carry_to_the_next_command() {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = session(dir.path(), vec![("GREETING".into(), "hi".into())], 30);
        s.run("mkdir sub && cd sub && export OUT=\"$GREETING \\\"there\\\"\"")
            .await
            .expect("first");
        s.run("echo \"$OUT\" > file.txt; pwd")
            .await
            .expect("second");
        assert_eq!(s.exported("OUT").as_deref(), Some("hi \"there\""));
        let written = std::fs::read_to_string(dir.path().join("ws/sub/file.txt")).expect("file");
        assert_eq!(written, "hi \"there\"\n");
    }

    #[tokio::test]
    async fn a_failing_command_is_named_with_its_exit_code_and_secrets_are_masked() {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = session(
            dir.path(),
            vec![("TOKEN".into(), "s3cr3t-value".into())],
            30,
        );
        let err = s
            .run("echo \"token=$TOKEN\"; exit 3")
            .await
            .expect_err("fails");
        assert_eq!(
            err.to_string(),
            "Command did not exit successfully echo \"token=$TOKEN\"; exit 3 exit status 3"
        );
        let log = std::fs::read_to_string(dir.path().join("log")).expect("log");
        assert!(log.contains("token=****"), "{log}");
        assert!(!log.contains("s3cr3t-value"));
    }

    #[tokio::test]
    async fn the_server_environment_is_not_inherited() {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = session(dir.path(), vec![], 30);
        s.run("test -z \"$CARGO_PKG_NAME\"")
            .await
            .expect("not inherited");
    }

    #[tokio::test]
    async fn a_command_past_the_deadline_is_killed_with_its_children() {
        let dir = tempfile::tempdir().expect("dir");
        let mut s = session(dir.path(), vec![], 1);
        let marker = dir.path().join("ws/late");
        let started = Instant::now();
        let err = s
            .run("(sleep 3; touch late) & sleep 30")
            .await
            .expect_err("times out");
        assert!(err.to_string().starts_with("Command timed out"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(!marker.exists(), "the background child was killed too");
    }
}
