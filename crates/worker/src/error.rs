//! Why a job could not be run; the message becomes the job's failure message.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The action's own work failed (a command exited non-zero, a timeout, a bad buildspec).
    #[error("{0}")]
    Failed(String),
    /// The job's configuration cannot be run (unknown project, unsafe ref, missing input).
    #[error("{0}")]
    Configuration(String),
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Artifact(#[from] sluice_artifacts::Error),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}
