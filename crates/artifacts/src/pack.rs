//! Packing a workspace directory into an artifact zip.

use crate::{Error, Result};
use std::io::{Seek, Write};
use std::path::Path;
use zip::write::SimpleFileOptions;

/// What went into an archive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackSummary {
    pub files: usize,
    pub bytes: u64,
}

/// Packs every file under `dir` (paths relative to it, `/`-separated, sorted so the same tree
/// packs the same way). Symbolic links are refused rather than followed: following one could
/// pack a file from outside the workspace.
pub fn pack_dir<W: Write + Seek>(dir: &Path, out: W) -> Result<PackSummary> {
    let mut zip = zip::ZipWriter::new(out);
    // Level 1: artifacts are packed on every action run, where speed matters more than size.
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1));
    let mut summary = PackSummary::default();
    let mut stack = vec![dir.to_path_buf()];
    let mut files = Vec::new();
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            let relative = path
                .strip_prefix(dir)
                .map_err(|e| Error::Io(e.to_string()))?;
            let name = relative.to_string_lossy().replace('\\', "/");
            if kind.is_symlink() {
                return Err(Error::LinkInDirectory(name));
            } else if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file() {
                files.push((name, path));
            }
        }
    }
    files.sort();
    for (name, path) in files {
        let mut source = std::fs::File::open(&path)?;
        zip.start_file(name, options.unix_permissions(permissions(&source)?))?;
        summary.bytes += std::io::copy(&mut source, &mut zip)?;
        summary.files += 1;
    }
    zip.finish()?;
    Ok(summary)
}

/// 0755 for an executable file, 0644 otherwise: scripts stay runnable, nothing else is kept.
fn permissions(file: &std::fs::File) -> Result<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode();
        Ok(if mode & 0o111 != 0 { 0o755 } else { 0o644 })
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(0o644)
    }
}
