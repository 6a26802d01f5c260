//! Live views over server-sent events: a page region that is rendered again when the state it
//! shows may have changed, and sent only when its HTML did change.

use crate::Console;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

/// How often a live view checks whether this process committed a change.
const CHECK_EVERY: Duration = Duration::from_millis(250);
/// How often it renders again regardless: changes committed by other replicas are not counted
/// here, and some (timers, a job's progress) change what a page shows without a step.
const RENDER_AT_LEAST_EVERY: Duration = Duration::from_secs(2);

struct Watch<R> {
    console: Console,
    access_key_id: String,
    render: R,
    last_html: String,
    last_count: u64,
    last_render: Option<Instant>,
}

/// Events `update` with the region's new HTML, for as long as the page stays open and the
/// session's access key keeps working. `render` gives `None` when the region is gone (the
/// pipeline was deleted); the stream then ends.
pub fn updates<R, F>(
    console: Console,
    access_key_id: String,
    render: R,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>>
where
    R: Fn() -> F + Send + 'static,
    F: Future<Output = Option<String>> + Send,
{
    let watch = Watch {
        last_count: console.sluice.change_count(),
        console,
        access_key_id,
        render,
        last_html: String::new(),
        last_render: None,
    };
    let stream = futures::stream::unfold(watch, |mut w| async move {
        loop {
            if w.last_render.is_some() {
                tokio::select! {
                    () = tokio::time::sleep(CHECK_EVERY) => {}
                    () = w.console.live.closing() => return None,
                }
            }
            let count = w.console.sluice.change_count();
            let due = w
                .last_render
                .is_none_or(|at| at.elapsed() >= RENDER_AT_LEAST_EVERY);
            if count == w.last_count && !due {
                continue;
            }
            w.last_count = count;
            w.last_render = Some(Instant::now());
            // A deactivated key ends its sessions' live views too.
            if !matches!(
                w.console.sluice.access_key(&w.access_key_id).await,
                Ok(Some(_))
            ) {
                return None;
            }
            let html = (w.render)().await?;
            if html != w.last_html {
                let event = Event::default().event("update").data(one_line(&html));
                w.last_html = html;
                return Some((Ok(event), w));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// HTML on one line (a newline inside text becomes its character reference), so it travels as
/// one SSE `data` field.
pub fn one_line(html: &str) -> String {
    html.replace('\r', "&#13;").replace('\n', "&#10;")
}

#[cfg(test)]
mod tests {
    #[test]
    fn newlines_travel_as_character_references() {
        assert_eq!(super::one_line("<pre>a\nb</pre>"), "<pre>a&#10;b</pre>");
    }
}
