//! The page frame and the small pieces every page uses: status badges, times, forms with their
//! CSRF token, dialogs.

use crate::session::Session;
use maud::{html, Markup, DOCTYPE};

/// A whole page: the header with the navigation and who is signed in, then `body`.
pub fn page(title: &str, session: Option<&Session>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " | Sluice" }
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/console/pipelines" { "Sluice" }
                    @if let Some(s) = session {
                        nav aria-label="Main" {
                            a href="/console/pipelines" { "Pipelines" }
                            a href="/console/create" { "Create pipeline" }
                            a href="/console/action-types" { "Action types" }
                            a href="/console/audit" { "Audit trail" }
                        }
                        div.who {
                            span.arn title=(s.caller.arn) { (display_name(&s.caller)) }
                            form method="post" action="/console/signout" {
                                (csrf(s))
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// A short name for who is signed in: the user's name, or "root".
pub fn display_name(caller: &sluice_service::Caller) -> String {
    caller
        .user_name()
        .map(str::to_string)
        .unwrap_or_else(|| caller.arn.rsplit(':').next().unwrap_or("root").to_string())
}

/// The hidden CSRF field every form carries.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A form that posts to `action` with one button (`label`).
pub fn button_form(session: &Session, action: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(session))
            button class=(class) type="submit" { (label) }
        }
    }
}

/// A button that opens the dialog `id` (the dialog itself holds the form).
pub fn dialog_button(id: &str, label: &str, class: &str) -> Markup {
    html! { button type="button" class=(class) data-open=(id) { (label) } }
}

/// A modal dialog with a title; `body` is usually a form with its own buttons.
pub fn dialog(id: &str, title: &str, body: Markup) -> Markup {
    html! {
        dialog id=(id) aria-labelledby=(format!("{id}-title")) {
            h2 id=(format!("{id}-title")) { (title) }
            (body)
        }
    }
}

/// The colour class of a status as CodePipeline names them.
pub fn status_class(status: &str) -> &'static str {
    match status {
        "Succeeded" => "ok",
        "Failed" => "failed",
        "InProgress" | "Stopping" => "running",
        "Stopped" | "Abandoned" | "Cancelled" | "Superseded" | "Skipped" => "muted",
        _ => "idle",
    }
}

/// A status badge of fixed width (so a change of status never moves the page).
pub fn status(status: &str) -> Markup {
    let label = match status {
        "InProgress" => "In progress",
        "" => "Didn't run",
        other => other,
    };
    html! { span class={"status " (status_class(status))} { (label) } }
}

/// A time as the console shows it (UTC, to the second), with the exact instant on hover.
pub fn time(ms: i64) -> Markup {
    let iso = sluice_model::time::iso_seconds(ms);
    html! { time datetime=(iso) { (iso.replace('T', " ").trim_end_matches('Z')) " UTC" } }
}

/// A duration in words: `42 s`, `3 min 5 s`, `2 h 1 min`.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// A message box: an error (`role=alert`) or a note.
pub fn message(kind: &str, text: &str) -> Markup {
    let role = if kind == "error" { "alert" } else { "status" };
    html! { div class={"message " (kind)} role=(role) { (text) } }
}

/// The first characters of a long id (revision ids, execution ids), with the whole on hover.
pub fn short(id: &str) -> Markup {
    let shown: String = id.chars().take(8).collect();
    html! { code title=(id) { (shown) } }
}

/// A path segment or a query value: names CodePipeline restricts to `[A-Za-z0-9.@_-]` pass as
/// they are; anything else is percent-encoded.
pub fn seg(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_words() {
        assert_eq!(duration(42_000), "42 s");
        assert_eq!(duration(185_000), "3 min 5 s");
        assert_eq!(duration(7_260_000), "2 h 1 min");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("My-Pipeline_1.0"), "My-Pipeline_1.0");
        assert_eq!(seg("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn user_text_is_escaped() {
        let page = message("error", "<script>alert(1)</script>").into_string();
        assert!(page.contains("&lt;script&gt;"));
    }
}
