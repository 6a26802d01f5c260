//! Unpacking an artifact zip into a fresh directory, refusing anything unsafe.

use crate::{Error, Result};
use std::collections::HashSet;
use std::io::{Read, Seek, Write};
use std::path::{Component, Path, PathBuf};

/// Bounds on what one archive may unpack to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnpackLimits {
    pub max_entries: usize,
    pub max_total_bytes: u64,
    /// Largest accepted ratio of inflated to compressed size, per entry. Deflate tops out near
    /// 1032:1, which only long runs reach; a log of one repeated line passes 300:1, so the
    /// default refuses only the classic bomb and `max_total_bytes` bounds the rest.
    pub max_ratio: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        Self {
            max_entries: 100_000,
            // CodePipeline's largest source artifact is 2 GB (the guide's Limits).
            max_total_bytes: 2 * 1024 * 1024 * 1024,
            max_ratio: 1000,
        }
    }
}

/// What was unpacked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnpackSummary {
    pub files: usize,
    pub directories: usize,
    pub bytes: u64,
}

/// Ratios are only judged past this many inflated bytes, so tiny well-compressed files pass.
const RATIO_GRACE_BYTES: u64 = 64 * 1024;
const S_IFMT: u32 = 0o170000;
const S_IFLNK: u32 = 0o120000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;

/// The relative path an entry name may be unpacked to, or why it may not.
fn safe_path(name: &str) -> Result<PathBuf> {
    let refuse = |reason| Error::UnsafePath {
        name: name.into(),
        reason,
    };
    if name.is_empty() {
        return Err(refuse("empty name"));
    }
    if name.contains('\\') {
        return Err(refuse("backslash in the name"));
    }
    if name.contains('\0') {
        return Err(refuse("NUL in the name"));
    }
    let path = Path::new(name);
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => clean.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(refuse("'..' leaves the destination")),
            Component::RootDir | Component::Prefix(_) => return Err(refuse("absolute path")),
        }
    }
    if clean.as_os_str().is_empty() {
        return Err(refuse("names no file"));
    }
    Ok(clean)
}

/// Unpacks `archive` into `dest`, which must be an empty directory that this process created.
/// On error, whatever was already written stays in `dest` for the caller to remove.
pub fn unpack<R: Read + Seek>(
    archive: R,
    dest: &Path,
    limits: &UnpackLimits,
) -> Result<UnpackSummary> {
    let mut zip = zip::ZipArchive::new(archive)?;
    if zip.len() > limits.max_entries {
        return Err(Error::TooManyEntries {
            limit: limits.max_entries,
        });
    }
    // Every name is checked before anything is written.
    let mut seen = HashSet::new();
    let mut plan = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i)?;
        let name = entry.name().to_string();
        let mode = entry.unix_mode().unwrap_or(0);
        let kind = mode & S_IFMT;
        if kind == S_IFLNK {
            return Err(Error::Link(name));
        }
        let is_dir = entry.is_dir() || kind == S_IFDIR;
        if kind != 0 && kind != S_IFREG && kind != S_IFDIR {
            return Err(Error::SpecialFile(name));
        }
        let path = safe_path(name.trim_end_matches('/'))?;
        if !seen.insert(path.clone()) {
            return Err(Error::Duplicate(name));
        }
        let executable = mode & 0o111 != 0;
        plan.push((i, name, path, is_dir, executable));
    }
    let mut summary = UnpackSummary::default();
    for (i, name, path, is_dir, executable) in plan {
        let target = dest.join(&path);
        if is_dir {
            std::fs::create_dir_all(&target)?;
            summary.directories += 1;
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut entry = zip.by_index(i)?;
        let compressed = entry.compressed_size().max(1);
        // `create_new` never follows or replaces an existing path.
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&target)?;
        let mut buf = [0u8; 64 * 1024];
        let mut written: u64 = 0;
        loop {
            let n = entry.read(&mut buf)?;
            if n == 0 {
                break;
            }
            written += n as u64;
            if summary.bytes + written > limits.max_total_bytes {
                return Err(Error::TooLarge {
                    limit: limits.max_total_bytes,
                });
            }
            if written > RATIO_GRACE_BYTES && written / compressed > limits.max_ratio {
                return Err(Error::CompressionBomb {
                    name,
                    limit: limits.max_ratio,
                });
            }
            out.write_all(&buf[..n])?;
        }
        #[cfg(unix)]
        if executable {
            use std::os::unix::fs::PermissionsExt;
            // Only the executable bits survive; setuid, setgid and sticky never do.
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))?;
        }
        summary.bytes += written;
        summary.files += 1;
    }
    Ok(summary)
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
