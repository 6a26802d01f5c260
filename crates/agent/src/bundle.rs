//! `DownloadBundle`: the revision is read from the server's S3 endpoint with the agent's own
//! key (the server lets an instance read its own deployment's bundle) and unpacked with the
//! same checks as artifacts — zip through `sluice_artifacts::unpack`, tar and tgz here with the
//! same rules: no absolute paths, no `..`, no links or special files, bounded size.

use crate::{read_appspec, Spec};
use sluice_artifacts::UnpackLimits;
use sluice_worker::client::Client;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

/// Downloads and unpacks the revision; returns how many files it holds.
pub(crate) async fn download(client: &Client, spec: &Spec, dir: &Path) -> Result<usize, String> {
    if spec.revision.revision_type != "S3" {
        return Err(format!(
            "the revision type {} is not supported; use S3",
            spec.revision.revision_type
        ));
    }
    let revision = spec
        .revision
        .s3_revision
        .as_ref()
        .ok_or("the deployment specification has no S3 revision")?;
    let _ = tokio::fs::remove_dir_all(dir).await;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let bundle = dir.join("bundle");
    client
        .s3_get_version(
            &revision.bucket,
            &revision.key,
            revision.version.as_deref(),
            &bundle,
        )
        .await
        .map_err(|e| format!("the bundle could not be downloaded: {e}"))?;
    let archive = dir.join("deployment-archive");
    let kind = revision.bundle_type.clone();
    let target = archive.clone();
    let files = tokio::task::spawn_blocking(move || unpack(&bundle, &target, &kind))
        .await
        .map_err(|e| e.to_string())??;
    read_appspec(&archive, spec)?;
    Ok(files)
}

fn unpack(bundle: &Path, dest: &Path, kind: &str) -> Result<usize, String> {
    std::fs::create_dir_all(dest).map_err(|e| e.to_string())?;
    let limits = UnpackLimits::default();
    let file = std::fs::File::open(bundle).map_err(|e| e.to_string())?;
    match kind {
        "zip" => sluice_artifacts::unpack(file, dest, &limits)
            .map(|s| s.files)
            .map_err(|e| format!("the bundle could not be unpacked: {e}")),
        "tar" => unpack_tar(file, dest, &limits),
        "tgz" => unpack_tar(flate2::read::GzDecoder::new(file), dest, &limits),
        other => Err(format!("the bundle type {other} is not zip, tar or tgz")),
    }
}

fn safe_path(name: &Path) -> Result<PathBuf, String> {
    let mut clean = PathBuf::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "the bundle entry {} leaves the bundle",
                    name.display()
                ))
            }
        }
    }
    Ok(clean)
}

fn unpack_tar(reader: impl Read, dest: &Path, limits: &UnpackLimits) -> Result<usize, String> {
    let mut archive = tar::Archive::new(reader);
    let (mut files, mut entries, mut total) = (0usize, 0usize, 0u64);
    for entry in archive.entries().map_err(|e| e.to_string())? {
        let mut entry = entry.map_err(|e| format!("the bundle could not be read: {e}"))?;
        entries += 1;
        if entries > limits.max_entries {
            return Err(format!(
                "the bundle has more than {} entries",
                limits.max_entries
            ));
        }
        let name = entry.path().map_err(|e| e.to_string())?.into_owned();
        let relative = safe_path(&name)?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&relative);
        match entry.header().entry_type() {
            tar::EntryType::Directory => {
                std::fs::create_dir_all(&target).map_err(|e| e.to_string())?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
                }
                let executable = entry
                    .header()
                    .mode()
                    .map(|m| m & 0o111 != 0)
                    .unwrap_or(false);
                // `create_new` never follows or replaces an existing path.
                let mut out = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&target)
                    .map_err(|e| format!("{}: {e}", relative.display()))?;
                let budget = limits.max_total_bytes.saturating_sub(total);
                let written = std::io::copy(&mut (&mut entry).take(budget + 1), &mut out)
                    .map_err(|e| e.to_string())?;
                total += written;
                if total > limits.max_total_bytes {
                    return Err(format!(
                        "the bundle unpacks to more than {} bytes",
                        limits.max_total_bytes
                    ));
                }
                if executable {
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
                        .map_err(|e| e.to_string())?;
                }
                files += 1;
            }
            other => {
                return Err(format!(
                    "the bundle entry {} is a {other:?}; links and special files are refused",
                    name.display()
                ))
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_with(name: &str, kind: tar::EntryType) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(if kind == tar::EntryType::Regular {
            2
        } else {
            0
        });
        header.set_mode(0o755);
        // Written raw: `append_data` itself refuses `..`, and a hostile bundle would not.
        let bytes = name.as_bytes();
        header.as_old_mut().name[..bytes.len()].copy_from_slice(bytes);
        if kind == tar::EntryType::Symlink {
            header.set_link_name("/etc/passwd").expect("link name");
        }
        header.set_cksum();
        builder
            .append(
                &header,
                &b"hi"[..if kind == tar::EntryType::Regular {
                    2
                } else {
                    0
                }],
            )
            .expect("append");
        builder.into_inner().expect("tar")
    }

    #[test]
    fn a_hostile_tar_bundle_is_refused_before_it_writes_outside() {
        let dir = tempfile::tempdir().expect("temp dir");
        let limits = UnpackLimits::default();
        for (name, kind) in [
            ("../escape", tar::EntryType::Regular),
            ("/etc/owned", tar::EntryType::Regular),
            ("link", tar::EntryType::Symlink),
        ] {
            let dest = dir.path().join(name.replace(['/', '.'], "_"));
            std::fs::create_dir_all(&dest).expect("dest");
            let refused = unpack_tar(&tar_with(name, kind)[..], &dest, &limits);
            assert!(refused.is_err(), "{name} is refused");
        }
        assert!(!dir.path().parent().expect("parent").join("escape").exists());
    }

    #[test]
    fn a_tar_bundle_keeps_files_and_their_executable_bit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let files = unpack_tar(
            &tar_with("scripts/start", tar::EntryType::Regular)[..],
            dir.path(),
            &UnpackLimits::default(),
        )
        .expect("unpacked");
        assert_eq!(files, 1);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("scripts/start"))
            .expect("file")
            .permissions()
            .mode();
        assert_ne!(mode & 0o111, 0);
    }
}
