//! Bootstrap and recovery straight on the data dir (no API, no credentials needed beyond
//! access to the files): make an IAM user with policies and a key, list users, deactivate a
//! key, and check the audit trail's hash chain.

use crate::config;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use sluice_service::{ChainCheck, PrincipalKind, Sluice};

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create an IAM user, attach managed policies and print a new access key as JSON.
    CreateUser {
        name: String,
        /// A managed policy to attach, by ARN or by the name of a built-in one
        /// (e.g. AdministratorAccess, AWSCodePipelineFullAccess); repeatable.
        #[arg(long = "policy")]
        policies: Vec<String>,
        #[command(flatten)]
        serve: config::ServeArgs,
    },
    /// List the IAM users and their access keys.
    ListUsers {
        #[command(flatten)]
        serve: config::ServeArgs,
    },
    /// Keys that encrypt artifacts: `sluice admin keys create|list|rotate|disable|enable`.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Copy a data dir — live or not — to DIR, consistently: the database as one committed
    /// state, then the blobs, repositories and keys. DIR is then a data dir of its own:
    /// restore by starting `sluice serve --data-dir DIR` (or moving it into place).
    Backup {
        /// Where the copy goes; must not exist yet.
        dir: std::path::PathBuf,
        #[command(flatten)]
        serve: config::ServeArgs,
    },
    /// Connections of CodeStarSourceConnection sources: `sluice admin connections list|complete`.
    Connections {
        #[command(subcommand)]
        command: ConnectionsCommand,
    },
    /// Messages the outbox could not deliver after every retry (SNS deliveries, function
    /// invocations, a rule's pipeline starts), newest first: when, to whom, why.
    Undelivered {
        /// How many to list.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        serve: config::ServeArgs,
    },
    /// Deactivate an access key of a user (a leaked key stops working at once).
    DeactivateKey {
        user: String,
        access_key_id: String,
        #[command(flatten)]
        serve: config::ServeArgs,
    },
}

#[derive(Subcommand)]
pub enum ConnectionsCommand {
    /// List connections: ARN, name, provider type, status.
    List {
        #[command(flatten)]
        serve: config::ServeArgs,
    },
    /// Complete a connection (AWS does it with a handshake in its console): say where its
    /// repositories are — `hosted` for this server's own, an `https://` base URL, or an
    /// absolute directory — and the token to fetch with, read from a file. It is AVAILABLE
    /// from then on.
    Complete {
        arn: String,
        #[arg(long)]
        url: String,
        /// A file holding the token (kept off the command line and out of shell history).
        #[arg(long)]
        token_file: Option<std::path::PathBuf>,
        #[command(flatten)]
        serve: config::ServeArgs,
    },
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a customer-managed key; prints its id and ARN as JSON.
    Create {
        /// An alias, `alias/NAME`, to name the key by in `artifactStore.encryptionKey.id`.
        #[arg(long)]
        alias: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        serve: config::ServeArgs,
    },
    /// List keys: id, state, versions, alias, ARN.
    List {
        #[command(flatten)]
        serve: config::ServeArgs,
    },
    /// Add new key material; objects written from now on use it, older ones keep opening.
    Rotate {
        /// Key id, key ARN, alias or alias ARN.
        key: String,
        #[command(flatten)]
        serve: config::ServeArgs,
    },
    /// Stop a key from encrypting or decrypting anything.
    Disable {
        key: String,
        #[command(flatten)]
        serve: config::ServeArgs,
    },
    Enable {
        key: String,
        #[command(flatten)]
        serve: config::ServeArgs,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the whole trail and check every event's link to the one before.
    Verify {
        #[command(flatten)]
        serve: config::ServeArgs,
        /// Check the chain against this copy of `audit-anchor` (kept off the machine), instead of
        /// the data dir's own: whoever can write the data dir can put an older anchor back, but
        /// not one a copy elsewhere already holds.
        #[arg(long, value_name = "FILE")]
        anchor: Option<std::path::PathBuf>,
    },
}

async fn with_sluice<T, F>(serve: config::ServeArgs, f: F) -> Result<T>
where
    F: AsyncFnOnce(&Sluice) -> Result<T>,
{
    open_and(
        serve,
        crate::Chain::KeyLegacy,
        async |s: &Sluice, _: &config::ServeOptions| f(s).await,
    )
    .await
}

async fn open_and<T, F>(serve: config::ServeArgs, chain: crate::Chain, f: F) -> Result<T>
where
    F: AsyncFnOnce(&Sluice, &config::ServeOptions) -> Result<T>,
{
    let options = config::resolve(serve)?;
    crate::require_existing_data_dir(&options)?;
    let (store, sluice) = crate::open(&options, None, chain).await?;
    let out = f(&sluice, &options).await;
    store.close().await;
    out
}

/// The account root as a caller, for operations made on its behalf here.
fn root(sluice: &Sluice) -> sluice_service::Caller {
    sluice_service::Caller {
        arn: sluice.root_arn(),
        access_key_id: String::new(),
        principal: None,
        principal_id: None,
    }
}

pub async fn admin(command: AdminCommand) -> Result<()> {
    match command {
        AdminCommand::Backup { dir, serve } => backup(serve, &dir),
        AdminCommand::CreateUser {
            name,
            policies,
            serve,
        } => {
            with_sluice(serve, async |s: &Sluice| {
                s.create_user(&name, None).await?;
                for p in &policies {
                    let arn = if p.starts_with("arn:") {
                        p.clone()
                    } else {
                        format!("arn:aws:iam::aws:policy/{p}")
                    };
                    s.attach_policy(PrincipalKind::User, &name, &arn).await?;
                }
                let (key, _) = s.create_access_key(Some(&name), &root(s)).await?;
                println!(
                    "{}",
                    serde_json::json!({
                        "UserName": name,
                        "AccessKeyId": key.access_key_id,
                        "SecretAccessKey": key.secret_access_key.expose(),
                    })
                );
                Ok(())
            })
            .await
        }
        AdminCommand::ListUsers { serve } => {
            with_sluice(serve, async |s: &Sluice| {
                for u in s.list_principals(PrincipalKind::User, None).await? {
                    let (keys, _) = s.list_access_keys(Some(&u.name), &root(s)).await?;
                    let keys: Vec<String> = keys
                        .iter()
                        .map(|k| format!("{} ({})", k.access_key_id, k.status))
                        .collect();
                    println!("{}\t{}\t{}", u.name, u.arn, keys.join(", "));
                }
                Ok(())
            })
            .await
        }
        AdminCommand::Undelivered { limit, serve } => {
            with_sluice(serve, async |s: &Sluice| {
                for u in s.undelivered(limit).await? {
                    println!(
                        "{}\t{}\t{}\t{} attempt(s)\t{}",
                        sluice_model::time::iso_seconds(u.failed_ms),
                        u.kind,
                        u.topic,
                        u.attempts,
                        u.error
                    );
                }
                Ok(())
            })
            .await
        }
        AdminCommand::Keys { command } => keys(command).await,
        AdminCommand::Connections { command } => connections(command).await,
        AdminCommand::DeactivateKey {
            user,
            access_key_id,
            serve,
        } => {
            with_sluice(serve, async |s: &Sluice| {
                s.update_access_key(Some(&user), &root(s), &access_key_id, "Inactive")
                    .await?;
                eprintln!("{access_key_id} of {user} is inactive");
                Ok(())
            })
            .await
        }
    }
}

async fn connections(command: ConnectionsCommand) -> Result<()> {
    match command {
        ConnectionsCommand::List { serve } => {
            with_sluice(serve, async |s: &Sluice| {
                let mut token = None;
                loop {
                    let page = s.list_connections(None, None, token.as_deref()).await?;
                    for c in page.items {
                        println!("{}\t{}\t{}\t{}", c.arn, c.name, c.provider_type, c.status);
                    }
                    match page.next_token {
                        Some(next) => token = Some(next),
                        None => return Ok(()),
                    }
                }
            })
            .await
        }
        ConnectionsCommand::Complete {
            arn,
            url,
            token_file,
            serve,
        } => {
            let token = match token_file {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?
                        .trim()
                        .to_string(),
                ),
                None => None,
            };
            with_sluice(serve, async |s: &Sluice| {
                s.complete_connection(&arn, &url, token.as_deref()).await?;
                eprintln!("{arn} is AVAILABLE: its repositories are at {url}");
                Ok(())
            })
            .await
        }
    }
}

async fn keys(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create {
            alias,
            description,
            serve,
        } => {
            with_sluice(serve, async |s: &Sluice| {
                let key = s.create_key(alias.as_deref(), &description).await?;
                println!(
                    "{}",
                    serde_json::json!({"KeyId": key.key_id, "Arn": key.arn, "Alias": key.alias})
                );
                Ok(())
            })
            .await
        }
        KeysCommand::List { serve } => {
            with_sluice(serve, async |s: &Sluice| {
                s.ensure_default_key().await?;
                for k in s.list_keys().await? {
                    println!(
                        "{}\t{}\tv{}\t{}\t{}",
                        k.record.key_id,
                        k.record.state,
                        k.versions,
                        k.record.alias.as_deref().unwrap_or("-"),
                        k.record.arn
                    );
                }
                Ok(())
            })
            .await
        }
        KeysCommand::Rotate { key, serve } => {
            with_sluice(serve, async |s: &Sluice| {
                let version = s.rotate_key(&key).await?;
                eprintln!("{key} now encrypts with version {version}");
                Ok(())
            })
            .await
        }
        KeysCommand::Disable { key, serve } => set_enabled(serve, &key, false).await,
        KeysCommand::Enable { key, serve } => set_enabled(serve, &key, true).await,
    }
}

async fn set_enabled(serve: config::ServeArgs, key: &str, enabled: bool) -> Result<()> {
    with_sluice(serve, async |s: &Sluice| {
        s.set_key_enabled(key, enabled).await?;
        let state = if enabled { "enabled" } else { "disabled" };
        eprintln!("{key} is {state}");
        Ok(())
    })
    .await
}

pub async fn audit(command: AuditCommand) -> Result<()> {
    let AuditCommand::Verify { serve, anchor } = command;
    // Verifying only reads: it never relinks a chain it is asked to judge.
    let check = open_and(
        serve,
        crate::Chain::AsItIs,
        async |s: &Sluice, options: &config::ServeOptions| {
            let anchor = match &anchor {
                Some(copy) => Some(
                    crate::read_anchor(s, copy)?
                        .with_context(|| format!("{} does not exist", copy.display()))?,
                ),
                None => crate::read_anchor(s, &options.data_dir.join(crate::AUDIT_ANCHOR))?,
            };
            Ok(s.verify_audit_chain(anchor.as_ref()).await?)
        },
    )
    .await?;
    match check {
        ChainCheck::Intact {
            events,
            pruned,
            last_hash,
        } => {
            if pruned > 0 {
                println!("audit trail intact: {events} events after {pruned} pruned by retention, last hash {last_hash}");
            } else {
                println!("audit trail intact: {events} events, last hash {last_hash}");
            }
            Ok(())
        }
        ChainCheck::Broken {
            seq,
            event_id,
            reason,
        } => bail!("audit trail broken at event #{seq} ({event_id}): {reason}"),
    }
}

/// The files of a data dir a backup copies besides the database: keys, the mark of a keyed
/// audit chain, and the directories of objects and repositories.
const BACKED_UP_FILES: [&str; 4] = [
    "master.key",
    "token.key",
    "credentials",
    "audit-chain.keyed",
];
const BACKED_UP_DIRS: [&str; 2] = ["blobs", "repos"];

fn backup(serve: config::ServeArgs, dest: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let options = config::resolve(serve)?;
    if let Some(url) = &options.database_url {
        bail!(
            "the state is in PostgreSQL ({}): back the database up with pg_dump, and keep copies of the keys (master.key and token.key in {}, or SLUICE_MASTER_KEY and SLUICE_TOKEN_KEY)",
            crate::database::redacted(url),
            options.data_dir.display()
        );
    }
    crate::require_existing_data_dir(&options)?;
    let dest = config::absolute(dest.to_path_buf())?;
    if dest.exists() {
        bail!(
            "{} exists; a backup goes to a new directory",
            dest.display()
        );
    }
    std::fs::create_dir_all(&dest)?;
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o700))?;
    let data = &options.data_dir;
    // The anchor before the database, so the copy's chain reaches the event it names.
    let anchor = data.join("audit-anchor");
    if anchor.exists() {
        std::fs::copy(&anchor, dest.join("audit-anchor")).context("copying the audit anchor")?;
    }
    // Then the database: objects and commits it references were written before it.
    sluice_store_sqlite::SqliteStore::backup(&data.join("sluice.db"), &dest.join("sluice.db"))
        .context("copying the database")?;
    let mut files = 1;
    for name in BACKED_UP_DIRS {
        let from = data.join(name);
        if from.exists() {
            files += copy_tree(&from, &dest.join(name))?;
        }
    }
    for name in BACKED_UP_FILES {
        let from = data.join(name);
        if from.exists() {
            std::fs::copy(&from, dest.join(name))
                .with_context(|| format!("copying {}", from.display()))?;
            files += 1;
        }
    }
    eprintln!(
        "backed up {} to {} ({files} files)",
        data.display(),
        dest.display()
    );
    if !data.join("master.key").exists() {
        eprintln!("the master key comes from SLUICE_MASTER_KEY: keep it with the backup, which cannot be opened without it");
    }
    Ok(())
}

/// Copies a directory tree (files and directories; links are not followed); returns how
/// many files it copied.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> Result<usize> {
    std::fs::create_dir_all(to)?;
    let mut files = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            files += copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)
                .with_context(|| format!("copying {}", entry.path().display()))?;
            files += 1;
        }
    }
    Ok(files)
}
