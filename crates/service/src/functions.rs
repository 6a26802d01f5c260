//! Lambda functions: their configuration (a document in the store), their code (an object in
//! the `sluice-functions` bucket, encrypted like every object) and invocation, which the
//! server's `FunctionHost` runs (a warm pool of sandboxed processes speaking the Runtime API).
//! A function runs with temporary credentials of its execution role, whose trust policy must
//! let `lambda.amazonaws.com` in.

use crate::notifications::named;
use crate::{Error, Page, Result, RoleSession, Sluice};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sluice_store::{FunctionRecord, OutboxRecord, PrincipalKind};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The bucket function code is kept in.
pub const FUNCTION_BUCKET: &str = "sluice-functions";
/// Most functions on the server.
pub const MAX_FUNCTIONS: usize = 1_000;
/// The largest deployment package, zipped (AWS: 50 MB direct, 250 MB unzipped).
pub const MAX_CODE_BYTES: usize = 50 << 20;
/// The service principal an execution role must trust.
pub const LAMBDA_SERVICE: &str = "lambda.amazonaws.com";
/// How long an invocation's credentials last beyond its timeout.
const CREDENTIAL_SLACK_SECS: i64 = 300;
/// Environment variables a function may not set (AWS reserves them).
const RESERVED: &[&str] = &[
    "_HANDLER",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

fn not_found(arn: &str) -> Error {
    named(
        "ResourceNotFoundException",
        format!("Function not found: {arn}"),
    )
}

fn invalid(message: impl Into<String>) -> Error {
    named("InvalidParameterValueException", message)
}

/// What a function is, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionConfig {
    pub runtime: String,
    pub handler: String,
    pub role: String,
    #[serde(default)]
    pub description: String,
    pub timeout: i64,
    pub memory_size: i64,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// base64 of the package's SHA-256, as `CodeSha256` shows it.
    pub code_sha256: String,
    pub code_size: i64,
    /// The code's object key in `FUNCTION_BUCKET`: `NAME/SHA256-HEX.zip`, so a key is one
    /// package forever.
    pub code_version: String,
    /// The resource policy (`AddPermission`): who besides IAM callers may invoke it.
    #[serde(default)]
    pub permissions: Vec<Permission>,
}

/// One statement of a function's resource policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Permission {
    pub sid: String,
    pub action: String,
    /// A service (`sns.amazonaws.com`), an account id or an ARN.
    pub principal: String,
    #[serde(default)]
    pub source_arn: Option<String>,
    #[serde(default)]
    pub source_account: Option<String>,
}

impl Permission {
    /// The statement as `GetPolicy` shows it.
    pub fn statement(&self, function_arn: &str) -> serde_json::Value {
        let principal = if self.principal.ends_with(".amazonaws.com") {
            serde_json::json!({"Service": self.principal})
        } else if self.principal.chars().all(|c| c.is_ascii_digit()) {
            serde_json::json!({"AWS": format!("arn:aws:iam::{}:root", self.principal)})
        } else {
            serde_json::json!({"AWS": self.principal})
        };
        let mut statement = serde_json::json!({
            "Sid": self.sid, "Effect": "Allow", "Principal": principal,
            "Action": self.action, "Resource": function_arn,
        });
        let mut condition = serde_json::Map::new();
        if let Some(arn) = &self.source_arn {
            condition.insert("ArnLike".into(), serde_json::json!({"AWS:SourceArn": arn}));
        }
        if let Some(account) = &self.source_account {
            condition.insert(
                "StringEquals".into(),
                serde_json::json!({"AWS:SourceAccount": account}),
            );
        }
        if !condition.is_empty() {
            statement["Condition"] = serde_json::Value::Object(condition);
        }
        statement
    }

    /// Whether this statement lets `service` invoke the function for `source_arn`.
    fn allows(&self, service: &str, source_arn: &str) -> bool {
        let action = matches!(
            self.action.as_str(),
            "lambda:InvokeFunction" | "lambda:*" | "*"
        );
        let principal = self.principal == service || self.principal == "*";
        let source = self
            .source_arn
            .as_deref()
            .is_none_or(|pattern| sluice_policy::glob_match(pattern, source_arn, false));
        // `SourceAccount`: the account the source resource (the topic, the rule) belongs to.
        let account = self
            .source_account
            .as_deref()
            .is_none_or(|wanted| source_arn.split(':').nth(4) == Some(wanted));
        action && principal && source && account
    }
}

/// Who an invocation is for: a service on behalf of a resource (SNS for a topic, EventBridge
/// for a rule), whose permission the function's policy must grant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvokedBy {
    pub service: String,
    pub source_arn: String,
}

/// An `invoke` outbox row's body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct QueuedInvocation {
    pub payload: String,
    #[serde(default)]
    pub by: Option<InvokedBy>,
}

impl QueuedInvocation {
    pub(crate) fn row(&self, id: String, function: &str, now_ms: i64) -> OutboxRecord {
        OutboxRecord::new(
            id,
            "invoke",
            function.to_string(),
            serde_json::to_string(self).unwrap_or_default(),
            now_ms,
        )
    }
}

/// A function as the API shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionView {
    pub name: String,
    pub arn: String,
    pub config: FunctionConfig,
    pub revision_id: String,
    pub last_modified_ms: i64,
}

/// Settings of `CreateFunction` and `UpdateFunctionConfiguration`; `None` keeps what is set.
#[derive(Debug, Clone, Default)]
pub struct FunctionSettings {
    pub runtime: Option<String>,
    pub handler: Option<String>,
    pub role: Option<String>,
    pub description: Option<String>,
    pub timeout: Option<i64>,
    pub memory_size: Option<i64>,
    pub environment: Option<BTreeMap<String, String>>,
}

/// Where a deployment package comes from.
#[derive(Debug, Clone)]
pub enum CodeSource {
    Zip(Vec<u8>),
    S3 {
        bucket: String,
        key: String,
        version: Option<String>,
    },
}

/// One invocation as the host runs it.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    pub request_id: String,
    pub payload: Vec<u8>,
    pub client_context: Option<String>,
}

/// How an invocation ended, as `Invoke` answers it.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeResult {
    pub payload: Vec<u8>,
    /// `Unhandled` when the function failed (its error document is the payload).
    pub function_error: Option<String>,
    /// The end of the invocation's log.
    pub log: String,
}

/// What runs functions: the server's warm process pool.
#[async_trait::async_trait]
pub trait FunctionHost: Send + Sync {
    async fn invoke(
        &self,
        sluice: &Sluice,
        function: &FunctionView,
        request: InvokeRequest,
    ) -> Result<InvokeResult>;
    /// Ends warm processes of a function that changed or went away.
    fn forget(&self, name: &str);
}

fn check_settings(config: &FunctionConfig) -> Result<()> {
    if !runtime_supported(&config.runtime) {
        return Err(invalid(format!(
            "The runtime parameter of {} is not supported by this Sluice server: use python3.x, nodejs*, provided.al2 or provided.al2023",
            config.runtime
        )));
    }
    if config.handler.is_empty() && !config.runtime.starts_with("provided") {
        return Err(invalid("The handler is required for the runtime."));
    }
    if !(1..=900).contains(&config.timeout) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{}' at 'timeout' failed to satisfy constraint: Member must have value between 1 and 900",
            config.timeout
        )));
    }
    if !(128..=10240).contains(&config.memory_size) {
        return Err(invalid(format!(
            "1 validation error detected: Value '{}' at 'memorySize' failed to satisfy constraint: Member must have value between 128 and 10240",
            config.memory_size
        )));
    }
    for key in config.environment.keys() {
        let valid = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(invalid(format!(
                "The environment variable name {key} is not valid."
            )));
        }
        if RESERVED.contains(&key.as_str()) {
            return Err(invalid(format!(
                "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {key}"
            )));
        }
    }
    Ok(())
}

/// The runtimes this server runs (`python3.x`, `nodejs*`, `provided*`): those the server's
/// function pool (`sluice_functions`) has a runtime client or a bootstrap for.
fn runtime_supported(runtime: &str) -> bool {
    runtime.starts_with("python3")
        || runtime.starts_with("nodejs")
        || matches!(runtime, "provided" | "provided.al2" | "provided.al2023")
}

impl Sluice {
    pub fn function_arn(&self, name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{name}",
            self.options().region,
            self.options().account_id
        )
    }

    /// Installs what runs functions; only the first call has an effect.
    pub fn set_function_host(&self, host: Arc<dyn FunctionHost>) {
        let _ = self.inner.function_host.set(host);
    }

    /// The function's name from a name, a partial ARN (`ACCOUNT:function:NAME`) or an ARN,
    /// with `$LATEST` as the only qualifier.
    pub fn function_name_of(&self, reference: &str, qualifier: Option<&str>) -> Result<String> {
        let parts: Vec<&str> = reference.split(':').collect();
        let (name, version) = match parts.as_slice() {
            [name] => (*name, None),
            [name, version] => (*name, Some(*version)),
            [_, "function", name] => (*name, None),
            [_, "function", name, version] => (*name, Some(*version)),
            ["arn", "aws", "lambda", _, _, "function", name] => (*name, None),
            ["arn", "aws", "lambda", _, _, "function", name, version] => (*name, Some(*version)),
            _ => {
                return Err(invalid(format!(
                    "The function name {reference} is not valid."
                )))
            }
        };
        for q in [version, qualifier].into_iter().flatten() {
            if q != "$LATEST" {
                return Err(invalid(format!(
                    "The qualifier {q} is not supported by this Sluice server: functions have no published versions or aliases here; use $LATEST"
                )));
            }
        }
        Ok(name.to_string())
    }

    fn function_view(&self, record: &FunctionRecord) -> Result<FunctionView> {
        Ok(FunctionView {
            name: record.name.clone(),
            arn: self.function_arn(&record.name),
            config: serde_json::from_str(&record.doc)
                .map_err(|e| Error::Internal(format!("function {}: {e}", record.name)))?,
            revision_id: record.revision_id.clone(),
            last_modified_ms: record.modified_ms,
        })
    }

    async fn check_execution_role(&self, role_arn: &str) -> Result<()> {
        let cannot = || invalid("The role defined for the function cannot be assumed by Lambda.");
        let (account, name) = crate::iam::role_of_arn(role_arn).ok_or_else(cannot)?;
        if account != self.options().account_id {
            return Err(cannot());
        }
        let role = self
            .store()
            .principal(PrincipalKind::Role, name)
            .await?
            .filter(|r| r.arn == role_arn)
            .ok_or_else(cannot)?;
        if !crate::iam::role_trusts(&role, None, Some(LAMBDA_SERVICE)) {
            return Err(cannot());
        }
        Ok(())
    }

    /// Stores a deployment package; returns (object key, base64 SHA-256, size).
    async fn store_code(&self, name: &str, code: CodeSource) -> Result<(String, String, i64)> {
        let bytes = match code {
            CodeSource::Zip(bytes) => bytes,
            CodeSource::S3 {
                bucket,
                key,
                version,
            } => {
                let (_, mut body) = self
                    .get_object(&bucket, &key, version.as_deref())
                    .await
                    .map_err(|e| invalid(format!("Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: {e}")))?;
                let mut out = Vec::new();
                use futures::StreamExt as _;
                while let Some(chunk) = body.next().await {
                    out.extend_from_slice(&chunk.map_err(|e| Error::Internal(e.to_string()))?);
                    if out.len() > MAX_CODE_BYTES {
                        break;
                    }
                }
                out
            }
        };
        if bytes.len() > MAX_CODE_BYTES {
            return Err(named(
                "RequestTooLargeException",
                format!("Request must be smaller than {MAX_CODE_BYTES} bytes for the CreateFunction operation"),
            ));
        }
        if zip_is_unreadable(&bytes) {
            return Err(invalid(
                "Could not unzip uploaded file. Please check your file, then try to upload again.",
            ));
        }
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(&bytes);
        let sha = base64::engine::general_purpose::STANDARD.encode(digest);
        let hex = sluice_model::hex(&digest);
        let key = format!("{name}/{hex}.zip");
        let size = bytes.len() as i64;
        self.ensure_bucket(FUNCTION_BUCKET).await?;
        self.store_object(
            FUNCTION_BUCKET,
            &key,
            sluice_artifacts::bytes_stream(bytes),
            Some("application/zip".into()),
            None,
        )
        .await?;
        Ok((key, sha, size))
    }

    /// `CreateFunction`.
    pub async fn create_function(
        &self,
        name: &str,
        settings: FunctionSettings,
        code: CodeSource,
    ) -> Result<FunctionView> {
        let mut config = FunctionConfig {
            runtime: settings
                .runtime
                .ok_or_else(|| invalid("Runtime is required for .zip file packages."))?,
            handler: settings.handler.unwrap_or_default(),
            role: settings.role.unwrap_or_default(),
            description: settings.description.unwrap_or_default(),
            timeout: settings.timeout.unwrap_or(3),
            memory_size: settings.memory_size.unwrap_or(128),
            environment: settings.environment.unwrap_or_default(),
            code_sha256: String::new(),
            code_size: 0,
            code_version: String::new(),
            permissions: Vec::new(),
        };
        check_settings(&config)?;
        self.check_execution_role(&config.role).await?;
        if self.store().function(name).await?.is_some() {
            return Err(named(
                "ResourceConflictException",
                format!("Function already exist: {name}"),
            ));
        }
        let (version, sha, size) = self.store_code(name, code).await?;
        config.code_version = version;
        config.code_sha256 = sha;
        config.code_size = size;
        let now = self.now_ms();
        let record = FunctionRecord {
            name: name.to_string(),
            revision_id: self.new_id(),
            doc: serde_json::to_string(&config).map_err(|e| Error::Internal(e.to_string()))?,
            created_ms: now,
            modified_ms: now,
        };
        match self.store().create_function(&record, MAX_FUNCTIONS).await {
            Ok(()) => self.function_view(&record),
            Err(sluice_store::Error::AlreadyExists(_)) => Err(named(
                "ResourceConflictException",
                format!("Function already exist: {name}"),
            )),
            Err(sluice_store::Error::LimitExceeded(m)) => {
                Err(named("CodeStorageExceededException", m))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn function(&self, name: &str) -> Result<FunctionView> {
        let record = self
            .store()
            .function(name)
            .await?
            .ok_or_else(|| not_found(&self.function_arn(name)))?;
        self.function_view(&record)
    }

    pub async fn list_functions(
        &self,
        marker: Option<&str>,
        max_items: Option<usize>,
    ) -> Result<Page<FunctionView>> {
        let views = self
            .store()
            .functions()
            .await?
            .iter()
            .map(|r| self.function_view(r))
            .collect::<Result<Vec<_>>>()?;
        crate::pagination::offset_page(
            &self.inner.tokens,
            "functions",
            &views,
            max_items.unwrap_or(50).clamp(1, 50),
            marker,
        )
        .map_err(|_| invalid("The marker is not valid."))
    }

    async fn replace(
        &self,
        view: &FunctionView,
        config: FunctionConfig,
        expected: Option<&str>,
    ) -> Result<FunctionView> {
        if expected.is_some_and(|r| r != view.revision_id) {
            return Err(named(
                "PreconditionFailedException",
                "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
            ));
        }
        let record = FunctionRecord {
            name: view.name.clone(),
            revision_id: self.new_id(),
            doc: serde_json::to_string(&config).map_err(|e| Error::Internal(e.to_string()))?,
            created_ms: 0,
            modified_ms: self.now_ms(),
        };
        match self.store().replace_function(&record, &view.revision_id).await {
            Ok(()) => {}
            Err(sluice_store::Error::NotFound(_)) => return Err(not_found(&view.arn)),
            Err(sluice_store::Error::VersionConflict { .. }) => {
                return Err(named(
                    "ResourceConflictException",
                    format!("The operation cannot be performed at this time. An update is in progress for resource: {}", view.arn),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(host) = self.inner.function_host.get() {
            host.forget(&view.name);
        }
        self.function_view(&record)
    }

    pub async fn update_function_code(
        &self,
        name: &str,
        code: CodeSource,
        revision: Option<&str>,
    ) -> Result<FunctionView> {
        let view = self.function(name).await?;
        let mut config = view.config.clone();
        let (version, sha, size) = self.store_code(name, code).await?;
        config.code_version = version;
        config.code_sha256 = sha;
        config.code_size = size;
        self.replace(&view, config, revision).await
    }

    pub async fn update_function_configuration(
        &self,
        name: &str,
        settings: FunctionSettings,
        revision: Option<&str>,
    ) -> Result<FunctionView> {
        let view = self.function(name).await?;
        let mut config = view.config.clone();
        if let Some(v) = settings.runtime {
            config.runtime = v;
        }
        if let Some(v) = settings.handler {
            config.handler = v;
        }
        if let Some(v) = settings.role {
            config.role = v;
        }
        if let Some(v) = settings.description {
            config.description = v;
        }
        if let Some(v) = settings.timeout {
            config.timeout = v;
        }
        if let Some(v) = settings.memory_size {
            config.memory_size = v;
        }
        if let Some(v) = settings.environment {
            config.environment = v;
        }
        check_settings(&config)?;
        self.check_execution_role(&config.role).await?;
        self.replace(&view, config, revision).await
    }

    pub async fn delete_function(&self, name: &str) -> Result<()> {
        if self.store().delete_function(name).await?.is_none() {
            return Err(not_found(&self.function_arn(name)));
        }
        if let Some(host) = self.inner.function_host.get() {
            host.forget(name);
        }
        Ok(())
    }

    /// The function's deployment package.
    pub async fn function_code(&self, function: &FunctionView) -> Result<Vec<u8>> {
        self.read_object(FUNCTION_BUCKET, &function.config.code_version)
            .await
    }

    /// Temporary credentials of the function's execution role, good for one invocation.
    pub async fn function_credentials(&self, function: &FunctionView) -> Result<RoleSession> {
        self.check_execution_role(&function.config.role).await?;
        let (_, role_name) = crate::iam::role_of_arn(&function.config.role).ok_or_else(|| {
            invalid("The role defined for the function cannot be assumed by Lambda.")
        })?;
        let role = self
            .store()
            .principal(PrincipalKind::Role, role_name)
            .await?
            .ok_or_else(|| {
                invalid("The role defined for the function cannot be assumed by Lambda.")
            })?;
        let expires_ms = self.now_ms() + (function.config.timeout + CREDENTIAL_SLACK_SECS) * 1000;
        let payload = format!("{}\n{}\n{expires_ms}", role.name, function.name);
        self.session_from_payload(&payload, &role.id)
            .ok_or_else(|| Error::Internal("a function's session could not be formed".into()))
    }

    /// `Invoke` with `RequestResponse`: runs the function and answers its result.
    pub async fn invoke_function(
        &self,
        name: &str,
        payload: Vec<u8>,
        client_context: Option<String>,
    ) -> Result<InvokeResult> {
        let function = self.function(name).await?;
        if !payload.is_empty() && serde_json::from_slice::<serde_json::Value>(&payload).is_err() {
            return Err(named(
                "InvalidRequestContentException",
                "Could not parse request body into json: Could not parse payload into json",
            ));
        }
        let host = self.inner.function_host.get().cloned().ok_or_else(|| {
            named(
                "ServiceException",
                "this Sluice server runs no functions (it was started without a function host)",
            )
        })?;
        let request = InvokeRequest {
            request_id: self.new_id(),
            payload,
            client_context,
        };
        host.invoke(self, &function, request).await
    }

    /// `Invoke` with `Event`: queued in the outbox, run by the dispatcher.
    pub async fn invoke_function_later(&self, name: &str, payload: Vec<u8>) -> Result<String> {
        self.function(name).await?;
        let request_id = self.new_id();
        let queued = QueuedInvocation {
            payload: String::from_utf8_lossy(&payload).into_owned(),
            by: None,
        };
        self.store()
            .enqueue(&[queued.row(request_id.clone(), name, self.now_ms())])
            .await?;
        self.wake_outbox();
        Ok(request_id)
    }

    /// Runs a queued invocation: a service's only if the function's policy lets it in.
    pub(crate) async fn run_queued_invocation(&self, function: &str, body: &str) -> Result<()> {
        let queued: QueuedInvocation = serde_json::from_str(body)
            .map_err(|e| Error::Internal(format!("unreadable queued invocation: {e}")))?;
        if let Some(by) = &queued.by {
            let view = self.function(function).await?;
            let allowed = view
                .config
                .permissions
                .iter()
                .any(|p| p.allows(&by.service, &by.source_arn));
            if !allowed {
                return Err(named(
                    "AccessDeniedException",
                    format!(
                        "{} is not allowed to invoke {} for {}: add a permission (aws lambda add-permission --principal {} --source-arn {})",
                        by.service, view.arn, by.source_arn, by.service, by.source_arn
                    ),
                ));
            }
        }
        self.invoke_function(function, queued.payload.into_bytes(), None)
            .await?;
        Ok(())
    }

    /// `AddPermission`: answers the statement added.
    pub async fn add_function_permission(
        &self,
        name: &str,
        permission: Permission,
        revision: Option<&str>,
    ) -> Result<serde_json::Value> {
        let view = self.function(name).await?;
        if !matches!(
            permission.action.as_str(),
            "lambda:InvokeFunction" | "lambda:*"
        ) {
            return Err(invalid(format!(
                "The action {} is not supported by this Sluice server's function policies (lambda:InvokeFunction)",
                permission.action
            )));
        }
        if view
            .config
            .permissions
            .iter()
            .any(|p| p.sid == permission.sid)
        {
            return Err(named(
                "ResourceConflictException",
                format!("The statement id ({}) provided already exists. Please provide a new statement id, or remove the existing statement.", permission.sid),
            ));
        }
        let statement = permission.statement(&view.arn);
        let mut config = view.config.clone();
        config.permissions.push(permission);
        self.replace(&view, config, revision).await?;
        Ok(statement)
    }

    /// `RemovePermission`.
    pub async fn remove_function_permission(
        &self,
        name: &str,
        sid: &str,
        revision: Option<&str>,
    ) -> Result<()> {
        let view = self.function(name).await?;
        let mut config = view.config.clone();
        let before = config.permissions.len();
        config.permissions.retain(|p| p.sid != sid);
        if config.permissions.len() == before {
            return Err(named(
                "ResourceNotFoundException",
                format!("Statement {sid} is not found in resource policy."),
            ));
        }
        self.replace(&view, config, revision).await?;
        Ok(())
    }

    /// `GetPolicy`: the resource policy document and the function's revision.
    pub async fn function_policy(&self, name: &str) -> Result<(String, String)> {
        let view = self.function(name).await?;
        if view.config.permissions.is_empty() {
            return Err(named(
                "ResourceNotFoundException",
                "The resource you requested does not exist.",
            ));
        }
        let statements: Vec<serde_json::Value> = view
            .config
            .permissions
            .iter()
            .map(|p| p.statement(&view.arn))
            .collect();
        let policy =
            serde_json::json!({"Version": "2012-10-17", "Id": "default", "Statement": statements});
        Ok((policy.to_string(), view.revision_id))
    }
}

fn zip_is_unreadable(bytes: &[u8]) -> bool {
    zip::ZipArchive::new(std::io::Cursor::new(bytes)).is_err()
}
