//! A job's log: lines of stdout and stderr in the order they arrived, with every secret value
//! replaced by `****` before it is written anywhere. The log is bounded: past its limit lines
//! are counted and dropped (a build that prints forever fills nothing), and the log says so
//! once. Writes are buffered and flushed by whoever copies a process's output, once per read.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Secrets shorter than this are not masked (masking `a` would shred every line).
const MIN_SECRET_LEN: usize = 4;

/// A log's limit when its creator names none.
pub const DEFAULT_MAX_LOG_BYTES: u64 = 64 << 20;

#[derive(Clone)]
pub struct JobLog {
    inner: Arc<Mutex<Inner>>,
    path: PathBuf,
}

struct Inner {
    file: std::io::BufWriter<std::fs::File>,
    secrets: Vec<String>,
    written: u64,
    max_bytes: u64,
    dropped: u64,
}

impl std::fmt::Debug for JobLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobLog").field("path", &self.path).finish()
    }
}

impl JobLog {
    pub fn create(path: &Path, secrets: Vec<String>) -> std::io::Result<Self> {
        Self::create_bounded(path, secrets, DEFAULT_MAX_LOG_BYTES)
    }

    /// A log that keeps at most `max_bytes` (plus one line saying the rest was dropped).
    pub fn create_bounded(
        path: &Path,
        secrets: Vec<String>,
        max_bytes: u64,
    ) -> std::io::Result<Self> {
        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                file,
                secrets,
                written: 0,
                max_bytes,
                dropped: 0,
            })),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn mask(&self, line: &str) -> String {
        mask_all(line, &self.lock().secrets)
    }

    /// Appends one line (masked), or counts it as dropped once the log is full. Flushed
    /// with [`JobLog::flush`] (at the latest when the log is read or dropped).
    pub fn line(&self, line: &str) {
        let mut inner = self.lock();
        if inner.written >= inner.max_bytes {
            inner.dropped += line.len() as u64 + 1;
            return;
        }
        let masked = mask_all(line, &inner.secrets);
        inner.written += masked.len() as u64 + 1;
        let _ = writeln!(inner.file, "{masked}");
        if inner.written >= inner.max_bytes {
            let limit = inner.max_bytes;
            let _ = writeln!(
                inner.file,
                "[Sluice] The log reached its limit of {limit} bytes; later output is dropped"
            );
        }
    }

    /// Writes what is buffered to the file.
    pub fn flush(&self) {
        let _ = self.lock().file.flush();
    }

    /// Whether the log keeps nothing more.
    pub fn is_full(&self) -> bool {
        let inner = self.lock();
        inner.written >= inner.max_bytes
    }

    /// Counts output that was dropped without being looked at.
    pub fn drop_bytes(&self, bytes: u64) {
        self.lock().dropped += bytes;
    }

    /// Says how much was dropped, if anything, as the log's last line (past the limit).
    pub fn finish(&self) {
        let mut inner = self.lock();
        if inner.dropped > 0 {
            let dropped = inner.dropped;
            let _ = writeln!(
                inner.file,
                "[Sluice] {dropped} bytes of output were dropped after the log's limit"
            );
        }
        let _ = inner.file.flush();
    }

    /// Bytes of output dropped because the log was full.
    pub fn dropped_bytes(&self) -> u64 {
        self.lock().dropped
    }

    /// The last `n` lines of the log (already masked), for failure messages.
    pub fn tail(&self, n: usize) -> Vec<String> {
        self.flush();
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
        log.flush();
        let text = std::fs::read_to_string(log.path()).expect("read");
        assert_eq!(text, "password is ****, x marks the spot\n");
    }

    #[test]
    fn a_full_log_drops_later_lines_and_says_so_once() {
        let dir = tempfile::tempdir().expect("dir");
        let log = JobLog::create_bounded(&dir.path().join("log"), vec![], 10).expect("log");
        for _ in 0..1000 {
            log.line("0123456789");
        }
        log.flush();
        let text = std::fs::read_to_string(log.path()).expect("read");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("reached its limit of 10 bytes"), "{text}");
        assert_eq!(log.dropped_bytes(), 999 * 11);
    }
}
