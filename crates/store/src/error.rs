//! The store's error type.

/// Why a store call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("a resource named {0} already exists")]
    NameInUse(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} was deleted and its identity cannot be reused")]
    Deleted(String),
    #[error("{0} was not found")]
    NotFound(String),
    #[error("{what} changed concurrently: expected version {expected}")]
    VersionConflict { what: String, expected: i64 },
    #[error("the client token does not match job {0}")]
    InvalidClientToken(String),
    #[error("the nonce does not match job {0}")]
    InvalidNonce(String),
    #[error("bucket {bucket} is encrypted with {current}; a pipeline does not change the key of an existing bucket")]
    BucketKeyInUse { bucket: String, current: String },
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("the database schema is at version {found}, newer than this binary knows ({known}); upgrade Sluice")]
    SchemaTooNew { found: i64, known: i64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Backend(String),
}
