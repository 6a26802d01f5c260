//! The server's function host: a function's package is unpacked once per code version (with
//! the artifacts' checks) into the work dir, and invocations run on the warm, sandboxed process
//! pool of `sluice_functions`, with the environment AWS gives a function — its execution
//! role's temporary credentials, and `AWS_ENDPOINT_URL` pointing at this server so that the
//! SDKs inside reach Sluice with no change. Logs are masked and kept per invocation.

use sluice_functions::{FunctionSpec, Invocation, Outcome, Pool};
use sluice_service::functions::{FunctionHost, FunctionView, InvokeRequest, InvokeResult};
use sluice_service::{Error, Result, Sluice};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How often idle processes past their time are ended.
const REAP_INTERVAL: Duration = Duration::from_secs(30);

pub struct ServerFunctions {
    pool: Arc<Pool>,
    code_root: PathBuf,
    sandbox: sluice_sandbox::Sandbox,
    /// Serializes unpacking, so two first invocations do not unpack the same package twice.
    unpacking: tokio::sync::Mutex<()>,
}

/// Installs the function host on `sluice`: processes under `WORK_DIR/functions`.
pub fn install_functions(
    sluice: &Sluice,
    sandbox: sluice_sandbox::Sandbox,
    work_dir: &std::path::Path,
    config: sluice_functions::Config,
) {
    let root = sluice_functions::pool_dir(work_dir);
    let prepared = [root.join("code"), root.join("run")]
        .iter()
        .try_for_each(|dir| {
            std::fs::create_dir_all(dir)?;
            sandbox.make_traversable(dir)
        });
    if let Err(e) = prepared.and_then(|()| sandbox.make_traversable(&root)) {
        // Invocations will fail saying where; the server itself can still serve.
        tracing::error!(dir = %root.display(), error = %e, "the function pool's directories could not be prepared");
    }
    let pool = Pool::new(sandbox.clone(), root.join("run"), config);
    {
        let pool = Arc::downgrade(&pool);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REAP_INTERVAL).await;
                match pool.upgrade() {
                    Some(pool) => pool.reap(),
                    None => return,
                }
            }
        });
    }
    sluice.set_function_host(Arc::new(ServerFunctions {
        pool,
        code_root: root.join("code"),
        sandbox,
        unpacking: tokio::sync::Mutex::new(()),
    }));
}

fn internal(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("{what}: {e}"))
}

impl ServerFunctions {
    /// The unpacked package of the function's current code version.
    async fn code_dir(&self, sluice: &Sluice, function: &FunctionView) -> Result<PathBuf> {
        // One directory per package: `NAME/HEX.zip` → `NAME-HEX`.
        let package = function.config.code_version.replace('/', "-");
        let dir = self.code_root.join(package.trim_end_matches(".zip"));
        if dir.exists() {
            return Ok(dir);
        }
        let _guard = self.unpacking.lock().await;
        if dir.exists() {
            return Ok(dir);
        }
        let zip = sluice.function_code(function).await?;
        let staging = self
            .code_root
            .join(format!(".{}-{}", function.name, sluice.new_id()));
        let target = dir.clone();
        let sandbox = self.sandbox.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            std::fs::create_dir_all(&staging).map_err(|e| internal("unpacking the function", e))?;
            sluice_artifacts::unpack(
                std::io::Cursor::new(zip),
                &staging,
                &sluice_artifacts::UnpackLimits::default(),
            )
            .map_err(|e| Error::Named {
                code: "InvalidZipFileException",
                message: format!("Could not unpack the function's package: {e}"),
            })?;
            sandbox
                .hand_over(&staging)
                .map_err(|e| internal("handing the function's code to the sandbox user", e))?;
            std::fs::rename(&staging, &target)
                .map_err(|e| internal("placing the function's code", e))
        })
        .await
        .map_err(|e| internal("unpacking the function", e))??;
        Ok(dir)
    }
}

/// The error document AWS answers for an invocation the runtime did not finish.
fn runtime_error(kind: &str, message: String) -> Vec<u8> {
    serde_json::json!({"errorType": kind, "errorMessage": message})
        .to_string()
        .into_bytes()
}

#[async_trait::async_trait]
impl FunctionHost for ServerFunctions {
    async fn invoke(
        &self,
        sluice: &Sluice,
        function: &FunctionView,
        request: InvokeRequest,
    ) -> Result<InvokeResult> {
        let code_dir = self.code_dir(sluice, function).await?;
        let credentials = sluice.function_credentials(function).await?;
        let secret = credentials.secret_access_key.expose().to_string();
        let options = sluice.options();
        let endpoint = options.public_url.trim_end_matches('/').to_string();
        let config = &function.config;
        let mut environment: Vec<(String, String)> = config
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        environment.extend([
            (
                "AWS_LAMBDA_FUNCTION_NAME".to_string(),
                function.name.clone(),
            ),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(),
                config.memory_size.to_string(),
            ),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME".into(),
                format!("/aws/lambda/{}", function.name),
            ),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME".into(),
                format!("$LATEST/{}", function.revision_id),
            ),
            (
                "AWS_EXECUTION_ENV".into(),
                format!("AWS_Lambda_{}", config.runtime),
            ),
            ("AWS_REGION".into(), options.region.clone()),
            ("AWS_DEFAULT_REGION".into(), options.region.clone()),
            (
                "AWS_ACCESS_KEY_ID".into(),
                credentials.access_key_id.clone(),
            ),
            ("AWS_SECRET_ACCESS_KEY".into(), secret.clone()),
            (
                "AWS_SESSION_TOKEN".into(),
                credentials.session_token.clone(),
            ),
            ("AWS_ENDPOINT_URL".into(), endpoint),
            ("TZ".into(), ":UTC".into()),
        ]);
        let spec = FunctionSpec {
            key: format!("{}\n{}", function.name, function.revision_id),
            runtime: config.runtime.clone(),
            handler: config.handler.clone(),
            code_dir,
            timeout: Duration::from_secs(config.timeout.max(1) as u64),
            function_arn: function.arn.clone(),
            environment,
        };
        let invocation = Invocation {
            request_id: request.request_id.clone(),
            payload: if request.payload.is_empty() {
                b"{}".to_vec()
            } else {
                request.payload
            },
            client_context: request.client_context,
            deadline_ms: sluice.now_ms() + config.timeout * 1000,
        };
        let invoked = self
            .pool
            .invoke(&spec, invocation)
            .await
            .map_err(|e| Error::Named {
                code: "ServiceException",
                message: e.to_string(),
            })?;
        // The credentials never reach a stored log.
        let mut log = invoked.log.clone();
        for secret in [secret.as_str(), credentials.session_token.as_str()] {
            if !secret.is_empty() {
                log = log.replace(secret, "****");
            }
        }
        let report = format!(
            "START RequestId: {id} Version: $LATEST\n{log}END RequestId: {id}\nREPORT RequestId: {id}\tDuration: {:.2} ms\tMemory Size: {} MB{}\n",
            invoked.duration.as_secs_f64() * 1000.0,
            config.memory_size,
            if invoked.cold { "\tInit: cold start" } else { "" },
            id = request.request_id,
        );
        if let Err(e) = sluice
            .store_function_log(
                &function.name,
                &request.request_id,
                report.clone().into_bytes(),
            )
            .await
        {
            tracing::warn!(function = %function.name, error = %e, "a function's log could not be stored");
        }
        let (payload, function_error) = match invoked.outcome {
            Outcome::Response(body) => (body, None),
            Outcome::Error { body, .. } => (body, Some("Unhandled".to_string())),
            Outcome::TimedOut => (
                runtime_error(
                    "Sandbox.Timedout",
                    format!(
                        "RequestId: {} Error: Task timed out after {}.00 seconds",
                        request.request_id, config.timeout
                    ),
                ),
                Some("Unhandled".to_string()),
            ),
            Outcome::Exited(why) => (
                runtime_error(
                    "Runtime.ExitError",
                    format!("RequestId: {} Error: {why}", request.request_id),
                ),
                Some("Unhandled".to_string()),
            ),
        };
        Ok(InvokeResult {
            payload,
            function_error,
            log: report,
        })
    }

    fn forget(&self, name: &str) {
        self.pool.forget(&format!("{name}\n"));
    }
}
