//! The CodeBuild buildspec subset Sluice runs (documented in docs/buildspec.md): `env.variables`,
//! `env.exported-variables`, `phases` (`install`, `pre_build`, `build`, `post_build`, each with
//! `commands` and `finally`), and `artifacts` (`files`, `base-directory`, `discard-paths`).
//! As in CodeBuild, `post_build` runs even when `build` failed; a failed `install` or
//! `pre_build` ends the build.

use crate::shell::{is_variable_name, Session};
use crate::{Error, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Component, Path};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildSpec {
    pub version: serde_yaml::Value,
    #[serde(default)]
    pub env: Env,
    #[serde(default)]
    pub phases: Phases,
    pub artifacts: Option<Artifacts>,
    /// Accepted and ignored: caching is not part of Sluice's subset.
    #[serde(default)]
    pub cache: Option<serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Env {
    #[serde(default)]
    pub variables: BTreeMap<String, serde_yaml::Value>,
    #[serde(default, rename = "exported-variables")]
    pub exported_variables: Vec<String>,
    #[serde(default)]
    pub shell: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Phases {
    pub install: Option<Phase>,
    pub pre_build: Option<Phase>,
    pub build: Option<Phase>,
    pub post_build: Option<Phase>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Phase {
    #[serde(default)]
    pub commands: Vec<String>,
    #[serde(default)]
    pub finally: Vec<String>,
    /// Accepted for compatibility; Sluice runs on the host's runtimes.
    #[serde(default, rename = "runtime-versions")]
    pub runtime_versions: Option<serde_yaml::Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Artifacts {
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default, rename = "base-directory")]
    pub base_directory: Option<String>,
    #[serde(default, rename = "discard-paths")]
    pub discard_paths: Option<serde_yaml::Value>,
    #[serde(default)]
    pub name: Option<String>,
}

fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl BuildSpec {
    pub fn parse(text: &str) -> Result<Self> {
        let spec: BuildSpec = serde_yaml::from_str(text)
            .map_err(|e| Error::Configuration(format!("the buildspec is not valid: {e}")))?;
        for name in spec
            .env
            .variables
            .keys()
            .chain(&spec.env.exported_variables)
        {
            if !is_variable_name(name) {
                return Err(Error::Configuration(format!(
                    "the buildspec names an invalid environment variable '{name}'"
                )));
            }
        }
        for (name, v) in &spec.env.variables {
            if scalar(v).is_none() {
                return Err(Error::Configuration(format!(
                    "env.variables.{name} must be a string, number or boolean"
                )));
            }
        }
        if let Some(shell) = spec.env.shell.as_deref().filter(|s| *s != "bash") {
            return Err(Error::Configuration(format!(
                "env.shell '{shell}' is not supported; Sluice runs buildspecs with bash"
            )));
        }
        Ok(spec)
    }

    /// `env.variables` as strings.
    pub fn variables(&self) -> Vec<(String, String)> {
        self.env
            .variables
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), scalar(v)?)))
            .collect()
    }

    /// Runs the phases; returns the exported variables.
    pub async fn run(&self, session: &mut Session) -> Result<BTreeMap<String, String>> {
        let p = &self.phases;
        let phases = [
            ("INSTALL", &p.install),
            ("PRE_BUILD", &p.pre_build),
            ("BUILD", &p.build),
        ];
        let mut failure: Option<(&str, Error)> = None;
        for (name, phase) in phases {
            if let Some(phase) = phase {
                if let Err(e) = run_phase(name, phase, session).await {
                    failure = Some((name, e));
                    break;
                }
            }
        }
        let post_runs = matches!(&failure, None | Some(("BUILD", _)));
        if let (Some(post), true) = (&p.post_build, post_runs) {
            if let Err(e) = run_phase("POST_BUILD", post, session).await {
                failure.get_or_insert(("POST_BUILD", e));
            }
        }
        if let Some((_, e)) = failure {
            return Err(e);
        }
        Ok(self
            .env
            .exported_variables
            .iter()
            .filter_map(|n| Some((n.clone(), session.exported(n)?)))
            .collect())
    }
}

async fn run_phase(name: &str, phase: &Phase, session: &mut Session) -> Result<()> {
    session
        .log()
        .line(&format!("[Container] Entering phase {name}"));
    let mut result = Ok(());
    for command in &phase.commands {
        if let Err(e) = session.run(command).await {
            result = Err(Error::Failed(format!("Error in {name} phase: {e}")));
            break;
        }
    }
    for command in &phase.finally {
        if let Err(e) = session.run(command).await {
            result = result.and(Err(Error::Failed(format!("Error in {name} phase: {e}"))));
        }
    }
    session.log().line(&format!(
        "[Container] Phase complete: {name} State: {}",
        if result.is_ok() {
            "SUCCEEDED"
        } else {
            "FAILED"
        }
    ));
    result
}

/// A relative path that stays inside its root.
pub fn safe_relative(path: &str) -> Result<&Path> {
    let p = Path::new(path);
    if p.components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
    {
        Ok(p)
    } else {
        Err(Error::Configuration(format!(
            "'{path}' must be a relative path inside the source"
        )))
    }
}

impl Artifacts {
    fn discard(&self) -> bool {
        match &self.discard_paths {
            Some(serde_yaml::Value::Bool(b)) => *b,
            Some(serde_yaml::Value::String(s)) => s.eq_ignore_ascii_case("yes") || s == "true",
            _ => false,
        }
    }

    /// Copies the files the patterns select from `source` (under `base-directory`) into `out`.
    /// Returns how many files were selected.
    pub fn collect(&self, source: &Path, out: &Path) -> Result<usize> {
        let base = match &self.base_directory {
            Some(b) => source.join(safe_relative(b)?),
            None => source.to_path_buf(),
        };
        let patterns = self
            .files
            .iter()
            .map(|f| {
                crate::glob::to_regex(f).map_err(|e| {
                    Error::Configuration(format!(
                        "artifacts.files '{f}' is not a valid pattern: {e}"
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut files = Vec::new();
        walk(&base, &base, &mut files)?;
        let mut count = 0;
        for rel in files {
            let rel_str = rel.to_string_lossy().replace('\\', "/");
            if !patterns.iter().any(|p| p.is_match(&rel_str)) {
                continue;
            }
            let target = if self.discard() {
                out.join(rel.file_name().unwrap_or_default())
            } else {
                out.join(&rel)
            };
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(base.join(&rel), &target)?;
            count += 1;
        }
        if count == 0 {
            return Err(Error::Failed(format!(
                "no artifact files matched {:?} under {}",
                self.files,
                self.base_directory.as_deref().unwrap_or(".")
            )));
        }
        Ok(count)
    }
}

/// Regular files under `dir`, relative to `root`; links are not followed.
fn walk(root: &Path, dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::Failed(format!(
                "the artifact base directory {} does not exist",
                dir.display()
            )))
        }
        Err(e) => return Err(e.into()),
    };
    for entry in entries {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(root, &entry.path(), out)?;
        } else if kind.is_file() {
            if let Ok(rel) = entry.path().strip_prefix(root) {
                out.push(rel.to_path_buf());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::JobLog;
    use sluice_sandbox::{Jail, Sandbox};
    use std::time::{Duration, Instant};

    const SPEC: &str = r#"
version: 0.2
env:
  variables:
    GREETING: hello
    COUNT: 3
  exported-variables:
    - RESULT
phases:
  install:
    runtime-versions:
      python: 3.11
    commands:
      - mkdir -p out/sub
  build:
    commands:
      - echo "$GREETING $COUNT" > out/sub/a.txt
      - export RESULT=built
  post_build:
    commands:
      - echo done > out/b.log
artifacts:
  files:
    - '**/*.txt'
  base-directory: out
  discard-paths: yes
"#;

    fn session(dir: &Path, spec: &BuildSpec) -> Session {
        let ws = dir.join("ws");
        std::fs::create_dir_all(&ws).expect("ws");
        let log = JobLog::create(&dir.join("log"), vec![]).expect("log");
        Session::new(
            Sandbox::unconfined(),
            Jail::under(&ws, &ws).expect("jail"),
            dir,
            spec.variables(),
            Instant::now() + Duration::from_secs(60),
            log,
        )
    }

    #[tokio::test]
    async fn phases_run_in_order_and_artifacts_are_selected_from_the_base_directory() {
        let dir = tempfile::tempdir().expect("dir");
        let spec = BuildSpec::parse(SPEC).expect("parses");
        let mut s = session(dir.path(), &spec);
        let exported = spec.run(&mut s).await.expect("runs");
        assert_eq!(exported.get("RESULT").map(String::as_str), Some("built"));
        let out = dir.path().join("artifact");
        let n = spec
            .artifacts
            .as_ref()
            .expect("artifacts")
            .collect(&dir.path().join("ws"), &out)
            .expect("collects");
        assert_eq!(n, 1);
        assert_eq!(
            std::fs::read_to_string(out.join("a.txt")).expect("flattened"),
            "hello 3\n"
        );
    }

    #[tokio::test]
    async fn post_build_runs_after_a_failed_build_and_the_failure_names_the_command() {
        let dir = tempfile::tempdir().expect("dir");
        let spec = BuildSpec::parse(
            "version: 0.2\nphases:\n  build:\n    commands:\n      - 'false'\n  post_build:\n    commands:\n      - touch post-ran\n",
        )
        .expect("parses");
        let mut s = session(dir.path(), &spec);
        let err = spec.run(&mut s).await.expect_err("fails");
        assert_eq!(
            err.to_string(),
            "Error in BUILD phase: Command did not exit successfully false exit status 1"
        );
        assert!(dir.path().join("ws/post-ran").exists());
    }

    #[test]
    fn unsafe_or_unknown_buildspec_content_is_refused() {
        assert!(BuildSpec::parse("version: 0.2\nphasez: {}\n").is_err());
        assert!(BuildSpec::parse("version: 0.2\nenv:\n  variables:\n    'A-B': x\n").is_err());
        assert!(safe_relative("../etc").is_err());
        assert!(safe_relative("/etc").is_err());
        assert!(safe_relative("dist/app").is_ok());
    }
}
