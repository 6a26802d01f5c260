//! Buildspec file patterns: `*` and `?` within one path segment, `**` across segments.

use regex::Regex;

pub fn to_regex(pattern: &str) -> Result<Regex, regex::Error> {
    let mut re = String::from("^");
    let mut chars = pattern.trim_start_matches("./").chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                    re.push_str("(?:.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    Regex::new(&re)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_star_crosses_directories_and_single_star_does_not() {
        let all = to_regex("**/*").expect("re");
        assert!(all.is_match("a.txt") && all.is_match("d/e/f.txt"));
        let jars = to_regex("target/*.jar").expect("re");
        assert!(jars.is_match("target/app.jar"));
        assert!(!jars.is_match("target/sub/app.jar"));
        let under = to_regex("dist/**/*.js").expect("re");
        assert!(under.is_match("dist/a.js") && under.is_match("dist/x/y/a.js"));
        assert!(!to_regex("a.b").expect("re").is_match("axb"));
    }
}
