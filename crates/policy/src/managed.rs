//! The AWS managed policies the guide names, built in with their documents as the guide prints
//! them (ARN `arn:aws:iam::aws:policy/NAME`), and the default service role's policy.

/// A built-in managed policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ManagedPolicy {
    pub name: &'static str,
    pub description: &'static str,
    pub document: &'static str,
}

impl ManagedPolicy {
    pub fn arn(&self) -> String {
        format!("{AWS_POLICY_PREFIX}{}", self.name)
    }
}

/// The ARN prefix of AWS managed policies.
pub const AWS_POLICY_PREFIX: &str = "arn:aws:iam::aws:policy/";

const FULL_ACCESS: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Action": [
        "codepipeline:*",
        "iam:ListRoles",
        "iam:PassRole",
        "s3:CreateBucket",
        "s3:GetBucketPolicy",
        "s3:GetObject",
        "s3:ListAllMyBuckets",
        "s3:ListBucket",
        "s3:PutBucketPolicy",
        "codecommit:ListBranches",
        "codecommit:ListRepositories",
        "codedeploy:GetApplication",
        "codedeploy:GetDeploymentGroup",
        "codedeploy:ListApplications",
        "codedeploy:ListDeploymentGroups",
        "elasticbeanstalk:DescribeApplications",
        "elasticbeanstalk:DescribeEnvironments",
        "lambda:GetFunctionConfiguration",
        "lambda:ListFunctions",
        "opsworks:DescribeStacks",
        "opsworks:DescribeApps",
        "opsworks:DescribeLayers"
      ],
      "Effect": "Allow",
      "Resource": "*"
    }
  ]
}"#;

const READ_ONLY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Action": [
        "codepipeline:GetPipeline",
        "codepipeline:GetPipelineState",
        "codepipeline:ListActionTypes",
        "codepipeline:ListPipelines",
        "iam:ListRoles",
        "s3:GetBucketPolicy",
        "s3:GetObject",
        "s3:ListAllMyBuckets",
        "s3:ListBucket",
        "codecommit:ListBranches",
        "codecommit:ListRepositories",
        "codedeploy:GetApplication",
        "codedeploy:GetDeploymentGroup",
        "codedeploy:ListApplications",
        "codedeploy:ListDeploymentGroups",
        "elasticbeanstalk:DescribeApplications",
        "elasticbeanstalk:DescribeEnvironments",
        "lambda:GetFunctionConfiguration",
        "lambda:ListFunctions",
        "opsworks:DescribeStacks",
        "opsworks:DescribeApps",
        "opsworks:DescribeLayers"
      ],
      "Effect": "Allow",
      "Resource": "*"
    }
  ]
}"#;

const APPROVER: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Action": [
        "codepipeline:GetPipeline",
        "codepipeline:GetPipelineState",
        "codepipeline:ListPipelines",
        "codepipeline:PutApprovalResult"
      ],
      "Effect": "Allow",
      "Resource": "*"
    }
  ]
}"#;

const CUSTOM_ACTION: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Action": [
        "codepipeline:AcknowledgeJob",
        "codepipeline:GetJobDetails",
        "codepipeline:PollForJobs",
        "codepipeline:PutJobFailureResult",
        "codepipeline:PutJobSuccessResult"
      ],
      "Effect": "Allow",
      "Resource": "*"
    }
  ]
}"#;

const ADMINISTRATOR: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]
}"#;

const IAM_FULL: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [{"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]
}"#;

/// The guide's default policy of the `AWS-CodePipeline-Service` role ("Review the Default AWS
/// CodePipeline Service Role Policy"), with the statements its page break cut restored, and
/// `codestar-connections:UseConnection`, which the role CodePipeline's console creates today
/// carries for connection sources.
pub const DEFAULT_SERVICE_ROLE_POLICY: &str = r#"{
  "Statement": [
    {
      "Action": ["codestar-connections:UseConnection"],
      "Resource": "*",
      "Effect": "Allow"
    },
    {
      "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:GetBucketVersioning"],
      "Resource": "*",
      "Effect": "Allow"
    },
    {
      "Action": ["s3:PutObject"],
      "Resource": ["arn:aws:s3:::codepipeline*", "arn:aws:s3:::elasticbeanstalk*"],
      "Effect": "Allow"
    },
    {
      "Action": [
        "codecommit:GetBranch",
        "codecommit:GetCommit",
        "codecommit:UploadArchive",
        "codecommit:GetUploadArchiveStatus",
        "codecommit:CancelUploadArchive"
      ],
      "Resource": "*",
      "Effect": "Allow"
    },
    {
      "Action": [
        "opsworks:CreateDeployment",
        "opsworks:DescribeApps",
        "opsworks:DescribeCommands",
        "opsworks:DescribeDeployments",
        "opsworks:DescribeInstances",
        "opsworks:DescribeStacks",
        "opsworks:UpdateApp",
        "opsworks:UpdateStack"
      ],
      "Resource": "*",
      "Effect": "Allow"
    },
    {
      "Action": [
        "codedeploy:CreateDeployment",
        "codedeploy:GetApplicationRevision",
        "codedeploy:GetDeployment",
        "codedeploy:GetDeploymentConfig",
        "codedeploy:RegisterApplicationRevision"
      ],
      "Resource": "*",
      "Effect": "Allow"
    },
    {
      "Action": [
        "elasticbeanstalk:*",
        "ec2:*",
        "elasticloadbalancing:*",
        "autoscaling:*",
        "cloudwatch:*",
        "s3:*",
        "sns:*",
        "cloudformation:*",
        "rds:*",
        "sqs:*",
        "ecs:*",
        "iam:PassRole"
      ],
      "Resource": "*",
      "Effect": "Allow"
    },
    {
      "Action": ["lambda:InvokeFunction", "lambda:ListFunctions"],
      "Resource": "*",
      "Effect": "Allow"
    }
  ],
  "Version": "2012-10-17"
}"#;

/// The trust policy that lets CodePipeline assume the default service role.
pub const SERVICE_ROLE_TRUST_POLICY: &str = r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {"Service": "codepipeline.amazonaws.com"},
      "Action": "sts:AssumeRole"
    }
  ]
}"#;

/// The service principal a pipeline's role must trust.
pub const CODEPIPELINE_SERVICE: &str = "codepipeline.amazonaws.com";

/// The name of the account's default service role.
pub const DEFAULT_SERVICE_ROLE: &str = "AWS-CodePipeline-Service";

pub const MANAGED_POLICIES: &[ManagedPolicy] = &[
    ManagedPolicy {
        name: "AWSCodePipelineFullAccess",
        description: "Provides full access to AWS CodePipeline via the AWS Management Console.",
        document: FULL_ACCESS,
    },
    ManagedPolicy {
        name: "AWSCodePipelineReadOnlyAccess",
        description: "Provides read only access to AWS CodePipeline via the AWS Management Console.",
        document: READ_ONLY,
    },
    ManagedPolicy {
        name: "AWSCodePipelineApproverAccess",
        description: "Provides access for an IAM user to approve or reject a manual approval action in AWS CodePipeline.",
        document: APPROVER,
    },
    ManagedPolicy {
        name: "AWSCodePipelineCustomActionAccess",
        description: "Provides access for custom actions to poll for jobs details (including temporary credentials) and report status updates to AWS CodePipeline.",
        document: CUSTOM_ACTION,
    },
    ManagedPolicy {
        name: "AdministratorAccess",
        description: "Provides full access to AWS services and resources.",
        document: ADMINISTRATOR,
    },
    ManagedPolicy {
        name: "IAMFullAccess",
        description: "Provides full access to IAM.",
        document: IAM_FULL,
    },
];

/// The built-in managed policy with this ARN.
pub fn managed_policy(arn: &str) -> Option<&'static ManagedPolicy> {
    let name = arn.strip_prefix(AWS_POLICY_PREFIX)?;
    MANAGED_POLICIES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policy;

    #[test]
    fn every_built_in_document_parses() {
        for p in MANAGED_POLICIES {
            Policy::parse(p.document).unwrap_or_else(|e| panic!("{}: {e}", p.name));
        }
        Policy::parse(DEFAULT_SERVICE_ROLE_POLICY).expect("service role policy");
        Policy::parse_trust(SERVICE_ROLE_TRUST_POLICY).expect("trust policy");
        assert_eq!(
            managed_policy("arn:aws:iam::aws:policy/AWSCodePipelineReadOnlyAccess").map(|p| p.name),
            Some("AWSCodePipelineReadOnlyAccess")
        );
    }
}
