//! First-start setup in the data dir: the root account's access key, written to
//! `DATA_DIR/credentials` in the AWS shared-credentials format, the key that signs pagination
//! tokens and console sessions, and the master key that seals secrets at rest
//! (`SLUICE_TOKEN_KEY` and `SLUICE_MASTER_KEY` instead, when set: 64 hex digits or base64 of 32
//! bytes; replicas share them). The files are created with mode 0600.

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

/// The key of pagination tokens and console sessions: from `SLUICE_TOKEN_KEY`, else
/// `DATA_DIR/token.key`, created on first start.
pub fn token_key(data_dir: &Path) -> Result<Vec<u8>> {
    if let Ok(text) = std::env::var("SLUICE_TOKEN_KEY") {
        return parse_master_key(text.trim())
            .map(|key| key.0.to_vec())
            .context("SLUICE_TOKEN_KEY must be 64 hex digits or base64 of 32 bytes");
    }
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

/// The master key: from `SLUICE_MASTER_KEY`, else `DATA_DIR/master.key`, created on first
/// start. Keep a copy somewhere safe: without it the sealed secrets cannot be read.
pub fn master_key(data_dir: &Path) -> Result<sluice_artifacts::crypto::Key> {
    if let Ok(text) = std::env::var("SLUICE_MASTER_KEY") {
        return parse_master_key(text.trim())
            .context("SLUICE_MASTER_KEY must be 64 hex digits or base64 of 32 bytes");
    }
    let path = data_dir.join("master.key");
    if let Ok(bytes) = std::fs::read(&path) {
        let key: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} must hold exactly 32 bytes", path.display()))?;
        return Ok(sluice_artifacts::crypto::Key(key));
    }
    let key = sluice_artifacts::crypto::Key::generate()?;
    write_private(&path, &key.0)?;
    Ok(key)
}

fn parse_master_key(text: &str) -> Result<sluice_artifacts::crypto::Key> {
    use base64::Engine;
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()?
    } else {
        base64::engine::general_purpose::STANDARD.decode(text)?
    };
    let key: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("the key is {} bytes, not 32", bytes.len()))?;
    Ok(sluice_artifacts::crypto::Key(key))
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
    fn master_keys_are_read_as_hex_or_base64_of_32_bytes() {
        let hex = "00".repeat(31) + "ff";
        assert_eq!(parse_master_key(&hex).expect("hex").0[31], 0xff);
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(parse_master_key(&b64).expect("base64").0, [7u8; 32]);
        assert!(parse_master_key("short").is_err());
        assert!(
            parse_master_key(&base64::engine::general_purpose::STANDARD.encode([1u8; 16])).is_err()
        );
    }

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
