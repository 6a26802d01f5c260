//! Status badges (`/console/badge/NAME.svg`) and `cc.xml` for CCMenu-style monitors. Both are
//! unauthenticated, so a pipeline appears only when it is public: tagged `sluice:badge` =
//! `public`, or every pipeline when `[console] public_badges` says so. Anything else is
//! answered as if the pipeline did not exist.

use crate::Console;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use sluice_service::ExecutionView;

/// The tag that makes one pipeline's badge public.
pub const PUBLIC_TAG: (&str, &str) = ("sluice:badge", "public");
/// Pipelines `cc.xml` looks through (its cost must not grow with the number of pipelines).
const CC_SCOPE: usize = 1000;

async fn is_public(console: &Console, name: &str) -> bool {
    if console.sluice.options().public_badges {
        return true;
    }
    let arn = crate::pipeline_arn(console, name);
    console
        .sluice
        .list_tags(&arn, Some(50), None)
        .await
        .is_ok_and(|page| {
            page.items
                .iter()
                .any(|t| t.key == PUBLIC_TAG.0 && t.value == PUBLIC_TAG.1)
        })
}

/// The pipeline's latest execution; an error when there is no such pipeline.
async fn latest(
    console: &Console,
    name: &str,
) -> Result<Option<ExecutionView>, sluice_service::Error> {
    Ok(console
        .sluice
        .list_pipeline_executions(name, Some(1), None)
        .await?
        .items
        .into_iter()
        .next())
}

fn xml_escape(text: &str) -> String {
    sluice_wire::query::escape(text)
}

/// A flat two-part badge: the pipeline's name and its latest execution's status.
pub fn svg(name: &str, status: &str) -> String {
    let colour = match status {
        "Succeeded" => "#2e7d32",
        "Failed" => "#c62828",
        "InProgress" | "Stopping" => "#1565c0",
        _ => "#616161",
    };
    let label = if status.is_empty() { "no runs" } else { status };
    // 7 px a character is close enough for the sans-serif a badge uses.
    let left = 10 + 7 * name.chars().count();
    let right = 10 + 7 * label.chars().count();
    let width = left + right;
    let (name, label) = (xml_escape(name), xml_escape(label));
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" aria-label="{name}: {label}"><title>{name}: {label}</title><rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="{colour}"/><g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11" text-anchor="middle"><text x="{lx}" y="14">{name}</text><text x="{rx}" y="14">{label}</text></g></svg>"##,
        lx = left / 2,
        rx = left + right / 2,
    )
}

pub async fn badge(State(console): State<Console>, Path(file): Path<String>) -> Response {
    let Some(name) = file.strip_suffix(".svg") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !is_public(&console, name).await {
        return StatusCode::NOT_FOUND.into_response();
    }
    let status = match latest(&console, name).await {
        Ok(e) => e.map(|e| e.status).unwrap_or_default(),
        Err(_) => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        svg(name, &status),
    )
        .into_response()
}

/// CCTray's words for an execution: `activity` and `lastBuildStatus`.
fn cctray(e: Option<&ExecutionView>) -> (&'static str, &'static str) {
    match e.map(|e| e.status.as_str()) {
        Some("InProgress" | "Stopping") => ("Building", "Unknown"),
        Some("Succeeded") => ("Sleeping", "Success"),
        Some("Failed") => ("Sleeping", "Failure"),
        Some(_) => ("Sleeping", "Exception"),
        None => ("Sleeping", "Unknown"),
    }
}

/// How long a `cc.xml` document is answered again while nothing changed here (changes on other
/// replicas show after this long).
const CC_REUSE_MS: i64 = 5_000;

/// The last `cc.xml` document: the change count it saw, when it was made, and the document.
pub type CcCache = std::sync::Mutex<Option<(u64, i64, String)>>;

/// CCTray's feed. Anyone may ask for it, and making it reads every public pipeline, so one
/// document is made at most once per change and `CC_REUSE_MS`, however often it is asked for.
pub async fn cc_xml(State(console): State<Console>) -> Response {
    let (count, now) = (console.sluice.change_count(), console.sluice.now_ms());
    let reused = console
        .cc_cache
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .filter(|(seen, at, _)| *seen == count && now >= *at && now - at < CC_REUSE_MS)
        .map(|(_, _, doc)| doc.clone());
    let doc = match reused {
        Some(doc) => doc,
        None => match cc_document(&console).await {
            Ok(doc) => {
                *console.cc_cache.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((count, now, doc.clone()));
                doc
            }
            Err(e) => {
                tracing::error!(error = %e, "listing pipelines for cc.xml failed");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        },
    };
    ([(header::CONTENT_TYPE, "application/xml")], doc).into_response()
}

async fn cc_document(console: &Console) -> Result<String, sluice_service::Error> {
    let names: Vec<String> = console
        .sluice
        .list_pipelines(Some(CC_SCOPE), None)
        .await?
        .items
        .into_iter()
        .map(|p| p.name)
        .collect();
    let base = console
        .sluice
        .options()
        .public_url
        .trim_end_matches('/')
        .to_string();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Projects>\n");
    for name in names {
        if !is_public(console, &name).await {
            continue;
        }
        // Deleted since it was listed.
        let Ok(e) = latest(console, &name).await else {
            continue;
        };
        let (activity, status) = cctray(e.as_ref());
        let (label, at) = e.as_ref().map_or((String::new(), String::new()), |e| {
            (e.id.clone(), sluice_model::time::iso_seconds(e.updated_ms))
        });
        out.push_str(&format!(
            "  <Project name=\"{}\" activity=\"{activity}\" lastBuildStatus=\"{status}\" lastBuildLabel=\"{}\" lastBuildTime=\"{at}\" webUrl=\"{}/console/pipelines/{}\"/>\n",
            xml_escape(&name),
            xml_escape(&label),
            xml_escape(&base),
            crate::html::seg(&name),
        ));
    }
    out.push_str("</Projects>\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_badge_names_the_pipeline_and_escapes_it() {
        let b = svg("a<b", "Succeeded");
        assert!(b.contains("a&lt;b: Succeeded") && b.contains("#2e7d32"));
        assert!(svg("p", "").contains("no runs"));
    }

    #[test]
    fn cctray_statuses_follow_the_latest_execution() {
        assert_eq!(cctray(None), ("Sleeping", "Unknown"));
    }
}
