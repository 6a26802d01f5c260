//! `Install`: the appspec's `files` are copied from the unpacked revision to their
//! destinations, after the files the group's previous install placed are removed (the cleanup
//! file lists them, as AWS's agent keeps it); a file already there that no install placed
//! follows `file_exists_behavior` (DISALLOW fails, OVERWRITE replaces, RETAIN keeps). Then the
//! `permissions` are applied.

use sluice_deploy::appspec::{AppSpec, FileExistsBehavior, Permission};
use std::path::{Path, PathBuf};

/// Installs the revision in `archive`; returns how many files were placed.
pub(crate) fn install(
    appspec: &AppSpec,
    archive: &Path,
    cleanup: &Path,
    override_behavior: Option<&str>,
) -> Result<usize, String> {
    remove_previous(cleanup)?;
    let deployment_behavior = override_behavior.and_then(FileExistsBehavior::from_name);
    let mut placed: Vec<PathBuf> = Vec::new();
    for mapping in &appspec.files {
        let behavior = mapping
            .file_exists_behavior
            .or(deployment_behavior)
            .or(appspec.file_exists_behavior)
            .unwrap_or(FileExistsBehavior::Disallow);
        let source = archive.join(mapping.source.trim_start_matches('/'));
        let destination = PathBuf::from(&mapping.destination);
        if source.is_dir() {
            copy_tree(&source, &destination, behavior, &mut placed)?;
        } else if source.is_file() {
            let name = source.file_name().ok_or("a file source has no name")?;
            make_dirs(&destination, &mut placed)?;
            copy_file(&source, &destination.join(name), behavior, &mut placed)?;
        } else {
            record(cleanup, &placed)?;
            return Err(format!(
                "the source {} is not in the revision",
                mapping.source
            ));
        }
    }
    record(cleanup, &placed)?;
    for permission in &appspec.permissions {
        apply(permission)?;
    }
    Ok(placed.iter().filter(|p| p.is_file()).count())
}

/// Removes what the previous install placed: files first, then directories it made, deepest
/// first, when they are empty.
fn remove_previous(cleanup: &Path) -> Result<(), String> {
    let Ok(text) = std::fs::read_to_string(cleanup) else {
        return Ok(());
    };
    let mut entries: Vec<PathBuf> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect();
    for path in &entries {
        if path.is_file() || path.is_symlink() {
            std::fs::remove_file(path).map_err(|e| {
                format!("removing {} of the previous revision: {e}", path.display())
            })?;
        }
    }
    entries.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for path in entries {
        if path.is_dir() {
            // Only an emptied directory goes; what others put there stays.
            let _ = std::fs::remove_dir(&path);
        }
    }
    std::fs::remove_file(cleanup).map_err(|e| e.to_string())
}

fn record(cleanup: &Path, placed: &[PathBuf]) -> Result<(), String> {
    if let Some(parent) = cleanup.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    let text: String = placed
        .iter()
        .map(|p| format!("{}\n", p.display()))
        .collect();
    std::fs::write(cleanup, text).map_err(|e| format!("{}: {e}", cleanup.display()))
}

/// Creates `dir` and the parents it lacks, recording the ones it made.
fn make_dirs(dir: &Path, placed: &mut Vec<PathBuf>) -> Result<(), String> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.exists() {
            break;
        }
        missing.push(d.to_path_buf());
        at = d.parent();
    }
    for d in missing.into_iter().rev() {
        std::fs::create_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        placed.push(d);
    }
    Ok(())
}

fn copy_file(
    from: &Path,
    to: &Path,
    behavior: FileExistsBehavior,
    placed: &mut Vec<PathBuf>,
) -> Result<(), String> {
    if to.exists() || to.is_symlink() {
        match behavior {
            FileExistsBehavior::Disallow => {
                return Err(format!(
                    "The deployment failed because a specified file already exists at this location: {}",
                    to.display()
                ))
            }
            FileExistsBehavior::Retain => return Ok(()),
            FileExistsBehavior::Overwrite => {
                std::fs::remove_file(to).map_err(|e| format!("{}: {e}", to.display()))?;
            }
        }
    }
    std::fs::copy(from, to).map_err(|e| format!("copying to {}: {e}", to.display()))?;
    placed.push(to.to_path_buf());
    Ok(())
}

fn copy_tree(
    from: &Path,
    to: &Path,
    behavior: FileExistsBehavior,
    placed: &mut Vec<PathBuf>,
) -> Result<(), String> {
    make_dirs(to, placed)?;
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(|e| e.to_string())?;
        if kind.is_dir() {
            copy_tree(&path, &target, behavior, placed)?;
        } else if kind.is_file() {
            copy_file(&path, &target, behavior, placed)?;
        }
    }
    Ok(())
}

/// `permissions`: mode, owner and group of the object and what under it matches `pattern`.
fn apply(permission: &Permission) -> Result<(), String> {
    let object = PathBuf::from(&permission.object);
    let pattern = sluice_worker::glob::to_regex(&permission.pattern).map_err(|e| e.to_string())?;
    let mut targets = Vec::new();
    if object.is_dir() {
        collect(&object, &object, &mut targets)?;
    } else {
        targets.push(object.clone());
    }
    let user = permission.owner.as_deref().map(lookup_user).transpose()?;
    let group = permission.group.as_deref().map(lookup_group).transpose()?;
    for path in targets {
        let relative = path
            .strip_prefix(&object)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path != object && !(pattern.is_match(&relative) || pattern.is_match(&name)) {
            continue;
        }
        if permission
            .except
            .iter()
            .any(|e| e == &name || e == &relative)
        {
            continue;
        }
        let is_dir = path.is_dir();
        let kind_ok = permission.types.is_empty()
            || permission
                .types
                .iter()
                .any(|t| (t == "directory") == is_dir);
        if !kind_ok {
            continue;
        }
        if let Some(mode) = permission.mode {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        if user.is_some() || group.is_some() {
            std::os::unix::fs::chown(&path, user, group).map_err(|e| {
                format!(
                    "chown {}: {e} (owner and group need the agent to run as root)",
                    path.display()
                )
            })?;
        }
    }
    Ok(())
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    if dir != root {
        out.push(dir.to_path_buf());
    }
    for entry in std::fs::read_dir(dir)
        .map_err(|e| e.to_string())?
        .filter_map(|e| e.ok())
    {
        let path = entry.path();
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            collect(root, &path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// A user's uid and primary gid from `/etc/passwd`.
pub(crate) fn passwd_entry(name: &str) -> Result<(u32, u32), String> {
    let text = std::fs::read_to_string("/etc/passwd").map_err(|e| e.to_string())?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name))
        .and_then(|fields| Some((fields.get(2)?.parse().ok()?, fields.get(3)?.parse().ok()?)))
        .ok_or_else(|| format!("the user {name} does not exist on this host"))
}

fn lookup_user(name: &str) -> Result<u32, String> {
    passwd_entry(name).map(|(uid, _)| uid)
}

fn lookup_group(name: &str) -> Result<u32, String> {
    let text = std::fs::read_to_string("/etc/group").map_err(|e| e.to_string())?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&name))
        .and_then(|fields| fields.get(2)?.parse().ok())
        .ok_or_else(|| format!("the group {name} does not exist on this host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(text: &str) -> AppSpec {
        sluice_deploy::appspec::parse(text).expect("appspec")
    }

    #[test]
    fn a_second_install_removes_what_the_first_placed_and_honours_disallow() {
        let dir = tempfile::tempdir().expect("temp");
        let (first, second, dest) = (
            dir.path().join("r1"),
            dir.path().join("r2"),
            dir.path().join("srv/app"),
        );
        std::fs::create_dir_all(first.join("sub")).expect("r1");
        std::fs::write(first.join("old.txt"), "1").expect("file");
        std::fs::write(first.join("sub/keep.txt"), "1").expect("file");
        std::fs::create_dir_all(&second).expect("r2");
        std::fs::write(second.join("new.txt"), "2").expect("file");
        let cleanup = dir.path().join("cleanup");
        let appspec = spec_of(&format!(
            "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: {}\n",
            dest.display()
        ));
        assert_eq!(install(&appspec, &first, &cleanup, None).expect("first"), 2);
        assert!(dest.join("sub/keep.txt").is_file());
        install(&appspec, &second, &cleanup, None).expect("second");
        assert!(
            !dest.join("old.txt").exists(),
            "files of the previous revision are removed"
        );
        assert!(!dest.join("sub").exists(), "and the directories it made");
        assert!(dest.join("new.txt").is_file());
        // A file no install placed is not overwritten under DISALLOW.
        std::fs::write(dest.join("stranger.txt"), "x").expect("file");
        std::fs::write(second.join("stranger.txt"), "y").expect("file");
        let refused = install(&appspec, &second, &cleanup, None);
        assert!(refused.is_err_and(|e| e.contains("already exists")));
        install(&appspec, &second, &cleanup, Some("RETAIN")).expect("retain");
        assert_eq!(
            std::fs::read_to_string(dest.join("stranger.txt")).expect("read"),
            "x"
        );
        install(&appspec, &second, &cleanup, Some("OVERWRITE")).expect("overwrite");
        assert_eq!(
            std::fs::read_to_string(dest.join("stranger.txt")).expect("read"),
            "y"
        );
    }

    #[test]
    fn permissions_set_the_mode_of_matching_files() {
        let dir = tempfile::tempdir().expect("temp");
        let (archive, dest) = (dir.path().join("r"), dir.path().join("out"));
        std::fs::create_dir_all(&archive).expect("r");
        std::fs::write(archive.join("run.sh"), "#!/bin/sh\n").expect("file");
        let appspec = spec_of(&format!(
            "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: {0}\npermissions:\n  - object: {0}\n    pattern: \"*.sh\"\n    mode: 750\n    type:\n      - file\n",
            dest.display()
        ));
        install(&appspec, &archive, &dir.path().join("cleanup"), None).expect("install");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dest.join("run.sh"))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o750);
    }
}
