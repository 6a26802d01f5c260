//! Why an artifact could not be packed or unpacked.

/// Every refusal names the entry and the rule it broke.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("archive entry '{name}' is refused: {reason}")]
    UnsafePath { name: String, reason: &'static str },
    #[error("archive entry '{0}' is a symbolic link; links are not unpacked")]
    Link(String),
    #[error("archive entry '{0}' is neither a file nor a directory")]
    SpecialFile(String),
    #[error("archive entry '{0}' appears more than once")]
    Duplicate(String),
    #[error("the archive has more than {limit} entries")]
    TooManyEntries { limit: usize },
    #[error("the archive unpacks to more than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("archive entry '{name}' expands more than {limit}:1 (a compression bomb)")]
    CompressionBomb { name: String, limit: u64 },
    #[error("'{0}' is a symbolic link; artifacts are packed without following links")]
    LinkInDirectory(String),
    #[error("the archive is not a valid zip file: {0}")]
    Zip(String),
    #[error("{0}")]
    Io(String),
    #[error("no blob is stored under {0}")]
    Missing(String),
    #[error("{0}")]
    Crypto(String),
    #[error("the blob store failed: {0}")]
    Store(String),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl From<zip::result::ZipError> for Error {
    fn from(e: zip::result::ZipError) -> Self {
        Error::Zip(e.to_string())
    }
}
