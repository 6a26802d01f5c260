//! Databases made for one test: `ScratchDatabase::new` makes an empty database on the
//! PostgreSQL at `SLUICE_TEST_POSTGRES_URL` (default: this machine's own,
//! `postgres://root@127.0.0.1:5432/postgres`), and dropping it drops the database.

use sqlx::Connection;

/// The server tests use when `SLUICE_TEST_POSTGRES_URL` does not name one.
pub const DEFAULT_TEST_SERVER: &str = "postgres://root@127.0.0.1:5432/postgres";

pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// Where the new database is.
    pub url: String,
}

impl ScratchDatabase {
    /// Panics when the server cannot be reached: a test that asked for PostgreSQL must not
    /// pass without it.
    pub async fn new() -> Self {
        let admin_url = std::env::var("SLUICE_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_TEST_SERVER.into());
        let mut nonce = [0u8; 6];
        getrandom::fill(&mut nonce).expect("randomness");
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("sluice_test_{}_{nonce}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("connecting to {admin_url} (set SLUICE_TEST_POSTGRES_URL): {e}")
            });
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        let _ = admin.close().await;
        let (base, _) = admin_url
            .rsplit_once('/')
            .expect("a database URL ends in /NAME");
        let url = format!("{base}/{name}");
        Self {
            admin_url,
            name,
            url,
        }
    }
}

impl Drop for ScratchDatabase {
    /// Drops the database (and any connection still open to it) from a thread of its own, as
    /// dropping may happen inside or outside an async runtime.
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}
