// Sluice console: dialogs, dependent form sections, and live regions over server-sent events.
// Everything works as plain forms and links; this script adds only what HTML cannot do alone.
"use strict";

// Buttons with data-open="ID" open the dialog ID; buttons with data-close close their dialog.
document.addEventListener("click", (event) => {
  const opener = event.target.closest("[data-open]");
  if (opener) {
    const dialog = document.getElementById(opener.dataset.open);
    if (dialog) {
      dialog.showModal();
    } else {
      window.alert("There is nothing to do here right now.");
    }
    return;
  }
  const closer = event.target.closest("[data-close]");
  if (closer) {
    closer.closest("dialog")?.close();
  }
});

// Sections marked data-when="FIELD=VALUE" show only while the select FIELD has VALUE.
function syncConditionalSections(form) {
  form.querySelectorAll("[data-when]").forEach((section) => {
    const [field, value] = section.dataset.when.split("=");
    const select = form.querySelector(`[name="${field}"]`);
    const shown = select && select.value === value;
    section.hidden = !shown;
    section.querySelectorAll("input, textarea, select").forEach((input) => {
      input.disabled = !shown;
    });
  });
}
document.querySelectorAll("form").forEach((form) => {
  if (form.querySelector("[data-when]")) {
    syncConditionalSections(form);
    form.addEventListener("change", () => syncConditionalSections(form));
  }
});

// Regions with data-live="URL" are replaced by each `update` event from URL. An update that
// arrives while a dialog inside the region is open waits until it closes.
document.querySelectorAll("[data-live]").forEach((region) => {
  let pending = null;
  const apply = () => {
    if (pending === null || region.querySelector("dialog[open]")) return;
    region.innerHTML = pending;
    pending = null;
    region.dispatchEvent(new CustomEvent("sluice:updated", { bubbles: true }));
  };
  const source = new EventSource(region.dataset.live);
  source.addEventListener("update", (event) => {
    pending = event.data;
    apply();
  });
  region.addEventListener("close", apply, true);
});

// A running action's log (pre[data-log="URL"]) grows by `append` events until `end`.
document.querySelectorAll("pre[data-log]").forEach((log) => {
  if (!log.dataset.log) return;
  let first = true;
  const source = new EventSource(log.dataset.log);
  source.addEventListener("append", (event) => {
    const text = JSON.parse(event.data).text;
    // The first event carries the whole log so far; the page may already show part of it.
    if (first) {
      log.textContent = "";
      first = false;
    }
    const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
    log.append(text);
    if (atBottom) log.scrollTop = log.scrollHeight;
  });
  source.addEventListener("end", (event) => {
    source.close();
    log.dataset.finished = event.data;
    const status = document.getElementById("action-status");
    if (status) {
      const badge = document.createElement("span");
      const colour = { Succeeded: "ok", Failed: "failed" }[event.data] || "muted";
      badge.className = `status ${colour}`;
      badge.textContent = event.data;
      status.replaceChildren(badge);
    }
  });
});
