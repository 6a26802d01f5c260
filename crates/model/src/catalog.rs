//! The built-in action types of the guide ("Action Type Constraints for Artifacts" and
//! "Action Configuration Properties for Provider Types"), plus the current API's `CodeBuild`
//! and `Commands`. They are declarable whether or not this server can run them yet.

use crate::action_type::{
    ActionType, ActionTypeId, ArtifactDetails, ConfigurationProperty, ConfigurationPropertyType,
};

fn key(name: &str) -> ConfigurationProperty {
    ConfigurationProperty {
        key: true,
        ..ConfigurationProperty::plain(name, true)
    }
}

fn optional(name: &str) -> ConfigurationProperty {
    ConfigurationProperty::plain(name, false)
}

fn poll_flag() -> ConfigurationProperty {
    ConfigurationProperty {
        kind: Some(ConfigurationPropertyType::Boolean),
        ..optional("PollForSourceChanges")
    }
}

fn built_in(
    category: &str,
    owner: &str,
    provider: &str,
    properties: Vec<ConfigurationProperty>,
    input: ArtifactDetails,
    output: ArtifactDetails,
) -> ActionType {
    ActionType {
        id: ActionTypeId::new(category, owner, provider, "1"),
        settings: None,
        configuration_properties: properties,
        input_artifact_details: input,
        output_artifact_details: output,
    }
}

/// Where a built-in action's run is shown: the console's page of the job, which opens the
/// action's details and its log (relative to the server's address). The log itself is the
/// object `sluice-logs/jobs/{ExternalExecutionId}.log` of the S3 endpoint.
pub const LOG_URL_TEMPLATE: &str = "/console/jobs/{ExternalExecutionId}";

fn with_log_url(mut t: ActionType) -> ActionType {
    t.settings = Some(crate::action_type::ActionTypeSettings {
        execution_url_template: Some(LOG_URL_TEMPLATE.into()),
        ..Default::default()
    });
    t
}

/// Every built-in action type, in a stable order.
pub fn built_in_action_types() -> Vec<ActionType> {
    use ArtifactDetails as A;
    let oauth = ConfigurationProperty {
        secret: true,
        ..key("OAuthToken")
    };
    let code_build = |category| {
        with_log_url(built_in(
            category,
            "AWS",
            "CodeBuild",
            vec![
                key("ProjectName"),
                optional("PrimarySource"),
                optional("EnvironmentVariables"),
            ],
            A::between(1, 5),
            A::between(0, 5),
        ))
    };
    vec![
        built_in(
            "Source",
            "AWS",
            "S3",
            vec![key("S3Bucket"), key("S3ObjectKey"), poll_flag()],
            A::exactly(0),
            A::exactly(1),
        ),
        built_in(
            "Source",
            "AWS",
            "CodeCommit",
            vec![key("RepositoryName"), key("BranchName"), poll_flag()],
            A::exactly(0),
            A::exactly(1),
        ),
        built_in(
            "Source",
            "ThirdParty",
            "GitHub",
            vec![key("Owner"), key("Repo"), key("Branch"), oauth, poll_flag()],
            A::exactly(0),
            A::exactly(1),
        ),
        built_in(
            "Source",
            "AWS",
            "CodeStarSourceConnection",
            vec![
                key("ConnectionArn"),
                key("FullRepositoryId"),
                key("BranchName"),
                optional("OutputArtifactFormat"),
                ConfigurationProperty {
                    kind: Some(ConfigurationPropertyType::Boolean),
                    ..optional("DetectChanges")
                },
            ],
            A::exactly(0),
            A::exactly(1),
        ),
        built_in(
            "Approval",
            "AWS",
            "Manual",
            vec![
                optional("NotificationArn"),
                optional("ExternalEntityLink"),
                optional("CustomData"),
            ],
            A::exactly(0),
            A::exactly(0),
        ),
        built_in(
            "Deploy",
            "AWS",
            "CodeDeploy",
            vec![key("ApplicationName"), key("DeploymentGroupName")],
            A::exactly(1),
            A::exactly(0),
        ),
        built_in(
            "Deploy",
            "AWS",
            "ElasticBeanstalk",
            vec![key("ApplicationName"), key("EnvironmentName")],
            A::exactly(1),
            A::exactly(0),
        ),
        built_in(
            "Deploy",
            "AWS",
            "OpsWorks",
            vec![key("Stack"), optional("Layer"), key("App")],
            A::exactly(1),
            A::exactly(0),
        ),
        built_in(
            "Invoke",
            "AWS",
            "Lambda",
            vec![key("FunctionName"), optional("UserParameters")],
            A::between(0, 5),
            A::between(0, 5),
        ),
        code_build("Build"),
        code_build("Test"),
        with_log_url(built_in(
            "Compute",
            "AWS",
            "Commands",
            vec![],
            A::between(1, 10),
            A::between(0, 1),
        )),
    ]
}

/// Looks a built-in type up by its identity.
pub fn built_in_action_type(id: &ActionTypeId) -> Option<ActionType> {
    built_in_action_types().into_iter().find(|t| &t.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_matches_the_guides_artifact_constraints() {
        let get = |c: &str, o: &str, p: &str| {
            built_in_action_type(&ActionTypeId::new(c, o, p, "1")).expect("built in")
        };
        let s3 = get("Source", "AWS", "S3");
        assert_eq!(s3.input_artifact_details, ArtifactDetails::exactly(0));
        assert_eq!(s3.output_artifact_details, ArtifactDetails::exactly(1));
        assert!(get("Source", "ThirdParty", "GitHub").is_secret("OAuthToken"));
        assert_eq!(
            get("Deploy", "AWS", "CodeDeploy").input_artifact_details,
            ArtifactDetails::exactly(1)
        );
        assert_eq!(
            get("Invoke", "AWS", "Lambda").output_artifact_details,
            ArtifactDetails::between(0, 5)
        );
        let opsworks = get("Deploy", "AWS", "OpsWorks");
        assert!(opsworks.property("Stack").is_some_and(|p| p.required));
        assert!(opsworks.property("Layer").is_some_and(|p| !p.required));
    }
}
