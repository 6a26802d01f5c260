//! Variable references in action declarations: `#{namespace.name}`. `variables` names the
//! pipeline's variables, `codepipeline` the execution's own (`PipelineExecutionId`), and any
//! other namespace the output variables of the action that declares it. Text that is not a
//! well-formed reference stays as written.

/// One `#{namespace.name}` in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
}

impl std::fmt::Display for Reference<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{{{}.{}}}", self.namespace, self.name)
    }
}

/// The namespace of the pipeline's own variables.
pub const PIPELINE_NAMESPACE: &str = "variables";
/// The namespace of the execution's variables.
pub const EXECUTION_NAMESPACE: &str = "codepipeline";
/// The variables of [`EXECUTION_NAMESPACE`].
pub const EXECUTION_VARIABLES: &[&str] = &["PipelineExecutionId"];

fn is_namespace_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '@' | '-' | '_')
}

fn is_name_char(c: char) -> bool {
    is_namespace_char(c) || c == '.'
}

/// A reference at the start of `text` (which begins just after `#{`), with its length up to and
/// including the closing brace.
fn reference_at(text: &str) -> Option<(Reference<'_>, usize)> {
    let close = text.find('}')?;
    let inner = &text[..close];
    let (namespace, name) = inner.split_once('.')?;
    let valid = !namespace.is_empty()
        && !name.is_empty()
        && namespace.chars().all(is_namespace_char)
        && name.chars().all(is_name_char);
    valid.then_some((Reference { namespace, name }, close + 1))
}

/// Every reference in `text`, in order.
pub fn references(text: &str) -> Vec<Reference<'_>> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        let after = &rest[start + 2..];
        match reference_at(after) {
            Some((reference, len)) => {
                found.push(reference);
                rest = &after[len..];
            }
            None => rest = after,
        }
    }
    found
}

/// `text` with every reference replaced by what `lookup` gives for it; the first reference it
/// has no value for is the error.
pub fn substitute<'a>(
    text: &'a str,
    mut lookup: impl FnMut(Reference<'a>) -> Option<String>,
) -> Result<String, Reference<'a>> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match reference_at(after) {
            Some((reference, len)) => {
                out.push_str(&lookup(reference).ok_or(reference)?);
                rest = &after[len..];
            }
            None => {
                out.push_str("#{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_malformed_ones_left_alone() {
        let text = "tag #{Build.ImageTag}-#{variables.stage} #{nodot} #{a b.c} #{codepipeline.PipelineExecutionId}";
        let found: Vec<String> = references(text).iter().map(|r| r.to_string()).collect();
        assert_eq!(
            found,
            [
                "#{Build.ImageTag}",
                "#{variables.stage}",
                "#{codepipeline.PipelineExecutionId}"
            ]
        );
    }

    #[test]
    fn substitution_replaces_every_reference_or_names_the_first_unknown() {
        let lookup = |r: Reference<'_>| match (r.namespace, r.name) {
            ("Source", "CommitId") => Some("abc123".to_string()),
            ("variables", "env") => Some("prod".to_string()),
            _ => None,
        };
        assert_eq!(
            substitute("deploy #{Source.CommitId} to #{variables.env} #{x", lookup),
            Ok("deploy abc123 to prod #{x".to_string())
        );
        assert_eq!(
            substitute("#{Source.Missing}", lookup),
            Err(Reference {
                namespace: "Source",
                name: "Missing"
            })
        );
        // A value is never read again as a reference.
        let echo = |_: Reference<'_>| Some("#{Source.CommitId}".to_string());
        assert_eq!(
            substitute("#{a.b}", echo),
            Ok("#{Source.CommitId}".to_string())
        );
    }
}
