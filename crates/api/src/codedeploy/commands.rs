//! CodeDeploy's host command protocol (`CodeDeployCommandService_v20141006.<Operation>`,
//! signing name `codedeploy-commands`), the one AWS's agent and `sluice agent` speak. A host
//! is authorized by its identity, not by IAM policies: the caller must be the IAM user of a
//! registered on-premises instance, and reaches only that instance's commands.
//! `PollHostCommand` waits up to `POLL_WAIT` for a command, so one reaches an idle agent at
//! once.

use crate::json_service::{Plan, Request, ServiceSpec};
use crate::ApiError;
use axum::response::Response;
use serde::de::DeserializeOwned;
use sluice_service::{Caller, Sluice};
use sluice_wire::codedeploy_commands::{self as w, Operation};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const SPEC: ServiceSpec = ServiceSpec {
    event_source: "codedeploy-commands.amazonaws.com",
    content_type: "application/x-amz-json-1.1",
};

/// The longest a poll waits for a command before answering that there is none.
pub const POLL_WAIT: Duration = Duration::from_secs(20);

type R<T> = Result<T, ApiError>;

/// Whether a request is for this service.
pub fn is_target(target: &str) -> bool {
    crate::json_service::is_target(w::TARGET_PREFIX, target)
}

/// Wakes a host's waiting polls when the service opens a command for it (only that host's:
/// a deployment to many hosts wakes each once), and ends them all when the server shuts down.
#[derive(Default)]
pub struct HostWake {
    /// Instance name → what its polls wait on; one entry per instance that ever polled.
    hosts: std::sync::Mutex<std::collections::HashMap<String, Arc<Notify>>>,
    closed: std::sync::atomic::AtomicBool,
}

impl HostWake {
    /// A waker installed as the service's host command listener.
    pub fn install(sluice: &Sluice) -> Arc<HostWake> {
        let wake = Arc::new(HostWake::default());
        let notifier = wake.clone();
        sluice.set_host_command_listener(Arc::new(move |host: &str| {
            notifier.of(host).notify_waiters()
        }));
        wake
    }

    fn of(&self, host: &str) -> Arc<Notify> {
        let mut hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        hosts.entry(host.to_string()).or_default().clone()
    }

    /// Answers every waiting poll (with no command) and every later one at once.
    pub fn close(&self) {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        let hosts = self.hosts.lock().unwrap_or_else(|e| e.into_inner());
        for notify in hosts.values() {
            notify.notify_waiters();
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn input<T: DeserializeOwned>(op: Operation, body: &[u8]) -> R<T> {
    let shape = op
        .input_shape()
        .ok_or_else(|| ApiError::internal(format!("{} has no input shape", op.name())))?;
    Ok(w::decode(shape, body)?)
}

use crate::json_service::output;

async fn long_poll(
    sl: &Sluice,
    wake: &HostWake,
    caller: &Caller,
    host: &str,
) -> R<Option<sluice_service::deploy::HostCommand>> {
    let deadline = tokio::time::Instant::now() + POLL_WAIT;
    // A caller that is no instance is refused by the poll itself.
    let instance = sl.instance_of_caller(caller).await.unwrap_or_default();
    let notify = wake.of(&instance);
    loop {
        // Registered before looking, so a command opened in between is not missed.
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(command) = sl.poll_host_command(caller, host).await? {
            return Ok(Some(command));
        }
        if wake.is_closed() || tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Ok(None);
        }
    }
}

async fn dispatch(
    sl: &Sluice,
    wake: &HostWake,
    caller: &Caller,
    op: Operation,
    body: &[u8],
) -> R<Vec<u8>> {
    use Operation as O;
    match op {
        O::PollHostCommand => {
            let i: w::PollHostCommandInput = input(op, body)?;
            let command = long_poll(sl, wake, caller, &i.host_identifier).await?;
            output(w::PollHostCommandOutput {
                host_command: command.map(|c| w::HostCommandInstance {
                    host_command_identifier: Some(c.id),
                    host_identifier: Some(c.host_identifier),
                    deployment_execution_id: Some(c.deployment_execution_id),
                    command_name: Some(c.command_name),
                    nonce: None,
                }),
            })
        }
        O::PutHostCommandAcknowledgement => {
            let i: w::PutHostCommandAcknowledgementInput = input(op, body)?;
            let status = sl
                .acknowledge_host_command(caller, &i.host_command_identifier)
                .await?;
            output(w::CommandStatusOutput {
                command_status: Some(status.into()),
            })
        }
        O::GetDeploymentSpecification => {
            let i: w::GetDeploymentSpecificationInput = input(op, body)?;
            let spec = sl
                .deployment_specification(caller, &i.deployment_execution_id, &i.host_identifier)
                .await?;
            output(w::GetDeploymentSpecificationOutput {
                deployment_system: Some(sluice_service::deploy::DEPLOYMENT_SYSTEM.into()),
                deployment_specification: Some(w::DeploymentSpecification {
                    generic_envelope: Some(w::Envelope {
                        format: Some("TEXT/JSON".into()),
                        payload: Some(spec),
                    }),
                    variant_id: None,
                    variant_envelope: None,
                }),
            })
        }
        O::PostHostCommandUpdate => {
            let i: w::PostHostCommandUpdateInput = input(op, body)?;
            let status = sl
                .host_command_update(caller, &i.host_command_identifier)
                .await?;
            output(w::CommandStatusOutput {
                command_status: Some(status.into()),
            })
        }
        O::PutHostCommandComplete => {
            let i: w::PutHostCommandCompleteInput = input(op, body)?;
            let diagnostics = i.diagnostics.and_then(|d| d.payload);
            sl.complete_host_command(
                caller,
                &i.host_command_identifier,
                &i.command_status,
                diagnostics.as_deref(),
            )
            .await?;
            Ok(b"{}".to_vec())
        }
    }
}

pub(crate) async fn handle(
    sluice: &Sluice,
    wake: &HostWake,
    request: Request<'_>,
    claim: crate::auth::Claim,
) -> Response {
    let op = Operation::from_name(request.operation_name());
    let body = request.body;
    crate::json_service::handle_operation(
        sluice,
        &SPEC,
        request,
        claim,
        op,
        |op, _parsed| async move {
            Ok(Plan {
                // A poll hands out a command, but what a host does is recorded by its
                // acknowledgement and completion; polls and reads are not pending-first.
                read_only: matches!(
                    op,
                    Operation::PollHostCommand | Operation::GetDeploymentSpecification
                ),
                authorize: None,
                resources: Vec::new(),
            })
        },
        |op, caller| async move { dispatch(sluice, wake, &caller, op, body).await },
    )
    .await
}
