//! `appspec.yml` for EC2/on-premises deployments (version 0.0, os linux): which files go where,
//! their permissions, and the scripts each lifecycle event runs. Parsing checks everything the
//! agent will rely on, so a bad appspec fails at `DownloadBundle`, before any script runs.

use crate::lifecycle::LifecycleEvent;
use serde::Deserialize;
use std::collections::BTreeMap;

/// CodeDeploy's limit on a hook's timeout, and its default.
pub const MAX_HOOK_TIMEOUT_SECS: u32 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileExistsBehavior {
    Disallow,
    Overwrite,
    Retain,
}

impl FileExistsBehavior {
    pub fn from_name(name: &str) -> Option<FileExistsBehavior> {
        match name.to_ascii_uppercase().as_str() {
            "DISALLOW" => Some(FileExistsBehavior::Disallow),
            "OVERWRITE" => Some(FileExistsBehavior::Overwrite),
            "RETAIN" => Some(FileExistsBehavior::Retain),
            _ => None,
        }
    }
}

/// One `files` entry: a path in the bundle (`/` is the whole bundle) and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileMapping {
    pub source: String,
    pub destination: String,
    pub file_exists_behavior: Option<FileExistsBehavior>,
}

/// One `permissions` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub object: String,
    pub pattern: String,
    pub except: Vec<String>,
    pub owner: Option<String>,
    pub group: Option<String>,
    /// The octal mode, as digits.
    pub mode: Option<u32>,
    /// `file`, `directory`, or both when empty.
    pub types: Vec<String>,
}

/// One script of a lifecycle event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    /// The script's path in the bundle.
    pub location: String,
    pub timeout_secs: u32,
    pub runas: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppSpec {
    pub files: Vec<FileMapping>,
    pub permissions: Vec<Permission>,
    pub hooks: BTreeMap<&'static str, Vec<Hook>>,
    pub file_exists_behavior: Option<FileExistsBehavior>,
}

impl AppSpec {
    /// The scripts of `event`, in order.
    pub fn hooks_of(&self, event: LifecycleEvent) -> &[Hook] {
        self.hooks
            .get(event.name())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("The appspec.yml is not valid: {0}")]
pub struct AppSpecError(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAppSpec {
    version: serde_yaml::Value,
    os: String,
    #[serde(default)]
    files: Option<Vec<RawFile>>,
    #[serde(default)]
    permissions: Option<Vec<RawPermission>>,
    #[serde(default)]
    hooks: Option<BTreeMap<String, Option<Vec<RawHook>>>>,
    #[serde(default)]
    file_exists_behavior: Option<String>,
    #[serde(default)]
    resources: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    source: String,
    destination: String,
    #[serde(default)]
    file_exists_behavior: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPermission {
    object: String,
    #[serde(default)]
    pattern: Option<String>,
    #[serde(default)]
    except: Option<Vec<String>>,
    #[serde(default)]
    owner: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    mode: Option<serde_yaml::Value>,
    #[serde(default, rename = "type")]
    types: Option<Vec<String>>,
    #[serde(default)]
    acls: Option<serde_yaml::Value>,
    #[serde(default)]
    context: Option<serde_yaml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHook {
    location: String,
    #[serde(default)]
    timeout: Option<serde_yaml::Value>,
    #[serde(default)]
    runas: Option<String>,
}

fn err(message: impl Into<String>) -> AppSpecError {
    AppSpecError(message.into())
}

fn behavior(value: Option<String>) -> Result<Option<FileExistsBehavior>, AppSpecError> {
    value
        .map(|name| {
            FileExistsBehavior::from_name(&name).ok_or_else(|| {
                err(format!(
                    "file_exists_behavior {name:?} is not DISALLOW, OVERWRITE or RETAIN"
                ))
            })
        })
        .transpose()
}

fn number(value: &serde_yaml::Value) -> Option<u64> {
    match value {
        serde_yaml::Value::Number(n) => n.as_u64(),
        serde_yaml::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Parses an `appspec.yml` for a Linux host.
pub fn parse(text: &str) -> Result<AppSpec, AppSpecError> {
    let raw: RawAppSpec = serde_yaml::from_str(text).map_err(|e| err(e.to_string()))?;
    let version = match &raw.version {
        serde_yaml::Value::Number(n) => n.as_f64(),
        serde_yaml::Value::String(s) => s.parse().ok(),
        _ => None,
    };
    if version != Some(0.0) {
        return Err(err("version must be 0.0"));
    }
    if raw.os != "linux" {
        return Err(err(format!(
            "os {:?} is not supported: this agent deploys to linux hosts",
            raw.os
        )));
    }
    if raw.resources.is_some() {
        return Err(err(
            "resources belong to Lambda and ECS deployments; an on-premises appspec has files and hooks",
        ));
    }
    let mut files = Vec::new();
    for file in raw.files.unwrap_or_default() {
        if !file.destination.starts_with('/') {
            return Err(err(format!(
                "the destination {:?} must be an absolute path",
                file.destination
            )));
        }
        if file.source.split('/').any(|part| part == "..") {
            return Err(err(format!(
                "the source {:?} leaves the bundle",
                file.source
            )));
        }
        files.push(FileMapping {
            source: file.source,
            destination: file.destination,
            file_exists_behavior: behavior(file.file_exists_behavior)?,
        });
    }
    let mut permissions = Vec::new();
    for permission in raw.permissions.unwrap_or_default() {
        if permission.acls.is_some() || permission.context.is_some() {
            return Err(err(
                "acls and context (SELinux) permissions are not supported",
            ));
        }
        let mode = match &permission.mode {
            None => None,
            Some(value) => {
                let digits = match value {
                    serde_yaml::Value::Number(n) => n.to_string(),
                    serde_yaml::Value::String(s) => s.clone(),
                    _ => String::new(),
                };
                Some(
                    u32::from_str_radix(&digits, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| err(format!("mode {digits:?} is not an octal mode")))?,
                )
            }
        };
        let types = permission.types.unwrap_or_default();
        if let Some(bad) = types.iter().find(|t| *t != "file" && *t != "directory") {
            return Err(err(format!(
                "permission type {bad:?} is not file or directory"
            )));
        }
        permissions.push(Permission {
            object: permission.object,
            pattern: permission.pattern.unwrap_or_else(|| "**".into()),
            except: permission.except.unwrap_or_default(),
            owner: permission.owner,
            group: permission.group,
            mode,
            types,
        });
    }
    let mut hooks = BTreeMap::new();
    for (name, scripts) in raw.hooks.unwrap_or_default() {
        let event = LifecycleEvent::from_name(&name)
            .filter(|e| e.takes_hooks())
            .ok_or_else(|| err(format!("{name} is not a lifecycle event that runs scripts")))?;
        let mut list = Vec::new();
        for hook in scripts.unwrap_or_default() {
            let timeout_secs = match &hook.timeout {
                None => MAX_HOOK_TIMEOUT_SECS,
                Some(value) => number(value)
                    .filter(|t| (1..=u64::from(MAX_HOOK_TIMEOUT_SECS)).contains(t))
                    .ok_or_else(|| {
                        err(format!(
                            "the timeout of {} must be between 1 and {MAX_HOOK_TIMEOUT_SECS} seconds",
                            hook.location
                        ))
                    })? as u32,
            };
            if hook.location.split('/').any(|part| part == "..") {
                return Err(err(format!(
                    "the hook {:?} leaves the bundle",
                    hook.location
                )));
            }
            list.push(Hook {
                location: hook.location,
                timeout_secs,
                runas: hook.runas,
            });
        }
        hooks.insert(event.name(), list);
    }
    Ok(AppSpec {
        files,
        permissions,
        hooks,
        file_exists_behavior: behavior(raw.file_exists_behavior)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "version: 0.0
os: linux
files:
  - source: /index.html
    destination: /var/www/html/
hooks:
  BeforeInstall:
    - location: scripts/install_dependencies
      timeout: 300
      runas: root
    - location: scripts/start_server
      timeout: 300
      runas: root
  ApplicationStop:
    - location: scripts/stop_server
      timeout: 300
      runas: root
";

    #[test]
    fn the_sample_application_appspec_parses() {
        let spec = parse(SAMPLE).expect("valid");
        assert_eq!(spec.files[0].destination, "/var/www/html/");
        let before = spec.hooks_of(LifecycleEvent::BeforeInstall);
        assert_eq!(before.len(), 2);
        assert_eq!(before[0].timeout_secs, 300);
        assert!(spec.hooks_of(LifecycleEvent::ValidateService).is_empty());
    }

    #[test]
    fn a_hook_without_timeout_gets_an_hour_and_more_is_refused() {
        let spec =
            parse("version: 0.0\nos: linux\nhooks:\n  ValidateService:\n    - location: v.sh\n")
                .expect("valid");
        assert_eq!(
            spec.hooks_of(LifecycleEvent::ValidateService)[0].timeout_secs,
            3600
        );
        let long = "version: 0.0\nos: linux\nhooks:\n  ValidateService:\n    - location: v.sh\n      timeout: 3601\n";
        assert!(parse(long).is_err());
    }

    #[test]
    fn unknown_events_other_systems_and_escapes_are_refused() {
        for bad in [
            "version: 0.0\nos: windows\n",
            "version: 1.0\nos: linux\n",
            "version: 0.0\nos: linux\nhooks:\n  Install:\n    - location: x\n",
            "version: 0.0\nos: linux\nhooks:\n  Deploy:\n    - location: x\n",
            "version: 0.0\nos: linux\nfiles:\n  - source: ../etc\n    destination: /tmp\n",
            "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: relative\n",
            "version: 0.0\nos: linux\npermissions:\n  - object: /x\n    mode: 999\n",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes_are_octal_and_behaviors_case_insensitive() {
        let spec = parse("version: 0.0\nos: linux\nfile_exists_behavior: overwrite\npermissions:\n  - object: /srv/app\n    mode: 755\n    type:\n      - file\n")
            .expect("valid");
        assert_eq!(spec.permissions[0].mode, Some(0o755));
        assert_eq!(
            spec.file_exists_behavior,
            Some(FileExistsBehavior::Overwrite)
        );
    }
}
