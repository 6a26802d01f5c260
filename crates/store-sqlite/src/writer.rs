//! Group commit. One task owns the only write connection; every write operation is sent to it
//! and waits for its answer. The task takes whatever operations are waiting (up to
//! `MAX_BATCH`), runs each inside its own savepoint — a failed operation rolls back alone — and
//! commits them together, so one fsync makes a whole batch durable. An operation's caller hears
//! its result only after that commit.

use sluice_store::{Error, Result};
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::{mpsc, oneshot};

/// The most operations one transaction commits together.
pub const MAX_BATCH: usize = 64;
/// How many operations may wait for the writer before senders wait too.
pub const QUEUE_BOUND: usize = 1024;

pub type OpFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'c>>;

/// A type-erased write operation.
pub trait WriteOp: Send {
    /// Runs the operation; true when it succeeded (its savepoint is kept).
    fn run<'c>(
        &'c mut self,
        conn: &'c mut SqliteConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>>;
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
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> OpFuture<'c, T> + Send + 'static,
{
    fn run<'c>(
        &'c mut self,
        conn: &'c mut SqliteConnection,
    ) -> Pin<Box<dyn Future<Output = bool> + Send + 'c>> {
        let f = self.f.take();
        Box::pin(async move {
            let result = match f {
                Some(f) => f(conn).await,
                None => Err(Error::Backend("a write operation ran twice".into())),
            };
            let ok = result.is_ok();
            self.result = Some(result);
            ok
        })
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
    /// Finish what is queued before this, then stop.
    Close,
}

/// Wraps `f` as an operation and the receiver of its answer.
pub fn op<T, F>(f: F) -> (Box<dyn WriteOp>, oneshot::Receiver<Result<T>>)
where
    T: Send + 'static,
    F: for<'c> FnOnce(&'c mut SqliteConnection) -> OpFuture<'c, T> + Send + 'static,
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

/// Boxed with an explicit `Send` so the writer task's future is `Send` for every lifetime
/// (the compiler cannot prove it through sqlx's executor trait otherwise).
fn exec<'a>(
    conn: &'a mut SqliteConnection,
    sql: &'static str,
) -> Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send + 'a>> {
    Box::pin(async move {
        sqlx::query(sql)
            .execute(&mut *conn)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
}

/// The writer task: runs until `Close` or until every sender is gone.
pub async fn run(mut conn: PoolConnection<Sqlite>, mut queue: mpsc::Receiver<Message>) {
    let mut closing = false;
    while !closing {
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut batch = Vec::new();
        match first {
            Message::Op(op) => batch.push(op),
            Message::Close => return,
        }
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(Message::Op(op)) => batch.push(op),
                Ok(Message::Close) => {
                    closing = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let commit = commit_batch(&mut conn, &mut batch).await;
        if let Err(e) = &commit {
            tracing::error!(error = %e, operations = batch.len(), "a write batch failed to commit");
        }
        for op in batch {
            op.finish(commit.clone());
        }
    }
}

fn commit_batch<'a>(
    conn: &'a mut SqliteConnection,
    batch: &'a mut [Box<dyn WriteOp>],
) -> Pin<Box<dyn Future<Output = std::result::Result<(), String>> + Send + 'a>> {
    Box::pin(async move {
        exec(conn, "BEGIN IMMEDIATE").await?;
        for op in batch.iter_mut() {
            let step: std::result::Result<(), String> = async {
                exec(conn, "SAVEPOINT op").await?;
                if op.run(conn).await {
                    exec(conn, "RELEASE op").await
                } else {
                    exec(conn, "ROLLBACK TO op").await?;
                    exec(conn, "RELEASE op").await
                }
            }
            .await;
            if let Err(e) = step {
                let _ = exec(conn, "ROLLBACK").await;
                return Err(e);
            }
        }
        if let Err(e) = exec(conn, "COMMIT").await {
            let _ = exec(conn, "ROLLBACK").await;
            return Err(e);
        }
        Ok(())
    })
}

/// Maps a closed queue to a store error.
pub fn closed<T>(_: T) -> Error {
    Error::Backend("the store is closed".into())
}
