//! IAM's wildcards: `*` matches any run of characters (including none, including `/` and
//! `:`), `?` exactly one.

/// Whether `text` matches `pattern`; `ignore_case` for action names.
pub fn glob_match(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let eq = |a: char, b: char| {
        if ignore_case {
            a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    // Greedy with one backtrack point: linear in practice, never exponential.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && eq(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn star_matches_any_run_and_question_mark_one_character() {
        assert!(glob_match(
            "codepipeline:*",
            "codepipeline:GetPipeline",
            false
        ));
        assert!(glob_match("*", "", false));
        assert!(glob_match(
            "arn:aws:codepipeline:us-east-1:1:My*",
            "arn:aws:codepipeline:us-east-1:1:MyFirstPipeline/Beta",
            false
        ));
        assert!(glob_match("a?c", "abc", false));
        assert!(!glob_match("a?c", "ac", false));
        assert!(glob_match("*Pipeline*", "GetPipelineState", false));
        assert!(!glob_match("Get*State", "GetPipeline", false));
        assert!(glob_match("a*b*c", "a-b-b-c", false));
        assert!(!glob_match("a*b*c", "a-b-b-", false));
    }

    #[test]
    fn actions_ignore_case_and_resources_do_not() {
        assert!(glob_match(
            "CodePipeline:getpipeline",
            "codepipeline:GetPipeline",
            true
        ));
        assert!(!glob_match(
            "arn:aws:codepipeline:us-east-1:1:myfirstpipeline",
            "arn:aws:codepipeline:us-east-1:1:MyFirstPipeline",
            false
        ));
    }
}
