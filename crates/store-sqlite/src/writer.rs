//! Group commit on a thread of its own. One thread owns the only write connection (rusqlite,
//! so a statement is a function call rather than a message to another thread); every write
//! operation is sent to it and waits for its answer. The thread takes whatever operations are
//! waiting (up to `MAX_BATCH`), runs each inside its own savepoint — a failed operation rolls
//! back alone — and commits them together, so one fsync makes a whole batch durable. An
//! operation's caller hears its result only after that commit.
//!
//! Every batch first appends the audit events queued in memory (`audit::Queued`), so an
//! event queued before a write was sent is committed no later than that write.

use rusqlite::Connection;
use sluice_store::{Error, Result};
use tokio::sync::{mpsc, oneshot};

/// The most operations one transaction commits together.
pub const MAX_BATCH: usize = 128;
/// How many operations may wait for the writer before senders wait too.
pub const QUEUE_BOUND: usize = 1024;

/// A type-erased write operation.
pub trait WriteOp: Send {
    /// Runs the operation; true when it succeeded (its savepoint is kept).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch's commit is known.
    fn finish(self: Box<Self>, commit: std::result::Result<(), String>);
}

struct Op<T, F> {
    f: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> WriteOp for Op<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = match self.f.take() {
            Some(f) => f(conn),
            None => Err(Error::Backend("a write operation ran twice".into())),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn finish(self: Box<Self>, commit: std::result::Result<(), String>) {
        let answer = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Err(_), Some(Err(e))) => Err(e),
            (Err(e), _) => Err(Error::Backend(e)),
            (Ok(()), None) => Err(Error::Backend("a write operation never ran".into())),
        };
        // The caller may have gone away; its write is committed regardless.
        let _ = self.reply.send(answer);
    }
}

pub enum Message {
    Op(Box<dyn WriteOp>),
    /// Commit the queued audit events, with nothing else to write.
    Flush,
    /// Finish what is queued before this, then stop.
    Close,
}

/// Wraps `f` as an operation and the receiver of its answer.
pub fn op<T, F>(f: F) -> (Box<dyn WriteOp>, oneshot::Receiver<Result<T>>)
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send + 'static,
{
    let (reply, answer) = oneshot::channel();
    (
        Box::new(Op {
            f: Some(f),
            result: None,
            reply,
        }),
        answer,
    )
}

fn exec(conn: &Connection, sql: &str) -> std::result::Result<(), String> {
    conn.execute_batch(sql).map_err(|e| e.to_string())
}

/// The writer thread's loop: runs until `Close` or until every sender is gone.
pub fn run(conn: Connection, mut queue: mpsc::Receiver<Message>, audit: crate::audit::Queued) {
    let mut closing = false;
    while !closing {
        let Some(first) = queue.blocking_recv() else {
            commit_batch(&conn, &audit, &mut []).ok();
            return;
        };
        let mut batch = Vec::new();
        match first {
            Message::Op(op) => batch.push(op),
            Message::Flush => {}
            Message::Close => closing = true,
        }
        while !closing && batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Message::Op(op)) => batch.push(op),
                Ok(Message::Flush) => {}
                Ok(Message::Close) => closing = true,
                Err(_) => break,
            }
        }
        let commit = commit_batch(&conn, &audit, &mut batch);
        if let Err(e) = &commit {
            tracing::error!(error = %e, operations = batch.len(), "a write batch failed to commit");
        }
        for op in batch {
            op.finish(commit.clone());
        }
    }
}

fn commit_batch(
    conn: &Connection,
    audit: &crate::audit::Queued,
    batch: &mut [Box<dyn WriteOp>],
) -> std::result::Result<(), String> {
    let (events, completing) = audit.take();
    if batch.is_empty() && events.is_empty() && completing.is_empty() {
        return Ok(());
    }
    exec(conn, "BEGIN IMMEDIATE")
        .and_then(|()| {
            let written = write_batch(conn, audit, &events, &completing, batch)
                .and_then(|()| exec(conn, "COMMIT"));
            if written.is_err() {
                let _ = exec(conn, "ROLLBACK");
            }
            written
        })
        .inspect_err(|_| {
            // Nothing of the batch was kept: the queued events go with the next one.
            audit.put_back(events, completing);
        })
}

/// The queued audit events, then each operation in its own savepoint.
fn write_batch(
    conn: &Connection,
    audit: &crate::audit::Queued,
    events: &[sluice_store::NewAuditEvent],
    completing: &[String],
    batch: &mut [Box<dyn WriteOp>],
) -> std::result::Result<(), String> {
    if !(events.is_empty() && completing.is_empty()) {
        // The queued events' callers have their answers already: an event that cannot be
        // appended is logged, and the batch's own operations go on.
        exec(conn, "SAVEPOINT audit")?;
        match audit.append(conn, events, completing) {
            Ok(()) => exec(conn, "RELEASE audit")?,
            Err(e) => {
                tracing::error!(error = %e, events = events.len(), "queued audit events failed to append");
                exec(conn, "ROLLBACK TO audit; RELEASE audit")?;
            }
        }
    }
    for op in batch.iter_mut() {
        exec(conn, "SAVEPOINT op").and_then(|()| {
            if op.run(conn) {
                exec(conn, "RELEASE op")
            } else {
                exec(conn, "ROLLBACK TO op; RELEASE op")
            }
        })?;
    }
    Ok(())
}

/// Maps a closed queue to a store error.
pub fn closed<T>(_: T) -> Error {
    Error::Backend("the store is closed".into())
}
