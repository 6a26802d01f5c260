//! The pipeline's `Invoke`/`Lambda` action: the function is invoked with the guide's
//! `CodePipeline.job` event (the job's id, the action's configuration, its artifacts on this
//! server with credentials for exactly them, a continuation token when there is one), and
//! the action ends when the function calls `PutJobSuccessResult` or `PutJobFailureResult`.
//! A function that fails, times out, or returns without reporting fails the action saying so.

use sluice_service::{Job, JobOutcome, Sluice};
use sluice_worker::log::JobLog;

fn artifacts(job_artifacts: &[sluice_service::JobArtifact]) -> Vec<serde_json::Value> {
    job_artifacts
        .iter()
        .map(|a| {
            let (bucket, key) = a.location.clone().unwrap_or_default();
            serde_json::json!({
                "location": {"s3Location": {"bucketName": bucket, "objectKey": key}, "type": "S3"},
                "revision": null,
                "name": a.name,
            })
        })
        .collect()
}

/// The event the guide's "Example JSON Event" shows.
fn job_event(sluice: &Sluice, job: &Job) -> serde_json::Value {
    let credentials = sluice.job_credentials(&job.id);
    let mut configuration = serde_json::Map::new();
    for name in ["FunctionName", "UserParameters"] {
        if let Some(v) = job.configuration.get(name) {
            configuration.insert(name.into(), serde_json::json!(v));
        }
    }
    let mut data = serde_json::json!({
        "actionConfiguration": {"configuration": configuration},
        "inputArtifacts": artifacts(&job.input_artifacts),
        "outputArtifacts": artifacts(&job.output_artifacts),
        "artifactCredentials": {
            "accessKeyId": credentials.access_key_id,
            "secretAccessKey": credentials.secret_access_key,
            "sessionToken": credentials.session_token,
        },
    });
    if let Some(token) = &job.continuation_token {
        data["continuationToken"] = serde_json::json!(token);
    }
    serde_json::json!({"CodePipeline.job": {"id": job.id, "accountId": job.account_id, "data": data}})
}

pub(crate) async fn run_lambda(
    sluice: &Sluice,
    job: &Job,
    log: &JobLog,
) -> Result<JobOutcome, String> {
    let name = job
        .configuration
        .get("FunctionName")
        .cloned()
        .ok_or_else(|| {
            "a Lambda action needs the FunctionName configuration property".to_string()
        })?;
    let name = sluice
        .function_name_of(&name, None)
        .map_err(|e| e.to_string())?;
    sluice
        .function(&name)
        .await
        .map_err(|e| format!("the function {name} could not be invoked: {e}"))?;
    log.line(&format!("[Lambda] Invoking {name}"));
    let event = job_event(sluice, job).to_string().into_bytes();
    let result = sluice
        .invoke_function(&name, event, None)
        .await
        .map_err(|e| format!("the function {name} could not be invoked: {e}"))?;
    for line in result.log.lines() {
        log.line(line);
    }
    if result.function_error.is_some() {
        let error: serde_json::Value = serde_json::from_slice(&result.payload).unwrap_or_default();
        return Err(format!(
            "the function {name} failed: {}: {}",
            error["errorType"].as_str().unwrap_or("Error"),
            error["errorMessage"].as_str().unwrap_or("(no message)")
        ));
    }
    // A function that reported did so before it returned.
    match sluice.job_status(&job.id).await {
        Ok(status) if status.is_finished() => Ok(JobOutcome::default()),
        _ => Err(format!(
            "the function {name} returned without calling PutJobSuccessResult or PutJobFailureResult for job {}",
            job.id
        )),
    }
}
