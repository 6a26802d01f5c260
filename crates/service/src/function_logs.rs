//! CloudWatch Logs, read side, over the functions' invocation logs: the log group
//! `/aws/lambda/NAME` of each function, one stream per invocation
//! (`YYYY/MM/DD/[$LATEST]REQUEST_ID`, kept at `sluice-logs/functions/NAME/REQUEST_ID.log`),
//! one event per line, stamped with the time the invocation's log was stored.

use crate::notifications::named;
use crate::{Error, Result, Sluice, LOG_BUCKET};

/// The prefix of a function's log group.
pub const LOG_GROUP_PREFIX: &str = "/aws/lambda/";
/// The most streams read for one call.
const MOST_STREAMS: usize = 1000;

/// A log group.
#[derive(Debug, Clone, PartialEq)]
pub struct LogGroupView {
    pub name: String,
    pub arn: String,
    pub created_ms: i64,
}

/// One invocation's log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogStreamView {
    pub name: String,
    pub created_ms: i64,
    pub stored_bytes: i64,
    key: String,
}

/// One line of a log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEventView {
    pub stream: String,
    pub timestamp_ms: i64,
    pub message: String,
    /// Unique in its group: the stream's and the line's number.
    pub event_id: String,
}

fn group_not_found() -> Error {
    named(
        "ResourceNotFoundException",
        "The specified log group does not exist.",
    )
}

fn stream_name(modified_ms: i64, request_id: &str) -> String {
    let day = sluice_model::time::iso_seconds(modified_ms);
    let date = day.get(..10).unwrap_or_default().replace('-', "/");
    format!("{date}/[$LATEST]{request_id}")
}

/// Whether a line passes a filter pattern: every term (a word, or a "quoted phrase") appears.
pub fn matches_terms(pattern: &str, line: &str) -> bool {
    let mut rest = pattern.trim();
    while !rest.is_empty() {
        let (term, after) = if let Some(quoted) = rest.strip_prefix('"') {
            match quoted.split_once('"') {
                Some((term, after)) => (term, after),
                None => (quoted, ""),
            }
        } else {
            rest.split_once(' ').unwrap_or((rest, ""))
        };
        if !term.is_empty() && !line.contains(term) {
            return false;
        }
        rest = after.trim_start();
    }
    true
}

impl Sluice {
    fn function_of_group(&self, group: &str) -> Result<String> {
        let name = group
            .strip_prefix(LOG_GROUP_PREFIX)
            .ok_or_else(group_not_found)?;
        if name.is_empty() || name.contains('/') {
            return Err(group_not_found());
        }
        Ok(name.to_string())
    }

    /// The functions' log groups whose name starts with `prefix`.
    pub async fn log_groups(&self, prefix: Option<&str>) -> Result<Vec<LogGroupView>> {
        let mut out = Vec::new();
        let mut marker = None;
        loop {
            let page = self.list_functions(marker.as_deref(), Some(50)).await?;
            for f in page.items {
                let name = format!("{LOG_GROUP_PREFIX}{}", f.name);
                if prefix.is_some_and(|p| !name.starts_with(p)) {
                    continue;
                }
                out.push(LogGroupView {
                    arn: format!(
                        "arn:aws:logs:{}:{}:log-group:{name}:*",
                        self.options().region,
                        self.options().account_id
                    ),
                    name,
                    created_ms: f.last_modified_ms,
                });
            }
            match page.next_token {
                Some(next) => marker = Some(next),
                None => break,
            }
        }
        Ok(out)
    }

    /// A group's streams, oldest first.
    pub async fn log_streams(&self, group: &str) -> Result<Vec<LogStreamView>> {
        let function = self.function_of_group(group)?;
        if self.function(&function).await.is_err() {
            return Err(group_not_found());
        }
        let prefix = format!("functions/{function}/");
        let listing = match self
            .list_objects(LOG_BUCKET, &prefix, None, None, MOST_STREAMS)
            .await
        {
            Ok(l) => l,
            Err(Error::NoSuchBucket(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut streams: Vec<LogStreamView> = listing
            .objects
            .into_iter()
            .filter(|o| !o.is_delete_marker())
            .map(|o| {
                let request_id = o.key[prefix.len()..].trim_end_matches(".log").to_string();
                LogStreamView {
                    name: stream_name(o.modified_ms, &request_id),
                    created_ms: o.modified_ms,
                    stored_bytes: o.size,
                    key: o.key,
                }
            })
            .collect();
        streams.sort_by(|a, b| a.created_ms.cmp(&b.created_ms).then(a.name.cmp(&b.name)));
        Ok(streams)
    }

    /// The lines of the named streams (all when `None`) of a group, oldest first.
    pub async fn log_events(
        &self,
        group: &str,
        streams: Option<&[String]>,
        pattern: Option<&str>,
        start_ms: Option<i64>,
        end_ms: Option<i64>,
    ) -> Result<Vec<LogEventView>> {
        let mut out = Vec::new();
        for (n, stream) in self.log_streams(group).await?.into_iter().enumerate() {
            if streams.is_some_and(|names| !names.contains(&stream.name)) {
                continue;
            }
            if start_ms.is_some_and(|s| stream.created_ms < s)
                || end_ms.is_some_and(|e| stream.created_ms > e)
            {
                continue;
            }
            let text = String::from_utf8_lossy(&self.read_object(LOG_BUCKET, &stream.key).await?)
                .into_owned();
            for (line_no, line) in text.lines().enumerate() {
                if pattern.is_some_and(|p| !matches_terms(p, line)) {
                    continue;
                }
                out.push(LogEventView {
                    stream: stream.name.clone(),
                    timestamp_ms: stream.created_ms,
                    message: line.to_string(),
                    event_id: format!("{:020}{:08}{:08}", stream.created_ms, n, line_no),
                });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns_need_every_term_and_quoted_phrases_whole() {
        assert!(matches_terms("", "anything"));
        assert!(matches_terms("ERROR timeout", "ERROR: timeout after 3 s"));
        assert!(!matches_terms("ERROR timeout", "ERROR: refused"));
        assert!(matches_terms("\"timed out\"", "Task timed out after"));
        assert!(!matches_terms("\"timed out\"", "out timed"));
    }

    #[test]
    fn a_stream_is_named_by_its_day_and_request() {
        assert_eq!(
            stream_name(1_700_000_000_000, "r1"),
            "2023/11/14/[$LATEST]r1"
        );
    }
}
