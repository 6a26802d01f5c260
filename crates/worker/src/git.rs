//! Git, driven safely: every call is an argument vector with `--` before paths and revisions,
//! branch names are validated before they reach git (`--upload-pack=...` is not a branch),
//! no terminal prompts, and credentials travel in the child's environment (as an HTTP header
//! git reads from `GIT_CONFIG_*`), never on a command line or in a log.

use crate::{Error, Result};
use sluice_sandbox::{Sandbox, ToolAccess};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// A validated branch name (git's `check-ref-format` rules, plus no leading `-`).
pub fn check_branch(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > 255
        || name.starts_with('-')
        || name.starts_with('/')
        || name.ends_with('/')
        || name.ends_with('.')
        || name.ends_with(".lock")
        || name.contains("..")
        || name.contains("@{")
        || name.contains("//")
        || name == "@"
        || name.split('/').any(|c| c.starts_with('.'))
        || name
            .chars()
            .any(|c| c.is_control() || " ~^:?*[\\".contains(c));
    if bad {
        return Err(Error::Configuration(format!(
            "'{name}' is not a valid branch name"
        )));
    }
    Ok(())
}

/// A validated hosted repository name (CodeCommit's rules: letters, digits, `.`, `_`, `-`).
pub fn check_repository_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && !name.starts_with('.')
        && !name.ends_with(".git");
    if ok {
        Ok(())
    } else {
        Err(Error::Configuration(format!(
            "'{name}' is not a valid repository name"
        )))
    }
}

/// Credentials for HTTPS remotes.
#[derive(Clone, Default)]
pub struct GitAuth {
    pub token: Option<String>,
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GitAuth { token: REDACTED }")
    }
}

/// The git environment every call gets: no prompts, no system or user configuration.
fn quiet(cmd: &mut Command) {
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null");
}

fn with_auth(cmd: &mut Command, auth: &GitAuth) {
    if let Some(token) = &auth.token {
        use base64::Engine;
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
        cmd.env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env(
                "GIT_CONFIG_VALUE_0",
                format!("Authorization: Basic {basic}"),
            );
    }
}

async fn output(mut cmd: Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| Error::Failed(format!("git could not be started: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Failed(format!("{what} failed: {}", stderr.trim())));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(std::path::absolute(path)?)
}

/// A full object id (SHA-1 or SHA-256, lower-case hex): never an option or a revision
/// expression.
fn check_object_id(id: &str) -> Result<()> {
    let hex = id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex && (id.len() == 40 || id.len() == 64) {
        Ok(())
    } else {
        Err(Error::Failed(format!("'{id}' is not an object id")))
    }
}

/// Creates a bare repository whose default branch is `main`. It reads nothing but git's own
/// template, so it runs as the server's tool directly; everything that reads what users pushed
/// or fetched goes through [`Git`].
pub async fn init_bare(dir: &Path) -> Result<()> {
    let mut cmd = Command::new("git");
    quiet(&mut cmd);
    cmd.env_remove("GIT_DIR")
        .kill_on_drop(true)
        .args(["init", "--bare", "--quiet", "--initial-branch=main", "--"])
        .arg(dir);
    output(cmd, "git init").await?;
    let mut cfg = Command::new("git");
    quiet(&mut cfg);
    cfg.env_remove("GIT_DIR")
        .kill_on_drop(true)
        .arg("--git-dir")
        .arg(dir)
        .args(["config", "http.receivepack", "true"]);
    output(cfg, "git config").await?;
    Ok(())
}

/// A repository's branches and tags, each with its commit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Refs {
    pub branches: std::collections::BTreeMap<String, String>,
    pub tags: std::collections::BTreeMap<String, String>,
}

/// What a source action tells about the commit it fetched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitInfo {
    pub message: String,
    pub author_date: String,
    pub committer_date: String,
}

/// What `commit_details` reads of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitDetails {
    pub id: String,
    pub tree: String,
    pub parents: Vec<String>,
    /// (name, email, raw date)
    pub author: (String, String, String),
    pub committer: (String, String, String),
    pub message: String,
}

/// Git on repositories whose contents users control (pushed to this server or fetched from a
/// remote): every call runs in the sandbox as a tool confined to the repository it reads and
/// the directory it writes, so a hostile pack that found a flaw in git still reaches nothing
/// else.
#[derive(Debug, Clone)]
pub struct Git {
    sandbox: Sandbox,
}

impl Git {
    pub fn new(sandbox: Sandbox) -> Self {
        Self { sandbox }
    }

    /// git on `repo`, which it may read (or also write, when `writable`).
    fn on(&self, repo: &Path, writable: bool) -> Result<Command> {
        let repo = absolute(repo)?;
        let mut access = ToolAccess {
            workdir: repo.clone(),
            ..Default::default()
        };
        if writable {
            access.write.push(repo.clone());
        } else {
            access.read.push(repo.clone());
        }
        Ok(self.command(Some(&repo), &access))
    }

    fn command(&self, repo: Option<&Path>, access: &ToolAccess) -> Command {
        let mut cmd = self.sandbox.tool_command("git", access);
        quiet(&mut cmd);
        if let Some(repo) = repo {
            cmd.arg("--git-dir").arg(repo);
        }
        cmd
    }

    /// The commit `branch` points at in a local repository, if the branch exists.
    pub async fn branch_commit(&self, repo: &Path, branch: &str) -> Result<Option<String>> {
        check_branch(branch)?;
        let mut cmd = self.on(repo, false)?;
        cmd.args(["rev-parse", "--verify", "--quiet", "--end-of-options"])
            .arg(format!("refs/heads/{branch}^{{commit}}"));
        match output(cmd, "git rev-parse").await {
            Ok(c) if !c.is_empty() => Ok(Some(c)),
            _ => Ok(None),
        }
    }

    /// Every branch and its commit.
    pub async fn branches(&self, repo: &Path) -> Result<Vec<(String, String)>> {
        let mut cmd = self.on(repo, false)?;
        cmd.args([
            "for-each-ref",
            "--format=%(refname:strip=2) %(objectname)",
            "refs/heads/",
        ]);
        let out = output(cmd, "git for-each-ref").await?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(b, c)| (b.to_string(), c.to_string()))
            .collect())
    }

    /// Every branch and every tag with the commit it points at (an annotated tag through its
    /// object), from one listing.
    pub async fn refs(&self, repo: &Path) -> Result<Refs> {
        let mut cmd = self.on(repo, false)?;
        cmd.args([
            "for-each-ref",
            "--format=%(refname) %(objectname) %(*objectname)",
            "refs/heads/",
            "refs/tags/",
        ]);
        let out = output(cmd, "git for-each-ref").await?;
        let mut refs = Refs::default();
        for line in out.lines() {
            let mut parts = line.split(' ');
            let (Some(name), Some(object)) = (parts.next(), parts.next()) else {
                continue;
            };
            let commit = parts.next().filter(|p| !p.is_empty()).unwrap_or(object);
            if let Some(branch) = name.strip_prefix("refs/heads/") {
                refs.branches.insert(branch.to_string(), commit.to_string());
            } else if let Some(tag) = name.strip_prefix("refs/tags/") {
                refs.tags.insert(tag.to_string(), commit.to_string());
            }
        }
        Ok(refs)
    }

    /// The paths a push changed: between `old` and `new`, or those `new` itself changes when
    /// the branch is new.
    pub async fn changed_files(
        &self,
        repo: &Path,
        old: Option<&str>,
        new: &str,
    ) -> Result<Vec<String>> {
        let mut cmd = self.on(repo, false)?;
        match old {
            Some(old) => cmd.args(["diff", "--name-only", "--no-renames", old, new, "--"]),
            None => cmd.args([
                "diff-tree",
                "--no-commit-id",
                "--name-only",
                "--no-renames",
                "-r",
                "--root",
                new,
                "--",
            ]),
        };
        let out = output(cmd, "git diff").await?;
        Ok(out.lines().map(str::to_string).collect())
    }

    /// The first line of a commit's message.
    pub async fn commit_subject(&self, repo: &Path, commit: &str) -> Result<String> {
        let mut cmd = self.on(repo, false)?;
        cmd.args(["log", "-1", "--format=%s", "--end-of-options", commit, "--"]);
        output(cmd, "git log").await
    }

    /// A commit's message and its author and committer dates (UTC, `2016-07-06T12:00:00Z`), as
    /// source actions output them.
    pub async fn commit_info(&self, repo: &Path, commit: &str) -> Result<CommitInfo> {
        let mut cmd = self.on(repo, false)?;
        cmd.env("TZ", "UTC").args([
            "log",
            "-1",
            "--date=format-local:%Y-%m-%dT%H:%M:%SZ",
            "--format=%ad%x00%cd%x00%B",
            "--end-of-options",
            commit,
            "--",
        ]);
        let out = output(cmd, "git log").await?;
        let mut parts = out.splitn(3, '\0');
        Ok(CommitInfo {
            author_date: parts.next().unwrap_or_default().to_string(),
            committer_date: parts.next().unwrap_or_default().to_string(),
            message: parts.next().unwrap_or_default().trim().to_string(),
        })
    }

    /// A commit's tree, parents, author, committer (name, email, raw date `SECONDS ±ZONE`) and
    /// message, as CodeCommit's `GetCommit` shows them; `None` when there is no such commit.
    pub async fn commit_details(&self, repo: &Path, commit: &str) -> Result<Option<CommitDetails>> {
        if commit.is_empty() || !commit.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let mut cmd = self.on(repo, false)?;
        cmd.args([
            "log",
            "-1",
            "--date=raw",
            "--format=%H%x00%T%x00%P%x00%an%x00%ae%x00%ad%x00%cn%x00%ce%x00%cd%x00%B",
            "--end-of-options",
        ])
        .arg(format!("{commit}^{{commit}}"))
        .arg("--");
        let Ok(out) = output(cmd, "git log").await else {
            return Ok(None);
        };
        let parts: Vec<&str> = out.splitn(10, '\0').collect();
        let [id, tree, parents, an, ae, ad, cn, ce, cd, message] = parts.as_slice() else {
            return Ok(None);
        };
        let person = |n: &&str, e: &&str, d: &&str| (n.to_string(), e.to_string(), d.to_string());
        Ok(Some(CommitDetails {
            id: id.to_string(),
            tree: tree.to_string(),
            parents: parents.split_whitespace().map(str::to_string).collect(),
            author: person(an, ae, ad),
            committer: person(cn, ce, cd),
            message: message.trim_end().to_string(),
        }))
    }

    /// Writes the tree of `commit` into `dest` (no `.git`), through a private index file in
    /// `scratch`. git may read `repo` and write `dest` and `scratch`.
    pub async fn export_tree(
        &self,
        repo: &Path,
        commit: &str,
        dest: &Path,
        scratch: &Path,
    ) -> Result<()> {
        if !commit.chars().all(|c| c.is_ascii_hexdigit()) || commit.len() < 7 {
            return Err(Error::Configuration(format!(
                "'{commit}' is not a commit id"
            )));
        }
        // git runs the checkout from the work tree: a relative path would name another place.
        let (repo, dest, scratch) = (absolute(repo)?, absolute(dest)?, absolute(scratch)?);
        std::fs::create_dir_all(&dest)?;
        let access = ToolAccess {
            workdir: scratch.clone(),
            read: vec![repo.clone()],
            write: vec![dest.clone(), scratch.clone()],
            network: false,
        };
        let index = scratch.join("export.index");
        let mut read = self.command(Some(&repo), &access);
        read.env("GIT_INDEX_FILE", &index)
            .args(["read-tree", "--end-of-options", commit]);
        output(read, "git read-tree").await?;
        let mut checkout = self.command(Some(&repo), &access);
        checkout
            .env("GIT_INDEX_FILE", &index)
            .arg("--work-tree")
            .arg(&dest)
            .args(["checkout-index", "--all", "--force"]);
        output(checkout, "git checkout-index").await?;
        let _ = std::fs::remove_file(index);
        // A build must never pass on a workspace the source failed to fill.
        let mut list = self.command(Some(&repo), &access);
        list.args(["ls-tree", "--name-only", "--end-of-options", commit]);
        let tree_has_files = !output(list, "git ls-tree").await?.trim().is_empty();
        if tree_has_files && std::fs::read_dir(&dest)?.next().is_none() {
            return Err(Error::Failed(format!(
                "commit {commit} has files but none were written to the workspace"
            )));
        }
        Ok(())
    }

    /// The commit `branch` points at in a remote repository (`git ls-remote`), if it exists.
    pub async fn remote_branch_commit(
        &self,
        url: &str,
        branch: &str,
        auth: &GitAuth,
    ) -> Result<Option<String>> {
        check_branch(branch)?;
        let access = remote_access(url, None)?;
        let mut cmd = self.command(None, &access);
        with_auth(&mut cmd, auth);
        cmd.args(["ls-remote", "--heads", "--end-of-options", url])
            .arg(format!("refs/heads/{branch}"));
        let out = output(cmd, &format!("git ls-remote of branch {branch}")).await?;
        Ok(out.split_whitespace().next().map(str::to_string))
    }

    /// Fetches `branch` of `url` into the bare mirror `mirror` (created if needed); returns the
    /// fetched commit.
    pub async fn fetch_branch(
        &self,
        url: &str,
        branch: &str,
        mirror: &Path,
        auth: &GitAuth,
    ) -> Result<String> {
        check_branch(branch)?;
        let mirror = absolute(mirror)?;
        let mut cmd = self.fetch_into(url, &mirror, auth).await?;
        cmd.args(["--no-tags", "--end-of-options", url])
            .arg(format!("+refs/heads/{branch}:refs/heads/{branch}"));
        output(cmd, &format!("git fetch of branch {branch}")).await?;
        self.branch_commit(&mirror, branch).await?.ok_or_else(|| {
            Error::Failed(format!("branch {branch} was not found in the repository"))
        })
    }

    /// `git fetch --quiet --force` from `url` into the bare `mirror` (made if missing), confined
    /// to it and allowed out to the network; the caller adds what to fetch.
    async fn fetch_into(&self, url: &str, mirror: &Path, auth: &GitAuth) -> Result<Command> {
        let access = remote_access(url, Some(mirror))?;
        if !mirror.exists() {
            init_bare(mirror).await?;
        }
        let mut cmd = self.command(Some(mirror), &access);
        with_auth(&mut cmd, auth);
        cmd.args(["fetch", "--quiet", "--force"]);
        Ok(cmd)
    }

    /// Fetches every branch, tag and pull request head of `url` into `mirror` (for a commit
    /// a trigger named that the action's own branch does not hold).
    pub async fn fetch_all(&self, url: &str, mirror: &Path, auth: &GitAuth) -> Result<()> {
        let mirror = absolute(mirror)?;
        let mut cmd = self.fetch_into(url, &mirror, auth).await?;
        cmd.args([
            "--end-of-options",
            url,
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
            "+refs/pull/*/head:refs/pull/*/head",
        ]);
        output(cmd, "git fetch of every branch").await.map(|_| ())
    }

    /// Every branch and tag as its full name and the object it names (a tag's own object, not
    /// the commit it peels to).
    pub async fn ref_objects(&self, repo: &Path) -> Result<BTreeMap<String, String>> {
        let mut cmd = self.on(repo, false)?;
        cmd.args([
            "for-each-ref",
            "--format=%(refname) %(objectname)",
            "refs/heads/",
            "refs/tags/",
        ]);
        let out = output(cmd, "git for-each-ref").await?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(name, object)| (name.to_string(), object.to_string()))
            .collect())
    }

    /// Writes to `out` (a new file in a directory it may write) a bundle of the objects every
    /// branch and tag of `repo` reaches and none of `known` do. False when there are none
    /// (every tip is known, or reached from one).
    pub async fn create_bundle(&self, repo: &Path, out: &Path, known: &[String]) -> Result<bool> {
        let repo = absolute(repo)?;
        let out = absolute(out)?;
        let scratch = out
            .parent()
            .ok_or_else(|| Error::Failed("a bundle needs a directory".into()))?
            .to_path_buf();
        let access = ToolAccess {
            workdir: repo.clone(),
            read: vec![repo.clone()],
            write: vec![scratch],
            ..Default::default()
        };
        let mut cmd = self.command(Some(&repo), &access);
        cmd.args(["bundle", "create", "--quiet"])
            .arg(&out)
            .args(["--branches", "--tags"]);
        for object in known {
            check_object_id(object)?;
            cmd.arg(format!("^{object}"));
        }
        match output(cmd, "git bundle create").await {
            Ok(_) => Ok(true),
            Err(Error::Failed(message)) if message.contains("empty bundle") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds the objects of the bundle `bundle` (a file in `scratch`) to `repo`; its refs are
    /// left alone (`set_refs` sets them).
    pub async fn unbundle(&self, repo: &Path, scratch: &Path, bundle: &Path) -> Result<()> {
        let repo = absolute(repo)?;
        let access = ToolAccess {
            workdir: repo.clone(),
            read: vec![absolute(scratch)?],
            write: vec![repo.clone()],
            ..Default::default()
        };
        let mut cmd = self.command(Some(&repo), &access);
        cmd.args(["bundle", "unbundle"]).arg(absolute(bundle)?);
        output(cmd, "git bundle unbundle").await.map(|_| ())
    }

    /// Makes the branches and tags of `repo` exactly `refs` (full name → object), in one
    /// transaction: every other branch and tag is deleted.
    pub async fn set_refs(&self, repo: &Path, refs: &BTreeMap<String, String>) -> Result<()> {
        let mut script = String::new();
        for name in self.ref_objects(repo).await?.keys() {
            if !refs.contains_key(name) {
                script.push_str(&format!("delete {name}\n"));
            }
        }
        for (name, object) in refs {
            // Git's own rules keep a ref name free of spaces and control characters, which
            // the line-based script relies on; anything else git accepted is kept as it is.
            let branch_or_tag = (name.starts_with("refs/heads/") || name.starts_with("refs/tags/"))
                && !name.chars().any(|c| c.is_whitespace() || c.is_control());
            if !branch_or_tag {
                return Err(Error::Failed(format!("{name} is not a branch or tag")));
            }
            check_object_id(object)?;
            script.push_str(&format!("update {name} {object}\n"));
        }
        if script.is_empty() {
            return Ok(());
        }
        let mut cmd = self.on(repo, true)?;
        cmd.args(["update-ref", "--stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| Error::Failed(format!("git could not be started: {e}")))?;
        if let Some(mut stdin) = child.stdin.take() {
            use tokio::io::AsyncWriteExt;
            stdin.write_all(script.as_bytes()).await?;
        }
        let out = child.wait_with_output().await?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(Error::Failed(format!(
                "git update-ref failed: {}",
                stderr.trim()
            )));
        }
        Ok(())
    }

    /// `git http-backend` serving the repository `repo` under `project_root` (a CGI; the caller
    /// sets its request variables and pipes). It may read `repo`, and write it only for a push.
    pub fn http_backend(&self, project_root: &Path, repo: &Path, push: bool) -> Result<Command> {
        let project_root = absolute(project_root)?;
        let repo = absolute(repo)?;
        let mut access = ToolAccess {
            workdir: project_root.clone(),
            ..Default::default()
        };
        if push {
            access.write.push(repo);
        } else {
            access.read.push(repo);
        }
        let mut cmd = self.command(None, &access);
        cmd.arg("http-backend")
            .env("GIT_PROJECT_ROOT", &project_root);
        Ok(cmd)
    }
}

/// What a call on the remote `url` may touch: the network for a URL, or the directory for a
/// local path (tests and mirrors of a local repository), and `mirror` when it writes one.
fn remote_access(url: &str, mirror: Option<&Path>) -> Result<ToolAccess> {
    if url.starts_with('-') {
        return Err(Error::Configuration(format!(
            "'{url}' is not a repository URL"
        )));
    }
    let local = url
        .strip_prefix("file://")
        .or_else(|| url.starts_with('/').then_some(url));
    let mut access = ToolAccess {
        workdir: std::env::temp_dir(),
        network: local.is_none(),
        ..Default::default()
    };
    if let Some(path) = local {
        access.read.push(PathBuf::from(path));
    }
    if let Some(mirror) = mirror {
        access.workdir = mirror.to_path_buf();
        access.write.push(mirror.to_path_buf());
    }
    Ok(access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_like_and_malformed_branch_names_are_refused() {
        for bad in [
            "--upload-pack=touch /tmp/pwned",
            "-b",
            "a..b",
            "a b",
            "x.lock",
            "a/",
            ".hidden",
            "a@{1}",
            "a~1",
            "",
        ] {
            assert!(check_branch(bad).is_err(), "{bad}");
        }
        for good in ["main", "feature/x-1", "release-2016.07"] {
            assert!(check_branch(good).is_ok(), "{good}");
        }
    }

    #[tokio::test]
    async fn a_branch_tree_is_exported_without_git_metadata() {
        let dir = tempfile::tempdir().expect("dir");
        let bare = dir.path().join("repo.git");
        init_bare(&bare).await.expect("init");
        let work = dir.path().join("work");
        std::fs::create_dir_all(work.join("src")).expect("mkdir");
        std::fs::write(work.join("src/app.sh"), "echo hi\n").expect("write");
        let run = |args: &[&str]| {
            let status = std::process::Command::new("git")
                .args(args)
                .current_dir(&work)
                .env("GIT_AUTHOR_NAME", "t")
                .env("GIT_AUTHOR_EMAIL", "t@example.com")
                .env("GIT_COMMITTER_NAME", "t")
                .env("GIT_COMMITTER_EMAIL", "t@example.com")
                .status()
                .expect("git");
            assert!(status.success(), "{args:?}");
        };
        run(&["init", "--quiet", "--initial-branch=main"]);
        run(&["add", "."]);
        run(&["commit", "--quiet", "-m", "first commit"]);
        run(&["push", "--quiet", bare.to_str().expect("utf8"), "main"]);
        let git = Git::new(Sandbox::unconfined());
        let commit = git
            .branch_commit(&bare, "main")
            .await
            .expect("rev")
            .expect("exists");
        assert_eq!(
            git.commit_subject(&bare, &commit).await.expect("log"),
            "first commit"
        );
        let info = git.commit_info(&bare, &commit).await.expect("info");
        assert_eq!(info.message, "first commit");
        assert!(
            info.author_date.ends_with('Z') && info.author_date.len() == 20,
            "{info:?}"
        );
        assert_eq!(
            git.branches(&bare).await.expect("refs"),
            vec![("main".to_string(), commit.clone())]
        );
        let dest = dir.path().join("out");
        git.export_tree(&bare, &commit, &dest, dir.path())
            .await
            .expect("export");
        assert_eq!(
            std::fs::read_to_string(dest.join("src/app.sh")).expect("file"),
            "echo hi\n"
        );
        assert!(!dest.join(".git").exists());
        assert!(git.branch_commit(&bare, "--upload-pack=x").await.is_err());
    }
}
