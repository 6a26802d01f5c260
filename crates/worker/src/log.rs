//! A job's log: lines of stdout and stderr in the order they arrived, with every secret value
//! replaced by `****` before it is written anywhere.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Secrets shorter than this are not masked (masking `a` would shred every line).
const MIN_SECRET_LEN: usize = 4;

#[derive(Clone)]
pub struct JobLog {
    inner: Arc<Mutex<Inner>>,
    path: PathBuf,
}

struct Inner {
    file: std::fs::File,
    secrets: Vec<String>,
}

impl std::fmt::Debug for JobLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobLog").field("path", &self.path).finish()
    }
}

impl JobLog {
    pub fn create(path: &Path, secrets: Vec<String>) -> std::io::Result<Self> {
        let file = std::fs::File::create(path)?;
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner { file, secrets })),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn mask(&self, line: &str) -> String {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        mask_all(line, &inner.secrets)
    }

    /// Appends one line (masked).
    pub fn line(&self, line: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let masked = mask_all(line, &inner.secrets);
        let _ = writeln!(inner.file, "{masked}");
    }

    /// The last `n` lines of the log (already masked), for failure messages.
    pub fn tail(&self, n: usize) -> Vec<String> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }
}

fn mask_all(line: &str, secrets: &[String]) -> String {
    let mut out = line.to_string();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "****");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_reach_the_log_file() {
        let dir = tempfile::tempdir().expect("dir");
        let log = JobLog::create(&dir.path().join("log"), vec!["hunter22".into(), "x".into()])
            .expect("log");
        log.line("password is hunter22, x marks the spot");
        let text = std::fs::read_to_string(log.path()).expect("read");
        assert_eq!(text, "password is ****, x marks the spot\n");
    }
}
