// The blt-serve page: sends the text (or a dropped file's bytes) to POST /v1/inspect and draws the
// tokens or patches it gets back as coloured spans. The server answers with the first items only
// and counts the rest, so a large input costs one request and a bounded number of spans.
"use strict";

const DEBOUNCE_MS = 200;   // wait for a pause in typing before asking the server
const PALETTE_SIZE = 6;    // .c0 .. .c5 in style.css

const $ = (id) => document.getElementById(id);
let droppedFile = null;    // a dropped file is sent as raw bytes instead of the text box
let pending = null;        // AbortController of the request in flight
let timer = null;

async function loadSplitters() {
  const select = $("splitter");
  const [toks, patchers] = await Promise.all([
    fetch("/v1/tokenizers").then((r) => r.json()),
    fetch("/v1/patchers").then((r) => (r.ok ? r.json() : { patchers: [] })),
  ]);
  const group = (label, options) => {
    const g = document.createElement("optgroup");
    g.label = label;
    for (const [value, text] of options) {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = text;
      g.appendChild(o);
    }
    select.appendChild(g);
  };
  const active = toks.tokenizers.filter((t) => t.active);
  group("Tokenizers", active.map((t) => ["tokenizer:" + t.key, t.name + " (" + t.key + ")"]));
  group("Patchers (byte ids)", patchers.patchers.map((p) => ["patcher:" + p, p]));
  const def = active.find((t) => t.default);
  if (def) select.value = "tokenizer:" + def.key;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(run, DEBOUNCE_MS);
}

async function run() {
  const [kind, name] = splitChoice();
  if (!kind) return;
  if (pending) pending.abort();
  pending = new AbortController();
  const params = new URLSearchParams({ [kind]: name });
  let request;
  if (droppedFile) {
    request = fetch("/v1/inspect?" + params, {
      method: "POST", body: droppedFile, signal: pending.signal,
      headers: { "Content-Type": "application/octet-stream" },
    });
  } else {
    request = fetch("/v1/inspect", {
      method: "POST", signal: pending.signal, headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: $("text").value, [kind]: name }),
    });
  }
  try {
    const resp = await request;
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error ? body.error.message : resp.statusText);
    render(body);
  } catch (e) {
    if (e.name === "AbortError") return;
    showError(e.message);
  }
}

function splitChoice() {
  const v = $("splitter").value;
  const i = v.indexOf(":");
  return i < 0 ? [null, null] : [v.slice(0, i), v.slice(i + 1)];
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function render(r) {
  $("error").hidden = true;
  const isTokens = r.kind === "tokens";
  const unit = isTokens ? "tokens" : "patches";
  const perItem = r.count ? (r.bytes / r.count).toFixed(2) : "0";
  $("stats").innerHTML = "";
  const stats = document.createElement("span");
  stats.id = "counts";
  stats.dataset.count = r.count;
  stats.dataset.bytes = r.bytes;
  stats.textContent = `${r.count.toLocaleString()} ${unit} · ${r.bytes.toLocaleString()} bytes · ` +
    `${perItem} bytes per ${isTokens ? "token" : "patch"}`;
  const name = document.createElement("span");
  name.className = "dim";
  name.textContent = "  " + r.name;
  $("stats").append(stats, name);

  // One fragment, one reflow: the spans are built off-document and attached once.
  const frag = document.createDocumentFragment();
  const values = isTokens ? r.ids : r.lengths;
  for (let i = 0; i < r.shown; i++) {
    const span = document.createElement("span");
    span.className = "c" + (i % PALETTE_SIZE);
    const piece = r.pieces[i];
    span.dataset.id = values[i];
    span.title = isTokens ? `id ${values[i]}` : `patch of ${values[i]} ids`;
    if (piece === null) {          // a special id: no bytes of the input
      span.classList.add("special");
      span.textContent = "∅";
    } else if (piece === "") {     // only the tail bytes of a character shown in the span before
      span.classList.add("special");
      span.textContent = "…";
      span.title += " (inside a character)";
    } else {
      appendPiece(span, piece);
    }
    frag.appendChild(span);
  }
  const out = $("spans");
  out.replaceChildren(frag);
  out.dataset.kind = r.kind;
  const more = $("more");
  more.hidden = r.shown >= r.count;
  more.textContent = `showing the first ${r.shown.toLocaleString()} of ${r.count.toLocaleString()} ${unit}; ` +
    "the counts above cover the whole input";
}

function appendPiece(span, piece) {
  // Newlines and tabs stay visible as marks so that whitespace tokens have a width.
  const parts = piece.split(/(\n|\t)/);
  for (const p of parts) {
    if (p === "\n" || p === "\t") {
      const mark = document.createElement("i");
      mark.className = "nl";
      mark.textContent = p === "\n" ? "↵" : "→";
      span.appendChild(mark);
    } else if (p) {
      span.appendChild(document.createTextNode(p));
    }
  }
}

function useFile(file) {
  droppedFile = file;
  $("file-name").textContent = `${file.name} (${file.size.toLocaleString()} bytes)`;
  $("file-name").hidden = false;
  $("clear-file").hidden = false;
  $("text").disabled = true;
  schedule();
}

function clearFile() {
  droppedFile = null;
  $("file-name").hidden = true;
  $("clear-file").hidden = true;
  $("text").disabled = false;
  schedule();
}

function setUp() {
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("dragging"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("dragging");
    if (e.dataTransfer.files.length) useFile(e.dataTransfer.files[0]);
  });
  $("text").addEventListener("input", schedule);
  $("splitter").addEventListener("change", schedule);
  $("clear-file").addEventListener("click", clearFile);
  $("show-ids").addEventListener("change", (e) => $("spans").classList.toggle("with-ids", e.target.checked));
  loadSplitters().then(schedule, (e) => showError("cannot list tokenizers: " + e.message));
}

document.addEventListener("DOMContentLoaded", setUp);
