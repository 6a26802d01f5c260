//! The little XML the S3 subset needs: escaping for responses, and reading the text of simple
//! elements from the few request documents (versioning, bucket location, completed parts).

/// Escapes text for XML (written once, in the wire crate's Query protocol).
pub fn escape(s: &str) -> String {
    sluice_wire::query::escape(s)
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text of every `<tag>...</tag>` in `doc`, in order (namespaced or attributed openings
/// included; nested elements of the same name are not supported and not needed).
pub fn all_text(doc: &str, tag: &str) -> Vec<String> {
    let mut out = Vec::new();
    let close = format!("</{tag}>");
    let mut rest = doc;
    while let Some(i) = rest.find(&format!("<{tag}")) {
        let after = &rest[i + tag.len() + 1..];
        let Some(gt) = after.find('>') else { break };
        // `<Tag>` or `<Tag xmlns=...>`, not `<TagOther>`.
        let head = &after[..gt];
        if !(head.is_empty() || head.starts_with(' ')) {
            rest = after;
            continue;
        }
        let body = &after[gt + 1..];
        let Some(end) = body.find(&close) else { break };
        out.push(unescape(&body[..end]));
        rest = &body[end + close.len()..];
    }
    out
}

pub fn text(doc: &str, tag: &str) -> Option<String> {
    all_text(doc, tag).into_iter().next()
}

/// `<tag>escaped value</tag>`.
pub fn element(tag: &str, value: &str) -> String {
    format!("<{tag}>{}</{tag}>", escape(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_read_with_or_without_attributes() {
        let doc = r#"<CompleteMultipartUpload xmlns="x"><Part><ETag>"a&amp;b"</ETag><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber><PartNumberX>9</PartNumberX></Part></CompleteMultipartUpload>"#;
        assert_eq!(all_text(doc, "PartNumber"), ["1", "2"]);
        assert_eq!(text(doc, "ETag").as_deref(), Some("\"a&b\""));
        assert_eq!(all_text(doc, "Part").len(), 2);
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &apos;b&apos;&gt;");
    }
}
