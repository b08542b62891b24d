// The preview page: fills itself from the payload, and when live, waits for
// the server to say something changed and fetches the new payload.
"use strict";
const $ = (id) => document.getElementById(id);
const frames = Array.from(document.querySelectorAll("iframe[data-width]"));
let current = JSON.parse($("payload").textContent);
let dark = localStorage.getItem("preview-dark") === "yes";
let painted = null;
$("dark").checked = dark;

function show(payload) {
  current = payload;
  document.body.dataset.version = String(payload.version);
  fillSegments(payload);
  const error = $("error");
  error.hidden = !payload.error;
  error.textContent = payload.error || "";
  if (payload.error) {
    return; // keep the last good message on screen below the reason
  }
  $("edition").textContent = "edition: " + payload.edition +
    (payload.stored ? " (its render as sent; edits no longer apply)" : "");
  const report = $("report");
  if (report) report.hidden = !payload.went_out;
  $("subject").textContent = payload.subject;
  $("preheader").textContent = payload.preheader;
  $("text").textContent = payload.text;
  fillHeaders(payload);
  fillLint(payload);
  paint();
}

function paint() {
  document.body.classList.toggle("dark", dark);
  if (current.error || current.html === undefined) return;
  const html = dark ? current.dark_html : current.html;
  if (html === painted) {
    // A lint verdict came in; the message is the same.
    for (const frame of frames) frame.dataset.version = String(current.version);
    return;
  }
  painted = html;
  for (const frame of frames) {
    const scroll = frame.contentWindow ? frame.contentWindow.scrollY : 0;
    frame.onload = () => fitted(frame, scroll);
    frame.srcdoc = html;
  }
}

function fitted(frame, scroll) {
  const doc = frame.contentDocument;
  if (!doc) return;
  // Links open in a new tab; the message's own bytes stay as they are.
  for (const link of doc.querySelectorAll("a[href]")) {
    link.target = "_blank";
    link.rel = "noopener";
  }
  const fit = () => { frame.style.height = doc.documentElement.scrollHeight + "px"; };
  fit();
  new ResizeObserver(fit).observe(doc.documentElement);
  frame.contentWindow.scrollTo(0, scroll);
  frame.dataset.version = String(current.version);
}

function fillSegments(payload) {
  const segments = payload.segments.slice();
  if (!segments.some((s) => s.key === payload.segment)) {
    // Asked for by --segment or the address, though no subscriber chose it.
    segments.push({ key: payload.segment, label: payload.segment_label });
  }
  $("segment").replaceChildren(...segments.map(
    (s) => new Option(s.label, s.key, false, s.key === payload.segment)));
}

function fillHeaders(payload) {
  const rows = payload.headers.map(([name, value]) => {
    const row = document.createElement("tr");
    row.append(cell(name + ":"), cell(value));
    return row;
  });
  $("headers").replaceChildren(...rows);
  $("sizes").textContent = "· HTML " + kb(payload.html_bytes) + ", message " + kb(payload.message_bytes);
}

function fillLint(payload) {
  const items = payload.lint.map((f) => {
    const item = document.createElement("li");
    item.className = "finding " + f.level;
    const level = document.createElement("span");
    level.className = "level " + f.level + "-level";
    level.textContent = f.level;
    const check = document.createElement("span");
    check.className = "check";
    check.textContent = f.check;
    item.append(level, check, document.createTextNode(f.message));
    return item;
  });
  if (payload.spam === "pending") {
    const item = document.createElement("li");
    item.className = "finding pending";
    item.textContent = "SpamAssassin: checking…";
    items.push(item);
  }
  $("lint").replaceChildren(...items);
  const count = (level) => payload.lint.filter((f) => f.level === level).length;
  const errors = count("error");
  const warnings = count("warning");
  $("lint-summary").textContent = "· " + errors + " error" + (errors === 1 ? "" : "s") + ", " +
    warnings + " warning" + (warnings === 1 ? "" : "s");
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function kb(bytes) {
  return (bytes / 1024).toFixed(1) + " KB";
}

$("dark").addEventListener("change", (event) => {
  dark = event.target.checked;
  localStorage.setItem("preview-dark", dark ? "yes" : "no");
  paint();
});

$("segment").addEventListener("change", (event) => {
  const url = new URL(location.href);
  url.searchParams.set("segment", event.target.value);
  location.href = url.toString();
});

async function follow() {
  const status = $("status");
  let changed = null;
  status.textContent = "live · watching";
  for (;;) {
    try {
      const answer = await fetch("/api/changes?since=" + current.version);
      if (!answer.ok) throw new Error("HTTP " + answer.status);
      const { version } = await answer.json();
      if (version !== current.version) {
        const query = new URLSearchParams({ segment: current.segment });
        const fresh = await fetch("/api/preview?" + query);
        if (!fresh.ok) throw new Error("HTTP " + fresh.status);
        show(await fresh.json());
        changed = new Date();
      }
      status.className = "status";
      status.textContent = "live · " + (changed ? "changed " + changed.toLocaleTimeString() : "watching");
    } catch (error) {
      status.className = "status stale";
      status.textContent = "preview server gone? retrying…";
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

show(current);
if (LIVE) {
  follow();
} else {
  $("status").textContent = "snapshot of " + new Date(current.built_at).toLocaleString();
}
