//! Lambda (REST-JSON under `/2015-03-31/functions`, signing name `lambda`): functions created
//! from a zip or an S3 object, read, listed, updated, deleted and invoked, dispatched once over
//! the generated `Operation` enum. Authorized as `lambda:<Action>` on the function's ARN
//! (`Invoke` is `lambda:InvokeFunction`, as in AWS). Fields this server does not honour
//! (layers, VPC, container images, versions and aliases…) are refused by name.

use crate::json_service::{Plan, Request, ServiceSpec};
use crate::query::Params;
use crate::rest_json::{self, Bindings};
use crate::ApiError;
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sluice_service::functions::{CodeSource, FunctionSettings, FunctionView};
use sluice_service::Sluice;
use sluice_wire::lambda::{self as w, Operation};

const SPEC: ServiceSpec = ServiceSpec {
    event_source: "lambda.amazonaws.com",
    content_type: "application/json",
};

const BINDINGS: Bindings = Bindings {
    shapes: w::SHAPES,
    bindings: w::BINDINGS,
    payloads: w::PAYLOADS,
};

/// The path every Lambda operation this server answers lives under.
pub const PREFIX: &str = "/2015-03-31/functions";

type R<T> = Result<T, ApiError>;

/// Lambda's errors carry their own statuses.
fn status_of(code: &str) -> StatusCode {
    match code {
        "ResourceNotFoundException" => StatusCode::NOT_FOUND,
        "ResourceConflictException" => StatusCode::CONFLICT,
        "PreconditionFailedException" => StatusCode::PRECONDITION_FAILED,
        "RequestTooLargeException" => StatusCode::PAYLOAD_TOO_LARGE,
        "ServiceException" => StatusCode::INTERNAL_SERVER_ERROR,
        "AccessDeniedException" => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn lambda_error(e: impl Into<ApiError>) -> ApiError {
    let mut e: ApiError = e.into();
    if !e.status.is_server_error() || e.code == "ServiceException" {
        e.status = status_of(e.code);
    }
    e
}

fn input<T: DeserializeOwned>(value: &Value, op: Operation) -> R<T> {
    let shape = op
        .input_shape()
        .ok_or_else(|| ApiError::internal(format!("{} has no input shape", op.name())))?;
    sluice_wire::decode_value_in(w::SHAPES, shape, value.clone())
        .map_err(|e| lambda_error(ApiError::from(e)))
}

/// Refuses members this server does not act on, by name.
fn only(value: &Value, allowed: &[&str]) -> R<()> {
    if let Some(object) = value.as_object() {
        for key in object.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(ApiError::client(
                    "InvalidParameterValueException",
                    format!("{key} is not supported by this Sluice server"),
                ));
            }
        }
    }
    Ok(())
}

fn iso(ms: i64) -> String {
    // Lambda's LastModified: 2024-01-01T00:00:00.000+0000
    let text = sluice_model::time::iso_millis(ms);
    format!("{}+0000", text.trim_end_matches('Z'))
}

fn configuration(f: &FunctionView) -> w::FunctionConfiguration {
    let c = &f.config;
    w::FunctionConfiguration {
        function_name: Some(f.name.clone()),
        function_arn: Some(f.arn.clone()),
        runtime: Some(c.runtime.clone()),
        role: Some(c.role.clone()),
        handler: Some(c.handler.clone()),
        code_size: Some(c.code_size),
        code_sha256: Some(c.code_sha256.clone()),
        description: Some(c.description.clone()),
        timeout: Some(c.timeout),
        memory_size: Some(c.memory_size),
        last_modified: Some(iso(f.last_modified_ms)),
        version: Some("$LATEST".into()),
        revision_id: Some(f.revision_id.clone()),
        environment: (!c.environment.is_empty()).then(|| w::EnvironmentResponse {
            variables: Some(c.environment.clone()),
            error: None,
        }),
        state: Some("Active".into()),
        last_update_status: Some("Successful".into()),
        package_type: Some("Zip".into()),
        architectures: Some(vec!["x86_64".into()]),
        ..Default::default()
    }
}

fn settings(value: &Value) -> FunctionSettings {
    let text = |k: &str| value.get(k).and_then(Value::as_str).map(str::to_string);
    FunctionSettings {
        runtime: text("Runtime"),
        handler: text("Handler"),
        role: text("Role"),
        description: text("Description"),
        timeout: value.get("Timeout").and_then(Value::as_i64),
        memory_size: value.get("MemorySize").and_then(Value::as_i64),
        environment: value.get("Environment").map(|e| {
            e.get("Variables")
                .and_then(Value::as_object)
                .map(|vars| {
                    vars.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default()
        }),
    }
}

fn code_source(
    zip: Option<&str>,
    bucket: Option<String>,
    key: Option<String>,
    version: Option<String>,
) -> R<CodeSource> {
    match (zip, bucket, key) {
        (Some(zip), None, None) => base64::engine::general_purpose::STANDARD
            .decode(zip)
            .map(CodeSource::Zip)
            .map_err(|_| {
                ApiError::client("InvalidParameterValueException", "ZipFile is not base64.")
            }),
        (None, Some(bucket), Some(key)) => Ok(CodeSource::S3 {
            bucket,
            key,
            version,
        }),
        _ => Err(ApiError::client(
            "InvalidParameterValueException",
            "Please provide a source for function code: ZipFile, or S3Bucket and S3Key.",
        )),
    }
}

/// The one `match` over the model's operations: `(status, output shape value)`.
async fn dispatch(sl: &Sluice, op: Operation, value: &Value) -> R<(u16, Option<Value>)> {
    use Operation as O;
    let out = |value: &dyn ErasedSerialize| reply(op, value);
    match op {
        O::CreateFunction => {
            only(
                value,
                &[
                    "FunctionName",
                    "Runtime",
                    "Role",
                    "Handler",
                    "Code",
                    "Description",
                    "Timeout",
                    "MemorySize",
                    "Environment",
                    "Publish",
                    "PackageType",
                    "Architectures",
                ],
            )?;
            let i: w::CreateFunctionRequest = input(value, op)?;
            if i.publish == Some(true) {
                return Err(ApiError::client(
                    "InvalidParameterValueException",
                    "Publish is not supported by this Sluice server: functions have only $LATEST",
                ));
            }
            if i.package_type.as_deref().is_some_and(|p| p != "Zip") || i.code.image_uri.is_some() {
                return Err(ApiError::client(
                    "InvalidParameterValueException",
                    "Container images are not supported by this Sluice server: use a .zip package",
                ));
            }
            if i.architectures
                .as_ref()
                .is_some_and(|a| a.iter().any(|x| x != "x86_64"))
            {
                return Err(ApiError::client(
                    "InvalidParameterValueException",
                    "Functions run on this server's own architecture (x86_64)",
                ));
            }
            let code = code_source(
                i.code.zip_file.as_deref(),
                i.code.s3_bucket,
                i.code.s3_key,
                i.code.s3_object_version,
            )?;
            let name = sl
                .function_name_of(&i.function_name, None)
                .map_err(lambda_error)?;
            let created = sl
                .create_function(&name, settings(value), code)
                .await
                .map_err(lambda_error)?;
            out(&configuration(&created))
        }
        O::GetFunction => {
            let i: w::GetFunctionRequest = input(value, op)?;
            let name = sl
                .function_name_of(&i.function_name, i.qualifier.as_deref())
                .map_err(lambda_error)?;
            let f = sl.function(&name).await.map_err(lambda_error)?;
            out(&w::GetFunctionResponse {
                configuration: Some(configuration(&f)),
                code: Some(w::FunctionCodeLocation {
                    repository_type: Some("S3".into()),
                    location: Some(format!(
                        "{}/{}/{}",
                        sl.options().public_url.trim_end_matches('/'),
                        sluice_service::functions::FUNCTION_BUCKET,
                        f.config.code_version
                    )),
                    ..Default::default()
                }),
                ..Default::default()
            })
        }
        O::GetFunctionConfiguration => {
            let i: w::GetFunctionConfigurationRequest = input(value, op)?;
            let name = sl
                .function_name_of(&i.function_name, i.qualifier.as_deref())
                .map_err(lambda_error)?;
            out(&configuration(
                &sl.function(&name).await.map_err(lambda_error)?,
            ))
        }
        O::ListFunctions => {
            let i: w::ListFunctionsRequest = input(value, op)?;
            if i.master_region.is_some() || i.function_version.is_some() {
                return Err(ApiError::client(
                    "InvalidParameterValueException",
                    "MasterRegion and FunctionVersion are not supported by this Sluice server",
                ));
            }
            let page = sl
                .list_functions(i.marker.as_deref(), i.max_items.map(|m| m.max(1) as usize))
                .await
                .map_err(lambda_error)?;
            out(&w::ListFunctionsResponse {
                functions: Some(page.items.iter().map(configuration).collect()),
                next_marker: page.next_token,
            })
        }
        O::DeleteFunction => {
            let i: w::DeleteFunctionRequest = input(value, op)?;
            let name = sl
                .function_name_of(&i.function_name, i.qualifier.as_deref())
                .map_err(lambda_error)?;
            sl.delete_function(&name).await.map_err(lambda_error)?;
            Ok((204, None))
        }
        O::UpdateFunctionCode => {
            only(
                value,
                &[
                    "FunctionName",
                    "ZipFile",
                    "S3Bucket",
                    "S3Key",
                    "S3ObjectVersion",
                    "RevisionId",
                    "Publish",
                    "DryRun",
                    "Architectures",
                ],
            )?;
            let i: w::UpdateFunctionCodeRequest = input(value, op)?;
            if i.publish == Some(true) || i.dry_run == Some(true) {
                return Err(ApiError::client(
                    "InvalidParameterValueException",
                    "Publish and DryRun are not supported by this Sluice server",
                ));
            }
            let code = code_source(
                i.zip_file.as_deref(),
                i.s3_bucket,
                i.s3_key,
                i.s3_object_version,
            )?;
            let name = sl
                .function_name_of(&i.function_name, None)
                .map_err(lambda_error)?;
            let f = sl
                .update_function_code(&name, code, i.revision_id.as_deref())
                .await
                .map_err(lambda_error)?;
            out(&configuration(&f))
        }
        O::UpdateFunctionConfiguration => {
            only(
                value,
                &[
                    "FunctionName",
                    "Runtime",
                    "Role",
                    "Handler",
                    "Description",
                    "Timeout",
                    "MemorySize",
                    "Environment",
                    "RevisionId",
                ],
            )?;
            let i: w::UpdateFunctionConfigurationRequest = input(value, op)?;
            let name = sl
                .function_name_of(&i.function_name, None)
                .map_err(lambda_error)?;
            let f = sl
                .update_function_configuration(&name, settings(value), i.revision_id.as_deref())
                .await
                .map_err(lambda_error)?;
            out(&configuration(&f))
        }
        O::Invoke => {
            let i: w::InvocationRequest = input(value, op)?;
            let name = sl
                .function_name_of(&i.function_name, i.qualifier.as_deref())
                .map_err(lambda_error)?;
            let payload = i.payload.unwrap_or_default().into_bytes();
            match i.invocation_type.as_deref().unwrap_or("RequestResponse") {
                "Event" => {
                    sl.invoke_function_later(&name, payload)
                        .await
                        .map_err(lambda_error)?;
                    Ok((
                        202,
                        Some(serde_json::json!({"StatusCode": 202, "Payload": ""})),
                    ))
                }
                "DryRun" => {
                    sl.function(&name).await.map_err(lambda_error)?;
                    Ok((
                        204,
                        Some(serde_json::json!({"StatusCode": 204, "Payload": ""})),
                    ))
                }
                _ => {
                    let result = sl
                        .invoke_function(&name, payload, i.client_context)
                        .await
                        .map_err(lambda_error)?;
                    let tail = (i.log_type.as_deref() == Some("Tail")).then(|| {
                        let bytes = result.log.as_bytes();
                        let start = bytes.len().saturating_sub(4096);
                        base64::engine::general_purpose::STANDARD.encode(&bytes[start..])
                    });
                    out(&w::InvocationResponse {
                        status_code: Some(200),
                        function_error: result.function_error,
                        log_result: tail,
                        executed_version: Some("$LATEST".into()),
                        payload: Some(String::from_utf8_lossy(&result.payload).into_owned()),
                        ..Default::default()
                    })
                }
            }
        }
        O::AddPermission => {
            let i: w::AddPermissionRequest = input(value, op)?;
            let refused = [
                ("EventSourceToken", i.event_source_token.is_some()),
                ("PrincipalOrgID", i.principal_org_id.is_some()),
                ("FunctionUrlAuthType", i.function_url_auth_type.is_some()),
                (
                    "InvokedViaFunctionUrl",
                    i.invoked_via_function_url.is_some(),
                ),
            ];
            if let Some((name, _)) = refused.iter().find(|(_, set)| *set) {
                return Err(ApiError::client(
                    "InvalidParameterValueException",
                    format!("{name} is not supported by this Sluice server"),
                ));
            }
            let name = sl
                .function_name_of(&i.function_name, i.qualifier.as_deref())
                .map_err(lambda_error)?;
            let permission = sluice_service::functions::Permission {
                sid: i.statement_id,
                action: i.action,
                principal: i.principal,
                source_arn: i.source_arn,
                source_account: i.source_account,
            };
            let statement = sl
                .add_function_permission(&name, permission, i.revision_id.as_deref())
                .await
                .map_err(lambda_error)?;
            out(&w::AddPermissionResponse {
                statement: Some(statement.to_string()),
            })
        }
        O::RemovePermission => {
            let i: w::RemovePermissionRequest = input(value, op)?;
            let name = sl
                .function_name_of(&i.function_name, i.qualifier.as_deref())
                .map_err(lambda_error)?;
            sl.remove_function_permission(&name, &i.statement_id, i.revision_id.as_deref())
                .await
                .map_err(lambda_error)?;
            Ok((204, None))
        }
        O::GetPolicy => {
            let i: w::GetPolicyRequest = input(value, op)?;
            let name = sl
                .function_name_of(&i.function_name, i.qualifier.as_deref())
                .map_err(lambda_error)?;
            let (policy, revision) = sl.function_policy(&name).await.map_err(lambda_error)?;
            out(&w::GetPolicyResponse {
                policy: Some(policy),
                revision_id: Some(revision),
            })
        }
        _ => Err(ApiError::not_implemented_named(op.name())),
    }
}

/// Any output shape, so the arms of one `match` can answer different shapes.
trait ErasedSerialize {
    fn to_value(&self) -> serde_json::Result<Value>;
}

impl<T: serde::Serialize> ErasedSerialize for T {
    fn to_value(&self) -> serde_json::Result<Value> {
        serde_json::to_value(self)
    }
}

/// The operation's success status with its output.
fn reply(op: Operation, value: &dyn ErasedSerialize) -> R<(u16, Option<Value>)> {
    let value = value
        .to_value()
        .map_err(|e| ApiError::internal(format!("encoding a response: {e}")))?;
    Ok((op.http().2, Some(value)))
}

/// The operations this server answers.
pub const IMPLEMENTED: &[Operation] = &[
    Operation::CreateFunction,
    Operation::GetFunction,
    Operation::GetFunctionConfiguration,
    Operation::ListFunctions,
    Operation::DeleteFunction,
    Operation::UpdateFunctionCode,
    Operation::UpdateFunctionConfiguration,
    Operation::Invoke,
    Operation::AddPermission,
    Operation::RemovePermission,
    Operation::GetPolicy,
];

/// The IAM action of an operation: `Invoke` is `lambda:InvokeFunction`.
fn iam_action(op: Operation) -> String {
    match op {
        Operation::Invoke => "lambda:InvokeFunction".into(),
        other => format!("lambda:{}", other.name()),
    }
}

/// The operation a method and path name.
fn route(
    method: &str,
    path: &str,
) -> Option<(Operation, std::collections::BTreeMap<String, String>)> {
    Operation::ALL.iter().find_map(|op| {
        let (m, template, _) = op.http();
        if m != method {
            return None;
        }
        rest_json::match_template(template, path).map(|labels| (*op, labels))
    })
}

/// Whether a request is for Lambda: its path is under `/2015-03-31/functions` and, when it is
/// signed, for the `lambda` service (a bucket called `2015-03-31` stays S3's).
pub fn is_lambda(parts: &axum::http::request::Parts) -> bool {
    let path = parts.uri.path();
    if !(path == PREFIX || path.starts_with(&format!("{PREFIX}/"))) {
        return false;
    }
    let scope = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    !scope.contains("/s3/aws4_request")
}

pub(crate) async fn handle(
    sluice: &Sluice,
    parts: &axum::http::request::Parts,
    claim: crate::auth::Claim,
    body: &[u8],
    info: &sluice_service::RequestInfo,
    request_id: &str,
) -> Response {
    let query: Params = crate::query::parse_form(parts.uri.query().unwrap_or_default().as_bytes());
    let found = route(parts.method.as_str(), parts.uri.path());
    let name = found
        .as_ref()
        .map_or("UnknownOperation", |(op, _)| op.name())
        .to_string();
    let request = Request {
        parts,
        target: &name,
        body,
        info,
        request_id,
    };
    let built: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let result = crate::json_service::audited(
        sluice,
        &SPEC,
        request,
        claim,
        name.clone(),
        || {
            let (op, labels) = found.as_ref()?;
            let shape = op.input_shape()?;
            let value =
                rest_json::input_value(&BINDINGS, shape, labels, &query, &parts.headers, body)
                    .ok()?;
            let _ = built.set(value.clone());
            // The trail keeps neither an invocation's payload nor a package's bytes.
            let mut shown = value;
            if let Some(o) = shown.as_object_mut() {
                o.remove("Payload");
                o.remove("ZipFile");
                if let Some(code) = o.get_mut("Code").and_then(Value::as_object_mut) {
                    code.remove("ZipFile");
                }
            }
            Some(shown)
        },
        |_, _| async {
            let Some((op, labels)) = &found else {
                return Err(ApiError {
                    status: StatusCode::NOT_FOUND,
                    code: "UnknownOperationException",
                    message: format!(
                        "No Lambda operation answers {} {}",
                        parts.method,
                        parts.uri.path()
                    ),
                });
            };
            let function = labels
                .get("FunctionName")
                .and_then(|f| sluice.function_name_of(f, None).ok())
                .map(|n| sluice.function_arn(&n));
            let resource = function.clone().unwrap_or_else(|| "*".into());
            let read_only = parts.method == axum::http::Method::GET;
            Ok(Plan {
                read_only: read_only || *op == Operation::Invoke,
                authorize: Some((iam_action(*op), resource)),
                resources: function
                    .map(|arn| vec![("AWS::Lambda::Function".to_string(), arn)])
                    .unwrap_or_default(),
            })
        },
        |_caller| async {
            let Some((op, labels)) = &found else {
                return Err(ApiError::internal("no operation"));
            };
            let value = match built.get() {
                Some(v) => v.clone(),
                None => {
                    let shape = op.input_shape().unwrap_or_default();
                    rest_json::input_value(&BINDINGS, shape, labels, &query, &parts.headers, body)
                        .map_err(|e| lambda_error(ApiError::from(e)))?
                }
            };
            dispatch(sluice, *op, &value)
                .await
                .map(|(status, v)| (*op, status, v))
        },
    )
    .await;
    match result {
        Ok((op, status, value)) => rest_json::output(
            &BINDINGS,
            op.output_shape().filter(|_| value.is_some()),
            status,
            value.unwrap_or(Value::Null),
            request_id,
        ),
        Err(e) => rest_json::error(&lambda_error(e), request_id),
    }
}
