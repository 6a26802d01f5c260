//! The AWS credential chain, as the aws CLI and the SDKs walk it: the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), then the profile
//! (`--profile`, `AWS_PROFILE`, `default`) in the shared credentials file
//! (`AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`), then the same profile in the config
//! file (`AWS_CONFIG_FILE` or `~/.aws/config`, where it is `[profile NAME]`). Pure: the binary
//! hands in the environment and a way to read files.

use crate::Error;
use sluice_sigv4::Credentials;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the chain may look at.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub vars: BTreeMap<String, String>,
    pub home: Option<PathBuf>,
}

impl Environment {
    fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn file(&self, variable: &str, default: &str) -> Option<PathBuf> {
        match self.var(variable) {
            Some(path) => Some(PathBuf::from(path)),
            None => self.home.as_ref().map(|h| h.join(default)),
        }
    }

    /// The region: `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`.
    pub fn region(&self) -> String {
        self.var("AWS_REGION")
            .or_else(|| self.var("AWS_DEFAULT_REGION"))
            .unwrap_or("us-east-1")
            .to_string()
    }
}

/// The sections of an INI file: `[name]` then `key = value` lines.
fn sections(text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim().to_string());
            continue;
        }
        if let (Some(section), Some((key, value))) = (&current, line.split_once('=')) {
            out.entry(section.clone())
                .or_default()
                .insert(key.trim().to_string(), value.trim().to_string());
        }
    }
    out
}

fn from_section(section: &BTreeMap<String, String>) -> Option<Credentials> {
    Some(Credentials {
        access_key_id: section.get("aws_access_key_id")?.clone(),
        secret_access_key: section.get("aws_secret_access_key")?.clone(),
        session_token: section.get("aws_session_token").cloned(),
    })
}

/// Walks the chain; the error names every place it looked.
pub fn resolve(
    env: &Environment,
    profile: Option<&str>,
    read: impl Fn(&Path) -> Option<String>,
) -> Result<Credentials, Error> {
    if profile.is_none() {
        if let (Some(id), Some(secret)) = (
            env.var("AWS_ACCESS_KEY_ID"),
            env.var("AWS_SECRET_ACCESS_KEY"),
        ) {
            return Ok(Credentials {
                access_key_id: id.into(),
                secret_access_key: secret.into(),
                session_token: env.var("AWS_SESSION_TOKEN").map(str::to_string),
            });
        }
    }
    let profile = profile
        .or_else(|| env.var("AWS_PROFILE"))
        .unwrap_or("default");
    let mut looked = vec!["AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY".to_string()];
    if let Some(path) = env.file("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials") {
        looked.push(format!("[{profile}] in {}", path.display()));
        if let Some(found) = read(&path)
            .map(|text| sections(&text))
            .and_then(|s| s.get(profile).and_then(from_section))
        {
            return Ok(found);
        }
    }
    if let Some(path) = env.file("AWS_CONFIG_FILE", ".aws/config") {
        let name = if profile == "default" {
            "default".to_string()
        } else {
            format!("profile {profile}")
        };
        looked.push(format!("[{name}] in {}", path.display()));
        if let Some(found) = read(&path)
            .map(|text| sections(&text))
            .and_then(|s| s.get(&name).and_then(from_section))
        {
            return Ok(found);
        }
    }
    Err(Error::NoCredentials(looked.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Environment {
        Environment {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            home: Some(PathBuf::from("/home/dev")),
        }
    }

    const FILE: &str = "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s1\n\n# a comment\n[ci]\naws_access_key_id=AKIDCI\naws_secret_access_key=s2\n";

    #[test]
    fn the_environment_comes_first_then_the_profile_in_the_shared_file() {
        let read =
            |p: &Path| (p == Path::new("/home/dev/.aws/credentials")).then(|| FILE.to_string());
        let from_env = resolve(
            &env(&[
                ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                ("AWS_SECRET_ACCESS_KEY", "s0"),
            ]),
            None,
            read,
        )
        .expect("env");
        assert_eq!(from_env.access_key_id, "AKIDENV");
        assert_eq!(
            resolve(&env(&[]), None, read).expect("file").access_key_id,
            "AKIDDEFAULT"
        );
        assert_eq!(
            resolve(&env(&[("AWS_PROFILE", "ci")]), None, read)
                .expect("profile")
                .access_key_id,
            "AKIDCI"
        );
        let explicit = resolve(
            &env(&[
                ("AWS_ACCESS_KEY_ID", "AKIDENV"),
                ("AWS_SECRET_ACCESS_KEY", "s0"),
            ]),
            Some("ci"),
            read,
        )
        .expect("--profile wins over the environment");
        assert_eq!(explicit.access_key_id, "AKIDCI");
    }

    #[test]
    fn a_named_file_and_the_config_file_are_read_and_a_miss_names_every_place() {
        let read = |p: &Path| {
            (p == Path::new("/srv/config")).then(|| {
                "[profile deploy]\naws_access_key_id = AKIDCONF\naws_secret_access_key = s3\n"
                    .to_string()
            })
        };
        let found = resolve(
            &env(&[
                ("AWS_CONFIG_FILE", "/srv/config"),
                ("AWS_SHARED_CREDENTIALS_FILE", "/srv/none"),
            ]),
            Some("deploy"),
            read,
        )
        .expect("config file");
        assert_eq!(found.access_key_id, "AKIDCONF");
        let missing = resolve(&env(&[]), Some("nope"), read).expect_err("nothing");
        let text = missing.to_string();
        assert!(
            text.contains("[nope] in /home/dev/.aws/credentials"),
            "{text}"
        );
        assert!(
            text.contains("[profile nope] in /home/dev/.aws/config"),
            "{text}"
        );
    }
}
