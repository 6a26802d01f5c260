//! The pipeline's CodeDeploy action: its input artifact becomes the revision of a deployment
//! in the named application and group; the action follows the deployment and ends with it.
//! The deployment is created with the job's id as its creator token, so a job run again after
//! a restart follows the same deployment instead of starting a second.

use sluice_service::deploy::{NewDeployment, S3LocationDoc, PIPELINE_CREATOR};
use sluice_service::{Job, JobOutcome, Sluice};
use sluice_worker::log::JobLog;
use std::time::Duration;

/// How often the action reads its deployment's status.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(100);

pub(crate) async fn run_codedeploy(
    sluice: &Sluice,
    job: &Job,
    log: &JobLog,
) -> Result<JobOutcome, String> {
    let setting = |name: &str| job.configuration.get(name).cloned().unwrap_or_default();
    let (application, group) = (setting("ApplicationName"), setting("DeploymentGroupName"));
    let artifact = job.input_artifacts.first().ok_or_else(|| {
        "a CodeDeploy action needs one input artifact: the revision to deploy".to_string()
    })?;
    let Some((bucket, key)) = &artifact.location else {
        return Err(format!(
            "input artifact {} was not produced by this execution",
            artifact.name
        ));
    };
    let request = NewDeployment {
        application: application.clone(),
        group: group.clone(),
        revision: Some(S3LocationDoc {
            bucket: bucket.clone(),
            key: key.clone(),
            bundle_type: "zip".into(),
            version: None,
            etag: None,
        }),
        description: Some(format!(
            "Deployment of {} by pipeline {} (execution {})",
            artifact.name, job.pipeline, job.execution_id
        )),
        creator: Some(PIPELINE_CREATOR.into()),
        creator_token: Some(job.id.clone()),
        ..NewDeployment::default()
    };
    let id = sluice.create_deployment(request).await.map_err(|e| {
        format!("the deployment to {application}/{group} could not be created: {e}")
    })?;
    log.line(&format!(
        "[CodeDeploy] Deployment {id} of {} to {application}/{group}",
        artifact.name
    ));
    if let Err(e) = sluice.job_started(&job.id, &id).await {
        tracing::warn!(job = job.id, error = %e, "the deployment id could not be recorded");
    }
    let mut reported = std::collections::BTreeMap::new();
    loop {
        let deployment = sluice
            .deployment(&id)
            .await
            .map_err(|e| format!("deployment {id}: {e}"))?;
        for target in &deployment.targets {
            if reported.get(&target.instance) != Some(&target.status) {
                log.line(&format!(
                    "[CodeDeploy] {}: {}",
                    target.instance, target.status
                ));
                reported.insert(target.instance.clone(), target.status.clone());
            }
        }
        match deployment.status.as_str() {
            "Succeeded" => {
                return Ok(JobOutcome {
                    summary: Some(format!(
                        "Deployment {id} succeeded on {} instance(s)",
                        deployment.targets.len()
                    )),
                    external_execution_id: Some(id),
                    ..Default::default()
                })
            }
            "Failed" | "Stopped" => {
                let why = deployment.error.map(|e| e.message).unwrap_or_default();
                let message = format!(
                    "Deployment {id} {}: {why}",
                    deployment.status.to_lowercase()
                );
                log.line(&format!("[CodeDeploy] {message}"));
                return Err(message);
            }
            _ => tokio::time::sleep(FOLLOW_INTERVAL).await,
        }
    }
}
