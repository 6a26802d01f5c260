//! Pipeline triggers (`pipeline.triggers`, V2): which git pushes start a pipeline, filtered by
//! branch, tag and changed file path with the glob patterns AWS documents (`*` within one
//! path segment, `**` across segments, `?`, `{a,b}`, `[abc]`).

/// Include and exclude glob patterns: a name passes when it matches an include (or there are
/// none) and no exclude.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Patterns {
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

/// One push filter: every criterion it has must hold (tags; branches; branches + file paths).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PushFilter {
    pub branches: Option<Patterns>,
    pub tags: Option<Patterns>,
    pub file_paths: Option<Patterns>,
}

/// One pull-request filter: the events (`OPEN`, `UPDATED`, `CLOSED`; all when empty) and the
/// destination branches it admits.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PullRequestFilter {
    pub events: Vec<String>,
    pub branches: Option<Patterns>,
    pub file_paths: Option<Patterns>,
}

/// A trigger of one source action.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipelineTrigger {
    pub provider_type: String,
    pub source_action: String,
    pub push: Vec<PushFilter>,
    pub pull_request: Vec<PullRequestFilter>,
}

/// What a push moved: a branch or a tag, and (for a branch) the files its new commits change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushedRef<'a> {
    Branch {
        name: &'a str,
        changed_files: &'a [String],
    },
    Tag {
        name: &'a str,
    },
}

/// A pull request event: what happened (`OPEN`, `UPDATED`, `CLOSED`) and the branch it would
/// merge into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestEvent<'a> {
    pub event: &'a str,
    pub destination_branch: &'a str,
}

/// A glob pattern as a regular expression over a whole name.
pub fn glob_regex(pattern: &str) -> Result<regex::Regex, String> {
    let mut out = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let mut in_group = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                // `**/` also matches no directory at all.
                if chars.get(i + 2) == Some(&'/') {
                    out.push_str("(?:.*/)?");
                    i += 1;
                } else {
                    out.push_str(".*");
                }
                i += 1;
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '{' if !in_group => {
                in_group = true;
                out.push_str("(?:");
            }
            '}' if in_group => {
                in_group = false;
                out.push(')');
            }
            ',' if in_group => out.push('|'),
            '[' => {
                let end = chars[i + 1..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or_else(|| format!("'{pattern}' has an unclosed ["))?;
                let class: String = chars[i + 1..i + 1 + end].iter().collect();
                let class = class
                    .strip_prefix('!')
                    .map_or(class.clone(), |rest| format!("^{rest}"));
                out.push('[');
                out.push_str(&class.replace('\\', "\\\\"));
                out.push(']');
                i += end + 1;
            }
            other => out.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    if in_group {
        return Err(format!("'{pattern}' has an unclosed {{"));
    }
    out.push('$');
    regex::Regex::new(&out).map_err(|e| format!("'{pattern}' is not a valid glob pattern: {e}"))
}

/// Patterns compiled once for the names of one check (an invalid one matches nothing;
/// validation refused it already).
fn compiled(patterns: &[String]) -> Vec<regex::Regex> {
    patterns.iter().filter_map(|p| glob_regex(p).ok()).collect()
}

impl Patterns {
    /// Whether `name` passes.
    pub fn admits(&self, name: &str) -> bool {
        self.admits_any(&[name.to_string()])
    }

    /// Whether any of `names` passes.
    pub fn admits_any(&self, names: &[String]) -> bool {
        let (includes, excludes) = (compiled(&self.includes), compiled(&self.excludes));
        names.iter().any(|name| {
            (self.includes.is_empty() || includes.iter().any(|re| re.is_match(name)))
                && !excludes.iter().any(|re| re.is_match(name))
        })
    }

    fn all(&self) -> impl Iterator<Item = &String> {
        self.includes.iter().chain(&self.excludes)
    }

    /// `branches feature/** (not mainline)` — what a trigger's detail shows.
    fn describe(&self, what: &str) -> String {
        let mut text = format!("{what} {}", self.includes.join(","));
        if !self.excludes.is_empty() {
            text.push_str(&format!(" (not {})", self.excludes.join(",")));
        }
        text
    }
}

impl PushFilter {
    /// Whether this filter admits the push.
    pub fn admits(&self, pushed: &PushedRef<'_>) -> bool {
        match pushed {
            PushedRef::Tag { name } => self.tags.as_ref().is_some_and(|t| t.admits(name)),
            PushedRef::Branch {
                name,
                changed_files,
            } => {
                self.branches.as_ref().is_some_and(|b| b.admits(name))
                    && self
                        .file_paths
                        .as_ref()
                        .is_none_or(|f| f.admits_any(changed_files))
            }
        }
    }

    pub fn describe(&self) -> String {
        [
            self.tags.as_ref().map(|p| p.describe("tags")),
            self.branches.as_ref().map(|p| p.describe("branches")),
            self.file_paths.as_ref().map(|p| p.describe("filePaths")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(", ")
    }
}

impl PullRequestFilter {
    pub fn admits(&self, pull_request: &PullRequestEvent<'_>) -> bool {
        (self.events.is_empty() || self.events.iter().any(|e| e == pull_request.event))
            && self
                .branches
                .as_ref()
                .is_some_and(|b| b.admits(pull_request.destination_branch))
    }

    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.events.is_empty() {
            parts.push(format!("events {}", self.events.join(",")));
        }
        parts.extend(self.branches.as_ref().map(|p| p.describe("branches")));
        parts.join(", ")
    }
}

impl PipelineTrigger {
    /// The first pull-request filter that admits the event, with its index.
    pub fn admitting_pull_request(
        &self,
        pull_request: &PullRequestEvent<'_>,
    ) -> Option<(usize, &PullRequestFilter)> {
        self.pull_request
            .iter()
            .enumerate()
            .find(|(_, filter)| filter.admits(pull_request))
    }

    /// The first push filter that admits the push, with its index; filters are ORed.
    pub fn admitting(&self, pushed: &PushedRef<'_>) -> Option<(usize, &PushFilter)> {
        self.push
            .iter()
            .enumerate()
            .find(|(_, filter)| filter.admits(pushed))
    }

    /// Whether the trigger filters at all: one without filters starts the pipeline on any push
    /// to the action's own branch, as without a trigger.
    pub fn has_filters(&self) -> bool {
        !self.push.is_empty() || !self.pull_request.is_empty()
    }

    /// What is wrong with the trigger's filters, if anything.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (n, filter) in self.push.iter().enumerate() {
            let n = n + 1;
            let valid = matches!(
                (&filter.tags, &filter.branches, &filter.file_paths),
                (Some(_), None, None) | (None, Some(_), _)
            );
            if !valid {
                problems.push(format!(
                    "Push filter {n} of the trigger on '{}' must filter on tags, on branches, or on branches and filePaths",
                    self.source_action
                ));
            }
            let patterns = [&filter.tags, &filter.branches, &filter.file_paths];
            for pattern in patterns.into_iter().flatten().flat_map(Patterns::all) {
                if let Err(e) = glob_regex(pattern) {
                    problems.push(format!("Push filter {n}: {e}"));
                }
            }
        }
        for (n, filter) in self.pull_request.iter().enumerate() {
            let n = n + 1;
            if filter.branches.is_none() {
                problems.push(format!(
                    "Pull request filter {n} of the trigger on '{}' must filter on branches",
                    self.source_action
                ));
            }
            for event in &filter.events {
                if !["OPEN", "UPDATED", "CLOSED"].contains(&event.as_str()) {
                    problems.push(format!(
                        "Pull request filter {n}: '{event}' is not one of OPEN, UPDATED, CLOSED"
                    ));
                }
            }
            for pattern in filter.branches.iter().flat_map(Patterns::all) {
                if let Err(e) = glob_regex(pattern) {
                    problems.push(format!("Pull request filter {n}: {e}"));
                }
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(includes: &[&str], excludes: &[&str]) -> Patterns {
        Patterns {
            includes: includes.iter().map(|s| s.to_string()).collect(),
            excludes: excludes.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn globs_keep_single_stars_within_a_path_segment_and_double_stars_across() {
        let re = |p| glob_regex(p).unwrap();
        assert!(re("feature/*").is_match("feature/login"));
        assert!(!re("feature/*").is_match("feature/a/b"));
        assert!(re("feature/**").is_match("feature/a/b"));
        assert!(re("**/README.md").is_match("README.md"));
        assert!(re("**/README.md").is_match("docs/deep/README.md"));
        assert!(re("common/**/*.js").is_match("common/x/y/z.js"));
        assert!(!re("common/**/*.js").is_match("common/x/y/z.ts"));
        assert!(re("release-v{1,2}").is_match("release-v2"));
        assert!(re("v[0-9].?").is_match("v1.x"));
        assert!(re("a+b").is_match("a+b") && !re("a+b").is_match("aab"));
    }

    #[test]
    fn a_branch_filter_with_file_paths_needs_a_changed_file_it_admits() {
        let filter = PushFilter {
            branches: Some(patterns(&["main", "release/**"], &["release/old"])),
            file_paths: Some(patterns(&["projectA/**"], &["**/README.md"])),
            tags: None,
        };
        let files = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let pushed = |name, changed: &Vec<String>| {
            filter.admits(&PushedRef::Branch {
                name,
                changed_files: changed,
            })
        };
        assert!(pushed("main", &files(&["projectA/src/lib.rs"])));
        assert!(!pushed("main", &files(&["projectB/src/lib.rs"])));
        assert!(!pushed("main", &files(&["projectA/README.md"])));
        assert!(!pushed("release/old", &files(&["projectA/x"])));
        assert!(!pushed("feature/x", &files(&["projectA/x"])));
        assert!(!filter.admits(&PushedRef::Tag { name: "main" }));
    }

    #[test]
    fn filters_must_be_tags_branches_or_branches_with_file_paths() {
        let trigger = PipelineTrigger {
            source_action: "Source".into(),
            push: vec![PushFilter {
                tags: Some(patterns(&["v*"], &[])),
                branches: Some(patterns(&["main"], &[])),
                file_paths: None,
            }],
            ..Default::default()
        };
        assert_eq!(trigger.problems().len(), 1);
    }
}
