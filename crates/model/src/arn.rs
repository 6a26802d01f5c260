//! ARNs of the resources Sluice names.

/// `arn:aws:codepipeline:REGION:ACCOUNT:NAME`.
pub fn pipeline_arn(region: &str, account_id: &str, name: &str) -> String {
    format!("arn:aws:codepipeline:{region}:{account_id}:{name}")
}

/// `arn:aws:codepipeline:REGION:ACCOUNT:actiontype:Owner/Category/Provider/Version`.
pub fn action_type_arn(region: &str, account_id: &str, id: &crate::ActionTypeId) -> String {
    format!("arn:aws:codepipeline:{region}:{account_id}:actiontype:{id}")
}

/// A resource named by a CodePipeline ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResourceArn {
    Pipeline {
        region: String,
        account_id: String,
        name: String,
    },
    ActionType {
        region: String,
        account_id: String,
        id: crate::ActionTypeId,
    },
}

/// Parses a CodePipeline resource ARN; `None` when it is not one.
pub fn parse(arn: &str) -> Option<ResourceArn> {
    let mut parts = arn.splitn(6, ':');
    let (
        Some("arn"),
        Some(_partition),
        Some("codepipeline"),
        Some(region),
        Some(account),
        Some(rest),
    ) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    )
    else {
        return None;
    };
    if let Some(id) = rest.strip_prefix("actiontype:") {
        let f: Vec<&str> = id.split('/').collect();
        let [owner, category, provider, version] = f[..] else {
            return None;
        };
        return Some(ResourceArn::ActionType {
            region: region.into(),
            account_id: account.into(),
            id: crate::ActionTypeId::new(category, owner, provider, version),
        });
    }
    if rest.is_empty() || rest.contains('/') || rest.contains(':') {
        return None;
    }
    Some(ResourceArn::Pipeline {
        region: region.into(),
        account_id: account.into(),
        name: rest.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_and_action_type_arns_round_trip() {
        let arn = pipeline_arn("us-east-1", "111111111111", "MyFirstPipeline");
        assert_eq!(
            arn,
            "arn:aws:codepipeline:us-east-1:111111111111:MyFirstPipeline"
        );
        assert!(
            matches!(parse(&arn), Some(ResourceArn::Pipeline { name, .. }) if name == "MyFirstPipeline")
        );
        let id = crate::ActionTypeId::new("Build", "Custom", "MyJenkins", "1");
        let arn = action_type_arn("us-east-1", "111111111111", &id);
        assert_eq!(
            parse(&arn),
            Some(ResourceArn::ActionType {
                region: "us-east-1".into(),
                account_id: "111111111111".into(),
                id
            })
        );
        assert_eq!(parse("arn:aws:s3:::bucket"), None);
    }
}
