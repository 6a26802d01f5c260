//! Artifacts between files and streams: packing and unpacking run on the blocking pool, bodies
//! stream in bounded chunks so a 2 GB artifact never sits in memory.

use crate::{Error, Result};
use bytes::Bytes;
use futures::StreamExt;
use sluice_artifacts::{ByteStream, PackSummary, UnpackLimits, UnpackSummary};
use std::path::{Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHUNK: usize = 1 << 20;

/// The file's bytes as a stream.
pub async fn file_stream(path: &Path) -> Result<ByteStream> {
    let file = tokio::fs::File::open(path).await?;
    let stream = futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; CHUNK];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(stream.boxed())
}

/// Writes a stream to a new file; returns its size.
pub async fn write_stream(mut body: ByteStream, path: &Path) -> Result<u64> {
    let mut file = tokio::fs::File::create(path).await?;
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(size)
}

/// Zips `dir` into `zip`.
pub async fn pack_to_file(dir: &Path, zip: &Path) -> Result<PackSummary> {
    let (dir, zip): (PathBuf, PathBuf) = (dir.into(), zip.into());
    tokio::task::spawn_blocking(move || {
        let out = std::io::BufWriter::new(std::fs::File::create(&zip)?);
        Ok(sluice_artifacts::pack_dir(&dir, out)?)
    })
    .await
    .map_err(|e| Error::Io(e.to_string()))?
}

/// Unpacks `zip` into `dest` with the default safety limits.
pub async fn unpack_file(zip: &Path, dest: &Path) -> Result<UnpackSummary> {
    let (zip, dest): (PathBuf, PathBuf) = (zip.into(), dest.into());
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dest)?;
        let file = std::io::BufReader::new(std::fs::File::open(&zip)?);
        Ok(sluice_artifacts::unpack(
            file,
            &dest,
            &UnpackLimits::default(),
        )?)
    })
    .await
    .map_err(|e| Error::Io(e.to_string()))?
}
