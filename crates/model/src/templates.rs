//! URL templates of action types (`entityUrlTemplate`, `executionUrlTemplate`,
//! `revisionUrlTemplate`): `{Config:Name}` is replaced by the action's configuration value,
//! `{ExternalExecutionId}` by the job's external execution id.

use std::collections::BTreeMap;

/// Renders a template; a placeholder with no value is left empty.
pub fn render(
    template: &str,
    configuration: &BTreeMap<String, String>,
    external_execution_id: Option<&str>,
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = rest[start + 1..start + end].trim();
        match name.strip_prefix("Config:") {
            Some(key) => out.push_str(
                configuration
                    .get(key.trim())
                    .map(String::as_str)
                    .unwrap_or(""),
            ),
            None if name == "ExternalExecutionId" => {
                out.push_str(external_execution_id.unwrap_or(""))
            }
            None => out.push_str(&rest[start..start + end + 1]),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_and_external_execution_id_placeholders_are_substituted() {
        let config: BTreeMap<String, String> =
            [("ProjectName".to_string(), "MyProject".to_string())].into();
        assert_eq!(
            render("https://my-build-instance/job/{Config:ProjectName}/lastSuccessfulBuild/{ExternalExecutionId}/", &config, Some("42")),
            "https://my-build-instance/job/MyProject/lastSuccessfulBuild/42/"
        );
        assert_eq!(
            render("x/{Config:Missing}/{Other}", &config, None),
            "x//{Other}"
        );
        assert_eq!(
            render("unclosed {Config", &config, None),
            "unclosed {Config"
        );
    }
}
