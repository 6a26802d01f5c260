//! Property tests: a buildspec is the pipeline author's YAML; any text parses into a buildspec
//! or a `YAML_FILE_ERROR`, never a panic.

use crate::buildspec::BuildSpec;
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_text_is_a_buildspec_or_refused(text in ".{0,400}") {
        let _ = BuildSpec::parse(&text);
    }

    #[test]
    fn yaml_shaped_text_is_a_buildspec_or_refused(
        version in "[0-9.]{0,4}",
        phase in "(install|pre_build|build|post_build|other)",
        commands in prop::collection::vec("[ -~]{0,30}", 0..5),
        extra in "(  [a-z-]{1,12}: [ -~]{0,20}\n){0,3}",
    ) {
        let mut text = format!("version: {version}\nphases:\n  {phase}:\n    commands:\n");
        for c in commands {
            text.push_str(&format!("      - {c}\n"));
        }
        text.push_str(&extra);
        let _ = BuildSpec::parse(&text);
    }
}
