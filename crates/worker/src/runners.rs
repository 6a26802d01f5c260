//! The build and test runners: the `Commands` action and CodeBuild-style projects. Each runs in
//! a workspace whose input artifacts are already unpacked, and leaves its output artifact (if
//! any) in a directory for the caller to pack and store.

use crate::buildspec::{safe_relative, BuildSpec};
use crate::log::JobLog;
use crate::shell::{is_variable_name, Session};
use crate::{Error, Result};
use serde::Deserialize;
use sluice_model::EnvironmentVariable;
use sluice_sandbox::{Jail, Sandbox};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A job's directories: one per input artifact, one for the output, one for the runner's own
/// state (never packed).
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Everything the job may write: the inputs, the output, the state, its home and temp dir.
    pub root: PathBuf,
    pub inputs: Vec<(String, PathBuf)>,
    pub output: PathBuf,
    pub state: PathBuf,
}

impl Workspace {
    /// Lays out `root/src/<n>`, `root/out`, `root/state`.
    pub fn create(root: &Path, input_names: &[String]) -> Result<Self> {
        let inputs: Vec<(String, PathBuf)> = input_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), root.join("src").join(i.to_string())))
            .collect();
        for (_, dir) in &inputs {
            std::fs::create_dir_all(dir)?;
        }
        let ws = Self {
            root: root.to_path_buf(),
            inputs,
            output: root.join("out"),
            state: root.join("state"),
        };
        std::fs::create_dir_all(&ws.output)?;
        std::fs::create_dir_all(&ws.state)?;
        Ok(ws)
    }

    /// The sandbox's view of this workspace, starting in `workdir`.
    pub fn jail(&self, workdir: &Path) -> Result<Jail> {
        Ok(Jail::under(&self.root, workdir)?)
    }

    fn primary(&self, name: Option<&str>) -> Result<&(String, PathBuf)> {
        match name {
            Some(n) => self.inputs.iter().find(|(i, _)| i == n).ok_or_else(|| {
                Error::Configuration(format!("PrimarySource '{n}' is not an input artifact"))
            }),
            None => self
                .inputs
                .first()
                .ok_or_else(|| Error::Configuration("the action has no input artifact".into())),
        }
    }
}

/// What a run produced besides its output directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOutput {
    pub output_variables: BTreeMap<String, String>,
    pub summary: String,
    /// Whether `Workspace::output` holds the output artifact.
    pub has_output: bool,
}

/// A CodeBuild project as Sluice's configuration defines it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Project {
    /// The buildspec's path in the primary source (default `buildspec.yml`).
    #[serde(default)]
    pub buildspec: Option<String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub timeout_minutes: Option<u64>,
}

/// Plaintext variables from the action; other types cannot be resolved here.
fn plaintext(vars: &[EnvironmentVariable]) -> Result<Vec<(String, String)>> {
    vars.iter()
        .map(|v| match v.kind.as_deref() {
            None | Some("PLAINTEXT") => {
                if is_variable_name(&v.name) {
                    Ok((v.name.clone(), v.value.clone()))
                } else {
                    Err(Error::Configuration(format!(
                        "'{}' is not a valid environment variable name",
                        v.name
                    )))
                }
            }
            Some(kind) => Err(Error::Configuration(format!(
                "environment variable {} is of type {kind}, which this server cannot resolve; use PLAINTEXT",
                v.name
            ))),
        })
        .collect()
}

/// Gives the workspace to the sandbox user, off the async runtime (it walks the whole tree).
async fn hand_over(sandbox: &Sandbox, root: &Path) -> Result<()> {
    let (sandbox, root) = (sandbox.clone(), root.to_path_buf());
    tokio::task::spawn_blocking(move || sandbox.hand_over(&root))
        .await
        .map_err(|e| Error::Io(e.to_string()))??;
    Ok(())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The `Commands` action: its commands in the first input, in one session; the output
/// artifact is that directory afterwards.
#[allow(clippy::too_many_arguments)]
pub async fn run_commands(
    commands: &[String],
    environment: &[EnvironmentVariable],
    output_variables: &[String],
    wants_output: bool,
    output_files: Option<&[String]>,
    sandbox: &Sandbox,
    ws: &Workspace,
    deadline: Instant,
    log: JobLog,
) -> Result<RunOutput> {
    if commands.is_empty() {
        return Err(Error::Configuration(
            "the Commands action has no commands".into(),
        ));
    }
    let (_, primary) = ws.primary(None)?;
    let mut env = plaintext(environment)?;
    env.push(("CODEBUILD_SRC_DIR".into(), primary.display().to_string()));
    let jail = ws.jail(primary)?;
    hand_over(sandbox, &ws.root).await?;
    let mut session = Session::new(sandbox.clone(), jail, &ws.state, env, deadline, log);
    for c in commands {
        session.run(c).await?;
    }
    let vars = output_variables
        .iter()
        .filter_map(|n| Some((n.clone(), session.exported(n)?)))
        .collect();
    if wants_output {
        let (from, to) = (primary.clone(), ws.output.clone());
        // `outputArtifacts[].files` selects what goes in, as a buildspec's artifacts do.
        let selection = output_files.map(|files| crate::buildspec::Artifacts {
            files: files.to_vec(),
            ..Default::default()
        });
        tokio::task::spawn_blocking(move || match selection {
            Some(selection) => selection.collect(&from, &to).map(|_| ()),
            None => copy_dir(&from, &to),
        })
        .await
        .map_err(|e| Error::Io(e.to_string()))??;
    }
    Ok(RunOutput {
        output_variables: vars,
        summary: format!("{} commands succeeded", commands.len()),
        has_output: wants_output,
    })
}

/// A CodeBuild action: the project's buildspec from the primary source, variables from the
/// buildspec, then the project, then the action (later ones win, as in CodeBuild).
#[allow(clippy::too_many_arguments)]
pub async fn run_codebuild(
    project_name: &str,
    project: &Project,
    configuration: &BTreeMap<String, String>,
    wants_output: bool,
    sandbox: &Sandbox,
    ws: &Workspace,
    deadline: Instant,
    log: JobLog,
) -> Result<RunOutput> {
    let (_, primary) = ws.primary(configuration.get("PrimarySource").map(String::as_str))?;
    let spec_path = project.buildspec.as_deref().unwrap_or("buildspec.yml");
    let spec_file = primary.join(safe_relative(spec_path)?);
    let text = std::fs::read_to_string(&spec_file).map_err(|_| {
        Error::Configuration(format!(
            "YAML_FILE_ERROR: the buildspec {spec_path} was not found in the source"
        ))
    })?;
    let spec = BuildSpec::parse(&text)?;
    let mut env: BTreeMap<String, String> = spec.variables().into_iter().collect();
    env.extend(project.environment.clone());
    if let Some(json) = configuration.get("EnvironmentVariables") {
        #[derive(Deserialize)]
        struct Var {
            name: String,
            value: String,
            #[serde(rename = "type")]
            kind: Option<String>,
        }
        let vars: Vec<Var> = serde_json::from_str(json).map_err(|e| {
            Error::Configuration(format!(
                "EnvironmentVariables is not a valid JSON list: {e}"
            ))
        })?;
        let vars: Vec<EnvironmentVariable> = vars
            .into_iter()
            .map(|v| EnvironmentVariable {
                name: v.name,
                value: v.value,
                kind: v.kind,
            })
            .collect();
        env.extend(plaintext(&vars)?);
    }
    env.insert("CODEBUILD_SRC_DIR".into(), primary.display().to_string());
    env.insert("CODEBUILD_PROJECT_NAME".into(), project_name.into());
    for (name, dir) in &ws.inputs {
        if is_variable_name(name) {
            env.insert(
                format!("CODEBUILD_SRC_DIR_{name}"),
                dir.display().to_string(),
            );
        }
    }
    let jail = ws.jail(primary)?;
    hand_over(sandbox, &ws.root).await?;
    let mut session = Session::new(
        sandbox.clone(),
        jail,
        &ws.state,
        env.into_iter().collect(),
        deadline,
        log,
    );
    let exported = spec.run(&mut session).await?;
    let has_output =
        match (&spec.artifacts, wants_output) {
            (Some(a), true) => {
                a.collect(primary, &ws.output)?;
                true
            }
            (None, true) => return Err(Error::Configuration(
                "the action declares an output artifact but the buildspec has no artifacts section"
                    .into(),
            )),
            _ => false,
        };
    Ok(RunOutput {
        output_variables: exported,
        summary: format!("Build of project {project_name} succeeded"),
        has_output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn commands_run_in_the_input_and_export_output_variables() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Workspace::create(dir.path(), &["Src".into()]).expect("ws");
        std::fs::write(ws.inputs[0].1.join("in.txt"), "abc").expect("write");
        let log = JobLog::create(&dir.path().join("log"), vec![]).expect("log");
        let out = run_commands(
            &[
                "wc -c < in.txt > count.txt".into(),
                "export COUNT=$(cat count.txt)".into(),
            ],
            &[EnvironmentVariable {
                name: "STAGE".into(),
                value: "beta".into(),
                kind: None,
            }],
            &["COUNT".into()],
            true,
            None,
            &Sandbox::unconfined(),
            &ws,
            Instant::now() + Duration::from_secs(30),
            log,
        )
        .await
        .expect("runs");
        assert_eq!(
            out.output_variables.get("COUNT").map(String::as_str),
            Some("3")
        );
        assert!(ws.output.join("count.txt").exists());
    }

    #[tokio::test]
    async fn output_files_select_what_goes_into_the_output_artifact() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Workspace::create(dir.path(), &["Src".into()]).expect("ws");
        let log = JobLog::create(&dir.path().join("log"), vec![]).expect("log");
        run_commands(
            &["mkdir -p dist/js && touch dist/app.js dist/js/x.js notes.txt".into()],
            &[],
            &[],
            true,
            Some(&["dist/**/*.js".to_string()]),
            &Sandbox::unconfined(),
            &ws,
            Instant::now() + Duration::from_secs(30),
            log,
        )
        .await
        .expect("runs");
        assert!(ws.output.join("dist/app.js").exists());
        assert!(ws.output.join("dist/js/x.js").exists());
        assert!(
            !ws.output.join("notes.txt").exists(),
            "only the selected files"
        );
    }

    #[tokio::test]
    async fn unresolvable_variable_types_fail_with_a_clear_message() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Workspace::create(dir.path(), &["Src".into()]).expect("ws");
        let log = JobLog::create(&dir.path().join("log"), vec![]).expect("log");
        let err = run_commands(
            &["true".into()],
            &[EnvironmentVariable {
                name: "DB".into(),
                value: "arn:secret".into(),
                kind: Some("SECRETS_MANAGER".into()),
            }],
            &[],
            false,
            None,
            &Sandbox::unconfined(),
            &ws,
            Instant::now() + Duration::from_secs(30),
            log,
        )
        .await
        .expect_err("refused");
        assert!(err.to_string().contains("SECRETS_MANAGER"), "{err}");
    }

    #[tokio::test]
    async fn a_missing_buildspec_is_a_yaml_file_error() {
        let dir = tempfile::tempdir().expect("dir");
        let ws = Workspace::create(dir.path(), &["Src".into()]).expect("ws");
        let log = JobLog::create(&dir.path().join("log"), vec![]).expect("log");
        let err = run_codebuild(
            "p",
            &Project::default(),
            &BTreeMap::new(),
            false,
            &Sandbox::unconfined(),
            &ws,
            Instant::now() + Duration::from_secs(30),
            log,
        )
        .await
        .expect_err("no buildspec");
        assert!(err.to_string().starts_with("YAML_FILE_ERROR"), "{err}");
    }
}
