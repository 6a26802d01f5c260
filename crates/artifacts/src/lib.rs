//! Artifacts are zip files. This crate packs a directory into one and unpacks one safely:
//! every entry name is checked before anything is written (no absolute paths, no `..`, no
//! backslashes, no duplicates), only regular files and directories are accepted (a symlink entry
//! is refused; zip has no hard links), and entry count, total size and compression ratio are
//! bounded while extracting — sizes are counted from the bytes actually inflated, never taken
//! from the headers. `blob` is where the bytes live: any `object_store` backend.

mod blob;
pub mod crypto;
pub mod envelope;
mod error;
mod pack;
mod unpack;

pub use blob::{
    bytes_stream, collect, BlobInfo, BlobMeta, BlobStore, ByteStream, ObjectBlobStore, S3BlobConfig,
};
pub use error::Error;
pub use pack::{pack_dir, PackSummary};
pub use unpack::{unpack, UnpackLimits, UnpackSummary};

pub type Result<T> = std::result::Result<T, Error>;

/// The SHA-256 of `bytes` in lowercase hex, the checksum recorded with each artifact.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
