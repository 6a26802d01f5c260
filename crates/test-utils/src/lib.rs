//! Test support: `TestServer` runs the real server (a real SQLite store in a temp dir, or with
//! `SLUICE_TEST_BACKEND=postgres` a PostgreSQL database made for it) on an ephemeral port and
//! speaks HTTP to it; `ManualClock` lets a test set the time.

mod scratch;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
pub use scratch::ScratchDatabase;
use serde_json::Value;
use sluice_service::{Clock, Options, Sluice};
use sluice_store_sqlite::SqliteStore;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A clock that only moves when told to.
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn at(ms: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(ms)))
    }

    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// What the server answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `__type` of an error reply.
    pub fn error_type(&self) -> &str {
        self.body["__type"].as_str().unwrap_or_default()
    }

    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }
}

/// The real server on 127.0.0.1:0 over a fresh SQLite database.
pub struct TestServer {
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    pub sluice: Sluice,
    /// The server's store, for tests that stage a crash between two transactions.
    pub store: Arc<dyn sluice_store::Store>,
    /// The PostgreSQL database of a server on that backend, dropped with the server.
    _database: Option<ScratchDatabase>,
    /// Owned so the database outlives the server; removed on drop.
    _dir: tempfile::TempDir,
    /// Sending (or dropping) stops the server.
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Stops the built-in providers when they run.
    providers_stop: Option<tokio::sync::watch::Sender<bool>>,
    providers_task: Option<tokio::task::JoinHandle<()>>,
}

/// The access key every test server knows (the account root) and tests sign with.
pub const TEST_ACCESS_KEY_ID: &str = "AKIDSLUICETEST";
pub const TEST_SECRET_ACCESS_KEY: &str = "sluice-test-secret";

/// SigV4 headers (`x-amz-date`, `authorization`, and for S3 `x-amz-content-sha256`) for a
/// request signed with the test key at `now_ms`.
pub fn sign(
    method: &str,
    path_and_query: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    service: &str,
    now_ms: i64,
) -> Vec<(String, String)> {
    let credentials = sluice_sigv4::Credentials {
        access_key_id: TEST_ACCESS_KEY_ID.into(),
        secret_access_key: TEST_SECRET_ACCESS_KEY.into(),
        session_token: None,
    };
    sign_as(
        &credentials,
        method,
        path_and_query,
        host,
        headers,
        body,
        service,
        now_ms,
    )
}

/// Like `sign`, with other credentials.
#[allow(clippy::too_many_arguments)]
pub fn sign_as(
    credentials: &sluice_sigv4::Credentials,
    method: &str,
    path_and_query: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    service: &str,
    now_ms: i64,
) -> Vec<(String, String)> {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let hash = sluice_sigv4::sha256_hex(body);
    let mut all: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    all.push(("host".into(), host.into()));
    let mut added = Vec::new();
    if service == "s3" {
        added.push(("x-amz-content-sha256".to_string(), hash.clone()));
        all.push(("x-amz-content-sha256".into(), hash.clone()));
    }
    let request = sluice_sigv4::Request {
        method,
        path,
        query,
        headers: &all,
        payload_hash: &hash,
    };
    let style = if service == "s3" {
        sluice_sigv4::PathStyle::Verbatim
    } else {
        sluice_sigv4::PathStyle::Normalized
    };
    added.extend(sluice_sigv4::sign(
        &request,
        credentials,
        "us-east-1",
        service,
        &sluice_model::time::amz_date(now_ms),
        style,
    ));
    added
}

/// The wall clock, for signing requests to servers on the system clock.
pub fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The sandbox `sluice serve` uses by default, with this build's `sluice` binary (next to
/// the integration-test binary's `deps/` directory) as the launcher.
pub fn test_sandbox() -> sluice_sandbox::Sandbox {
    let exe = std::env::current_exe().expect("the test binary's path");
    let launcher = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug/deps/TEST")
        .join("sluice");
    sluice_sandbox::Sandbox::new(sluice_sandbox::Options {
        mode: sluice_sandbox::Mode::Enforce,
        launcher,
        user: sluice_sandbox::running_as_root()
            .then(|| sluice_sandbox::default_user().expect("a user to run jobs as")),
        network: true,
        limits: sluice_sandbox::Limits::default(),
        read_paths: sluice_sandbox::DEFAULT_READ_PATHS
            .iter()
            .map(std::path::PathBuf::from)
            .collect(),
        path: sluice_sandbox::DEFAULT_PATH.into(),
        max_log_bytes: 64 << 20,
    })
}

/// Whether test servers keep their state in PostgreSQL (`SLUICE_TEST_BACKEND=postgres`)
/// rather than SQLite.
pub fn on_postgres() -> bool {
    std::env::var("SLUICE_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// The store of a test server: SQLite in `dir`, or a PostgreSQL database of its own.
async fn open_store(
    dir: &std::path::Path,
) -> (Arc<dyn sluice_store::Store>, Option<ScratchDatabase>) {
    if on_postgres() {
        let database = ScratchDatabase::new().await;
        let store = sluice_store_postgres::PgStore::connect(&database.url)
            .await
            .expect("open store");
        (Arc::new(store), Some(database))
    } else {
        let store = SqliteStore::open(&dir.join("sluice.db"))
            .await
            .expect("open store");
        (Arc::new(store), None)
    }
}

/// The clock every test server starts at: 2016-07-06, the guide's date.
pub const START_MS: i64 = 1_467_763_200_000;

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(options: Options) -> Self {
        Self::start_inner(options, None).await
    }

    /// The server with its built-in providers (sources, Commands, CodeBuild with `projects`).
    pub async fn start_with_providers(
        options: Options,
        projects: std::collections::BTreeMap<String, sluice_worker::runners::Project>,
    ) -> Self {
        Self::start_with_external_s3(options, projects, None).await
    }

    /// As `start_with_providers`, with S3 sources outside this server read from `external_s3`.
    pub async fn start_with_external_s3(
        mut options: Options,
        projects: std::collections::BTreeMap<String, sluice_worker::runners::Project>,
        external_s3: Option<sluice_artifacts::S3BlobConfig>,
    ) -> Self {
        options.providers = sluice_server::provider_types();
        Self::start_inner(options, Some((projects, external_s3, test_sandbox()))).await
    }

    /// As `start_with_providers`, with builds confined by `sandbox`.
    pub async fn start_with_sandbox(
        mut options: Options,
        projects: std::collections::BTreeMap<String, sluice_worker::runners::Project>,
        sandbox: sluice_sandbox::Sandbox,
    ) -> Self {
        options.providers = sluice_server::provider_types();
        Self::start_inner(options, Some((projects, None, sandbox))).await
    }

    /// The data dir of this server (a temporary directory).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// Where the providers look for `Owner/Repo` of GitHub actions (a directory of repositories).
    pub fn github_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("github")
    }

    /// Where hosted repositories live (`NAME.git`).
    pub fn repos_dir(&self) -> std::path::PathBuf {
        self._dir.path().join("repos")
    }

    async fn start_inner(
        options: Options,
        providers: Option<(
            std::collections::BTreeMap<String, sluice_worker::runners::Project>,
            Option<sluice_artifacts::S3BlobConfig>,
            sluice_sandbox::Sandbox,
        )>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        // As `sluice serve` leaves its data dir: jobs may pass through to their workspace.
        test_sandbox()
            .make_traversable(dir.path())
            .expect("data dir mode");
        let repos_dir = dir.path().join("repos");
        std::fs::create_dir_all(&repos_dir).expect("repos dir");
        let (store, database) = open_store(dir.path()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut options = options;
        options.public_url = format!("http://{addr}");
        // As `sluice serve` on PostgreSQL: pushes are published for replicas.
        options.shared_repositories |= on_postgres();
        let clock = ManualClock::at(START_MS);
        let sluice = Sluice::new(
            store.clone(),
            Arc::new(
                sluice_artifacts::ObjectBlobStore::local(&dir.path().join("blobs"))
                    .expect("blob store"),
            ),
            clock.clone(),
            Arc::new(sluice_service::RandomIds),
            options,
        );
        sluice
            .ensure_root_access_key(TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY)
            .await
            .expect("test key");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(sluice_server::run(
            listener,
            async move {
                let _ = rx.await;
            },
            sluice.clone(),
            Some(sluice_server::HostedRepos {
                dir: repos_dir.clone(),
                sandbox: providers
                    .as_ref()
                    .map_or_else(test_sandbox, |(_, _, sandbox)| sandbox.clone()),
            }),
        ));
        let (providers_stop, providers_task) = match providers {
            Some((projects, external_s3, sandbox)) => {
                let (tx, rx) = tokio::sync::watch::channel(false);
                let config = sluice_server::ProviderConfig {
                    work_dir: dir.path().join("work"),
                    repos_dir,
                    mirrors_dir: dir.path().join("mirrors"),
                    github_base_url: dir.path().join("github").display().to_string(),
                    projects,
                    max_concurrent_jobs: 2,
                    job_timeout: std::time::Duration::from_secs(120),
                    poll_interval: std::time::Duration::from_millis(200),
                    external_s3,
                    sandbox,
                    poll_sources: true,
                    requeue_at_start: true,
                };
                let task = tokio::spawn(sluice_server::run_providers(sluice.clone(), config, rx));
                (Some(tx), Some(task))
            }
            None => (None, None),
        };
        Self {
            addr,
            clock,
            sluice,
            store,
            _database: database,
            _dir: dir,
            shutdown: Some(tx),
            task: Some(task),
            providers_stop,
            providers_task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Calls a CodePipeline operation with a JSON body.
    /// Calls an operation, signed with the test key at the server's time.
    pub async fn call(&self, operation: &str, body: Value) -> Reply {
        let target = format!("CodePipeline_20150709.{operation}");
        signed_post(
            self.addr,
            self.clock.now_ms(),
            &[("x-amz-target", &target)],
            body.to_string().into_bytes(),
        )
        .await
    }

    /// An S3 request signed with the test key at the server's time.
    pub async fn s3(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> (u16, hyper::HeaderMap, Vec<u8>) {
        let signed = sign(
            method,
            path,
            &self.addr.to_string(),
            &[],
            &body,
            "s3",
            self.clock.now_ms(),
        );
        let headers: Vec<(&str, &str)> = signed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        http(self.addr, method, path, &headers, body).await
    }

    /// Calls an operation and expects success.
    pub async fn ok(&self, operation: &str, body: Value) -> Value {
        let reply = self.call(operation, body).await;
        assert_eq!(reply.status, 200, "{operation} failed: {}", reply.body);
        reply.body
    }

    /// Calls an operation and expects the given error type.
    pub async fn err(&self, operation: &str, body: Value, error_type: &str) -> Reply {
        let reply = self.call(operation, body).await;
        assert_eq!(
            reply.error_type(),
            error_type,
            "{operation}: {}",
            reply.body
        );
        assert!(reply.status >= 400, "error replies are not 2xx");
        reply
    }

    /// Runs `sql` on the server's database behind its back, as someone with access to the
    /// database could: for tests of what tampering is noticed.
    pub async fn tamper(&self, sql: &str) {
        use sqlx::Connection;
        match &self._database {
            Some(database) => {
                let mut c = sqlx::PgConnection::connect(&database.url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql).execute(&mut c).await.expect("tamper");
            }
            None => {
                let path = self.data_dir().join("sluice.db");
                let mut c =
                    sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
                        .await
                        .expect("connect");
                sqlx::raw_sql(sql).execute(&mut c).await.expect("tamper");
            }
        }
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.providers_stop.take() {
            let _ = tx.send(true);
        }
        if let Some(task) = self.providers_task.take() {
            let _ = task.await;
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// Any HTTP request; returns the status, headers and raw body.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, hyper::HeaderMap, Vec<u8>) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .expect("handshake");
    tokio::spawn(conn);
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = sender
        .send_request(request.body(Full::new(Bytes::from(body))).expect("request"))
        .await
        .expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, bytes.to_vec())
}

/// Like `raw_post`, signed with the test key at `now_ms`.
pub async fn signed_post(
    addr: SocketAddr,
    now_ms: i64,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Reply {
    try_signed_post(addr, now_ms, headers, body)
        .await
        .expect("the server answers")
}

/// Like `try_post`, signed with the test key at `now_ms`.
pub async fn try_signed_post(
    addr: SocketAddr,
    now_ms: i64,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Reply, String> {
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    all.push(("content-type", "application/x-amz-json-1.1"));
    let signed = sign(
        "POST",
        "/",
        &addr.to_string(),
        &all,
        &body,
        "codepipeline",
        now_ms,
    );
    let mut with: Vec<(&str, &str)> = headers.to_vec();
    with.extend(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    try_post(addr, &with, body).await
}

/// POSTs `body` to `/` with the given headers (plus the JSON 1.1 content type).
pub async fn raw_post(addr: SocketAddr, headers: &[(&str, &str)], body: Vec<u8>) -> Reply {
    try_post(addr, headers, body)
        .await
        .expect("the server answers")
}

/// Like `raw_post`, but a connection that fails or breaks is an `Err`, for tests that kill
/// the server on purpose.
pub async fn try_post(
    addr: SocketAddr,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Result<Reply, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut request = hyper::Request::post("/")
        .header("host", addr.to_string())
        .header("content-type", "application/x-amz-json-1.1");
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let request = request
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}
