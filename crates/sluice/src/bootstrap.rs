//! First-start setup in the data dir: the root account's access key, written to
//! `DATA_DIR/credentials` in the AWS shared-credentials format, and the key that signs
//! pagination tokens. Both files are created with mode 0600.

use crate::config::ServeOptions;
use anyhow::{Context, Result};
use sluice_service::Sluice;
use std::io::Write;
use std::path::Path;

const KEY_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_string(alphabet: &[u8], len: usize) -> Result<String> {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(bytes
        .iter()
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect())
}

fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

/// The pagination-token key, created on first start.
pub fn token_key(data_dir: &Path) -> Result<Vec<u8>> {
    let path = data_dir.join("token.key");
    if let Ok(key) = std::fs::read(&path) {
        if key.len() >= 32 {
            return Ok(key);
        }
    }
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    let _ = std::fs::remove_file(&path);
    write_private(&path, &key)?;
    Ok(key)
}

fn parse_credentials(text: &str) -> Option<(String, String)> {
    let mut id = None;
    let mut secret = None;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "aws_access_key_id" => id = Some(v.trim().to_string()),
                "aws_secret_access_key" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    Some((id?, secret?))
}

/// Makes sure the root access key exists in the store and in `DATA_DIR/credentials`.
pub async fn root_credentials(sluice: &Sluice, options: &ServeOptions) -> Result<()> {
    let path = options.data_dir.join("credentials");
    let (id, secret) = match std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| parse_credentials(&t))
    {
        Some(existing) => existing,
        None => {
            let id = match std::env::var("SLUICE_BOOTSTRAP_ACCESS_KEY_ID") {
                Ok(v) if !v.is_empty() => v,
                _ => format!("AKIA{}", random_string(KEY_ALPHABET, 16)?),
            };
            let secret = match std::env::var("SLUICE_BOOTSTRAP_SECRET_ACCESS_KEY") {
                Ok(v) if !v.is_empty() => v,
                _ => random_string(SECRET_ALPHABET, 40)?,
            };
            let text = format!(
                "[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\nregion = {}\n",
                options.region
            );
            let _ = std::fs::remove_file(&path);
            write_private(&path, text.as_bytes())?;
            (id, secret)
        }
    };
    sluice.ensure_root_access_key(&id, &secret).await?;
    eprintln!(
        "root credentials for {}: {} (profile [default]; use AWS_SHARED_CREDENTIALS_FILE={})",
        sluice.root_arn(),
        path.display(),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_file_is_read_back() {
        let text = "[default]\naws_access_key_id = AKIA1\naws_secret_access_key = s/x+\nregion = us-east-1\n";
        assert_eq!(
            parse_credentials(text),
            Some(("AKIA1".into(), "s/x+".into()))
        );
        assert_eq!(parse_credentials("[default]\n"), None);
    }
}
