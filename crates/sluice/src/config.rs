//! `sluice serve` options: flags, then `SLUICE_*` environment variables, then the TOML config
//! file, then the defaults below. `docs/config.md` documents each field.

use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Deserialize;
use std::path::PathBuf;

/// The address `sluice serve` listens on by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8240";
/// Where state lives by default, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./sluice-data";
pub const DEFAULT_REGION: &str = "us-east-1";
pub const DEFAULT_ACCOUNT_ID: &str = "111111111111";

/// Flags of `sluice serve`; each may also come from the environment.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8240].
    #[arg(long, env = "SLUICE_LISTEN")]
    listen: Option<String>,
    /// Directory holding the database, credentials and artifacts [default: ./sluice-data].
    #[arg(long, env = "SLUICE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Region named in ARNs [default: us-east-1].
    #[arg(long, env = "SLUICE_REGION")]
    region: Option<String>,
    /// Twelve-digit account id named in ARNs [default: 111111111111].
    #[arg(long, env = "SLUICE_ACCOUNT_ID")]
    account_id: Option<String>,
    /// A TOML file with any of the keys listen, data_dir, region, account_id.
    #[arg(long, env = "SLUICE_CONFIG")]
    config: Option<PathBuf>,
}

/// The config file's keys, all optional.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    region: Option<String>,
    account_id: Option<String>,
}

/// The resolved options of `sluice serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: String,
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
}

pub fn resolve(args: ServeArgs) -> Result<ServeOptions> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the config file {}", path.display()))?;
            toml::from_str::<FileConfig>(&text)
                .with_context(|| format!("parsing the config file {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let options = ServeOptions {
        listen: args
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into()),
        data_dir: args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
        region: args
            .region
            .or(file.region)
            .unwrap_or_else(|| DEFAULT_REGION.into()),
        account_id: args
            .account_id
            .or(file.account_id)
            .unwrap_or_else(|| DEFAULT_ACCOUNT_ID.into()),
    };
    if options.account_id.len() != 12 || !options.account_id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("account id '{}' must be twelve digits", options.account_id);
    }
    if options.region.is_empty()
        || !options
            .region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        bail!("region '{}' is not valid", options.region);
    }
    Ok(options)
}
