//! CodeCommit (JSON 1.1, `X-Amz-Target: CodeCommit_20150413.<Operation>`, signing name
//! `codecommit`) over the repositories this server hosts: the subset the guide's CodeCommit
//! walkthrough uses, dispatched once over the generated `Operation` enum. Authorized as
//! `codecommit:<Operation>` on the repository's ARN (`arn:aws:codecommit:REGION:ACCOUNT:NAME`).

use crate::json_service::{Plan, Request, ServiceSpec};
use crate::ApiError;
use axum::response::Response;
use serde::de::DeserializeOwned;
use sluice_service::{RepositoryView, Sluice, Tag};
use sluice_wire::codecommit::{self as w, Operation};

const SPEC: ServiceSpec = ServiceSpec {
    event_source: "codecommit.amazonaws.com",
    content_type: "application/x-amz-json-1.1",
};

type R<T> = Result<T, ApiError>;

/// Whether a request is for this service.
pub fn is_target(target: &str) -> bool {
    crate::json_service::is_target(w::TARGET_PREFIX, target)
}

fn input<T: DeserializeOwned>(op: Operation, body: &[u8]) -> R<T> {
    let shape = op
        .input_shape()
        .ok_or_else(|| ApiError::internal(format!("{} has no input shape", op.name())))?;
    Ok(w::decode(shape, body)?)
}

use crate::json_service::output;

fn time(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn metadata(r: RepositoryView) -> w::RepositoryMetadata {
    w::RepositoryMetadata {
        account_id: Some(r.account_id),
        repository_id: Some(r.id),
        repository_name: Some(r.name),
        repository_description: r.description,
        default_branch: r.default_branch,
        last_modified_date: Some(time(r.modified_ms)),
        creation_date: Some(time(r.created_ms)),
        clone_url_http: Some(r.clone_url_http),
        clone_url_ssh: None,
        arn: Some(r.arn),
        kms_key_id: None,
    }
}

fn user((name, email, date): (String, String, String)) -> w::UserInfo {
    w::UserInfo {
        name: Some(name),
        email: Some(email),
        date: Some(date),
    }
}

fn required(value: Option<String>, code: &'static str, what: &str) -> R<String> {
    value.ok_or_else(|| ApiError::client(code, format!("A {what} is required.")))
}

/// Runs one operation: the one `match` over the model's operations.
async fn dispatch(sl: &Sluice, op: Operation, body: &[u8]) -> R<Vec<u8>> {
    use Operation as O;
    match op {
        O::CreateRepository => {
            let i: w::CreateRepositoryInput = input(op, body)?;
            if i.kms_key_id.is_some() {
                return Err(ApiError::client(
                    "EncryptionKeyInvalidIdException",
                    "kmsKeyId is not supported by this Sluice server: hosted repositories are kept in its data dir",
                ));
            }
            let tags: Vec<Tag> = i
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(|(key, value)| Tag { key, value })
                .collect();
            let created = sl
                .create_repository(
                    &i.repository_name,
                    i.repository_description.as_deref(),
                    tags,
                )
                .await?;
            output(w::CreateRepositoryOutput {
                repository_metadata: Some(metadata(created)),
            })
        }
        O::GetRepository => {
            let i: w::GetRepositoryInput = input(op, body)?;
            let found = sl.repository(&i.repository_name).await?;
            output(w::GetRepositoryOutput {
                repository_metadata: Some(metadata(found)),
            })
        }
        O::BatchGetRepositories => {
            let i: w::BatchGetRepositoriesInput = input(op, body)?;
            let mut found = Vec::new();
            let mut missing = Vec::new();
            for name in i.repository_names {
                match sl.repository(&name).await {
                    Ok(r) => found.push(metadata(r)),
                    Err(sluice_service::Error::Named {
                        code: "RepositoryDoesNotExistException",
                        ..
                    }) => missing.push(name),
                    Err(e) => return Err(e.into()),
                }
            }
            output(w::BatchGetRepositoriesOutput {
                repositories: Some(found),
                repositories_not_found: Some(missing),
                errors: None,
            })
        }
        O::ListRepositories => {
            let i: w::ListRepositoriesInput = input(op, body)?;
            let by_modified = i.sort_by.as_deref() == Some("lastModifiedDate");
            let descending = i.order.as_deref() == Some("descending");
            let page = sl
                .list_repositories(by_modified, descending, i.next_token.as_deref())
                .await?;
            output(w::ListRepositoriesOutput {
                repositories: Some(
                    page.items
                        .into_iter()
                        .map(|(name, id)| w::RepositoryNameIdPair {
                            repository_name: Some(name),
                            repository_id: Some(id),
                        })
                        .collect(),
                ),
                next_token: page.next_token,
            })
        }
        O::DeleteRepository => {
            let i: w::DeleteRepositoryInput = input(op, body)?;
            let id = sl.delete_repository(&i.repository_name).await?;
            output(w::DeleteRepositoryOutput { repository_id: id })
        }
        O::UpdateRepositoryDescription => {
            let i: w::UpdateRepositoryDescriptionInput = input(op, body)?;
            sl.update_repository_description(
                &i.repository_name,
                i.repository_description.as_deref(),
            )
            .await?;
            Ok(b"{}".to_vec())
        }
        O::GetBranch => {
            let i: w::GetBranchInput = input(op, body)?;
            let repository = required(
                i.repository_name,
                "RepositoryNameRequiredException",
                "repository name",
            )?;
            let branch = required(i.branch_name, "BranchNameRequiredException", "branch name")?;
            let commit = sl.repository_branch(&repository, &branch).await?;
            output(w::GetBranchOutput {
                branch: Some(w::BranchInfo {
                    branch_name: Some(branch),
                    commit_id: Some(commit),
                }),
            })
        }
        O::ListBranches => {
            let i: w::ListBranchesInput = input(op, body)?;
            let page = sl
                .repository_branches(&i.repository_name, i.next_token.as_deref())
                .await?;
            output(w::ListBranchesOutput {
                branches: Some(page.items),
                next_token: page.next_token,
            })
        }
        O::GetCommit => {
            let i: w::GetCommitInput = input(op, body)?;
            let c = sl
                .repository_commit(&i.repository_name, &i.commit_id)
                .await?;
            output(w::GetCommitOutput {
                commit: w::Commit {
                    commit_id: Some(c.id),
                    tree_id: Some(c.tree),
                    parents: Some(c.parents),
                    message: Some(c.message),
                    author: Some(user(c.author)),
                    committer: Some(user(c.committer)),
                    additional_data: Some(String::new()),
                },
            })
        }
        O::AssociateApprovalRuleTemplateWithRepository
        | O::BatchAssociateApprovalRuleTemplateWithRepositories
        | O::BatchDescribeMergeConflicts
        | O::BatchDisassociateApprovalRuleTemplateFromRepositories
        | O::BatchGetCommits
        | O::CreateApprovalRuleTemplate
        | O::CreateBranch
        | O::CreateCommit
        | O::CreatePullRequest
        | O::CreatePullRequestApprovalRule
        | O::CreateUnreferencedMergeCommit
        | O::DeleteApprovalRuleTemplate
        | O::DeleteBranch
        | O::DeleteCommentContent
        | O::DeleteFile
        | O::DeletePullRequestApprovalRule
        | O::DescribeMergeConflicts
        | O::DescribePullRequestEvents
        | O::DisassociateApprovalRuleTemplateFromRepository
        | O::EvaluatePullRequestApprovalRules
        | O::GetApprovalRuleTemplate
        | O::GetBlob
        | O::GetBlobDifferences
        | O::GetComment
        | O::GetCommentReactions
        | O::GetCommentsForComparedCommit
        | O::GetCommentsForPullRequest
        | O::GetDifferences
        | O::GetFile
        | O::GetFolder
        | O::GetMergeCommit
        | O::GetMergeConflicts
        | O::GetMergeOptions
        | O::GetPullRequest
        | O::GetPullRequestApprovalStates
        | O::GetPullRequestOverrideState
        | O::GetRepositoryTriggers
        | O::ListApprovalRuleTemplates
        | O::ListAssociatedApprovalRuleTemplatesForRepository
        | O::ListFileCommitHistory
        | O::ListPullRequests
        | O::ListRepositoriesForApprovalRuleTemplate
        | O::ListTagsForResource
        | O::MergeBranchesByFastForward
        | O::MergeBranchesBySquash
        | O::MergeBranchesByThreeWay
        | O::MergePullRequestByFastForward
        | O::MergePullRequestBySquash
        | O::MergePullRequestByThreeWay
        | O::OverridePullRequestApprovalRules
        | O::PostCommentForComparedCommit
        | O::PostCommentForPullRequest
        | O::PostCommentReply
        | O::PutCommentReaction
        | O::PutFile
        | O::PutRepositoryTriggers
        | O::TagResource
        | O::TestRepositoryTriggers
        | O::UntagResource
        | O::UpdateApprovalRuleTemplateContent
        | O::UpdateApprovalRuleTemplateDescription
        | O::UpdateApprovalRuleTemplateName
        | O::UpdateComment
        | O::UpdateDefaultBranch
        | O::UpdatePullRequestApprovalRuleContent
        | O::UpdatePullRequestApprovalState
        | O::UpdatePullRequestDescription
        | O::UpdatePullRequestStatus
        | O::UpdatePullRequestTitle
        | O::UpdateRepositoryEncryptionKey
        | O::UpdateRepositoryName => Err(ApiError::not_implemented_named(op.name())),
    }
}

/// The operations this server answers.
pub const IMPLEMENTED: &[Operation] = &[
    Operation::CreateRepository,
    Operation::GetRepository,
    Operation::ListRepositories,
    Operation::DeleteRepository,
    Operation::UpdateRepositoryDescription,
    Operation::GetBranch,
    Operation::ListBranches,
    Operation::GetCommit,
    Operation::BatchGetRepositories,
];

fn is_read_only(op: Operation) -> bool {
    let name = op.name();
    name.starts_with("Get")
        || name.starts_with("List")
        || name.starts_with("BatchGet")
        || name.starts_with("Describe")
}

/// The action and resource IAM decides on: the repository's ARN where the request names one.
fn plan(sl: &Sluice, op: Operation, input: &serde_json::Value) -> Plan {
    let resource = input
        .get("repositoryName")
        .and_then(|v| v.as_str())
        .map(|name| {
            format!(
                "arn:aws:codecommit:{}:{}:{name}",
                sl.options().region,
                sl.options().account_id
            )
        })
        .unwrap_or_else(|| "*".to_string());
    let resources = if resource == "*" {
        Vec::new()
    } else {
        vec![("AWS::CodeCommit::Repository".to_string(), resource.clone())]
    };
    Plan {
        read_only: is_read_only(op),
        authorize: Some((format!("codecommit:{}", op.name()), resource)),
        resources,
    }
}

pub(crate) async fn handle(
    sluice: &Sluice,
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
        |op, parsed| async move { Ok(plan(sluice, op, &parsed)) },
        |op, _caller| async move { dispatch(sluice, op, body).await },
    )
    .await
}
