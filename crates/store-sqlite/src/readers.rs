//! Point reads on the calling thread.
//!
//! sqlx runs every SQLite statement on a worker thread of its own and passes the statement and
//! each row through channels, so a read of one row costs several thread wake-ups; on a
//! virtual machine those cost more than the read itself (about a fifth of the server's CPU
//! under a load of `GetPipeline` calls). The reads the API serves most often — a pipeline,
//! its runtime and transitions, a page of summaries — run here instead: a rusqlite call on the
//! task's own thread, on a read-only connection taken from a small idle list. In WAL mode a
//! reader never waits for the writer, so such a call takes microseconds and never blocks the
//! runtime for longer than its own work. Scans whose length the caller chooses (audit lookups,
//! chain verification) stay on the sqlx pool.

use crate::write_ops::db;
use rusqlite::{Connection, OpenFlags};
use sluice_store::Result;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// Idle read connections kept open; more are opened when more callers read at once, and
/// those beyond this are closed when they are done.
const MAX_IDLE: usize = 8;

pub(crate) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<Connection> {
        let connection = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db)?;
        connection
            .busy_timeout(Duration::from_secs(crate::BUSY_TIMEOUT_SECS))
            .map_err(db)?;
        connection.execute_batch(crate::MMAP_PRAGMA).map_err(db)?;
        Ok(connection)
    }

    /// Runs `read` on an idle connection (opening one when none is idle) and returns it to
    /// the idle list afterwards.
    pub(crate) fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let connection = match idle {
            Some(connection) => connection,
            None => self.open()?,
        };
        let result = read(&connection);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(connection);
        }
        result
    }
}
