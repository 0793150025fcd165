// gankit serve: the index of runs and a run's page (plain JavaScript, no libraries: it works offline).
"use strict";

const $ = (id) => document.getElementById(id);
const SEED_MAX = 2147483647;
const DEFAULT_N = { image: 1, points: 1000, table: 20 };

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function getJSON(url, options) {
  const response = await fetch(url, { credentials: "same-origin", ...options });
  const body = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

async function indexPage() {
  const { runs } = await getJSON("/api/runs");
  const list = $("runs");
  for (const run of runs) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = `/runs/${encodeURIComponent(run.name)}`;
    link.textContent = run.name;
    const about = document.createElement("small");
    about.textContent = `${run.recipe} · ${run.kind} · ${run.data} · step ${run.step}`;
    item.append(link, about);
    list.append(item);
  }
  document.body.dataset.ready = "1";
}

function field(label, input) {
  const wrap = document.createElement("label");
  wrap.append(label + " ", input);
  $("controls").append(wrap);
  return input;
}

function select(label, name, choices, chosen) {
  const menu = document.createElement("select");
  menu.name = name;
  menu.id = name;
  for (const [value, text] of choices) menu.add(new Option(text, value, false, value === chosen));
  return field(label, menu);
}

function buildControls(info, params) {
  const c = info.controls;
  const n = document.createElement("input");
  Object.assign(n, { type: "number", id: "n", name: "n", min: 1, max: info.max_n,
                     value: params.get("n") || DEFAULT_N[info.kind] || 1 });
  field("n", n);
  if (c.classes.length)
    select("class", "class", [["", "any"], ...c.classes.map((name, i) => [String(i), name])], params.get("class") || "");
  if (c.domains.length)
    select("domain", "domain", c.domains.map((d) => [d, d]), params.get("domain") || c.domains[0]);
  if (c.truncation) {
    const psi = document.createElement("input");
    Object.assign(psi, { type: "range", id: "truncation", name: "truncation", min: 0, max: 1, step: 0.05,
                         value: params.get("truncation") || 1 });
    const shownPsi = Object.assign(document.createElement("output"), { id: "truncation-value", textContent: psi.value });
    psi.oninput = () => { shownPsi.textContent = psi.value; };
    field("truncation ψ", psi).after(shownPsi);
  }
  if (c.ema) {
    const ema = document.createElement("input");
    Object.assign(ema, { type: "checkbox", id: "ema", name: "ema", checked: params.get("ema") !== "false" });
    field("EMA generator", ema);
  }
}

function query(info, seed) {
  const q = new URLSearchParams({ seed: String(seed) });
  const n = $("n").value;
  q.set("n", n);
  if ($("class") && $("class").value !== "") q.set("class", $("class").value);
  if ($("domain")) q.set("domain", $("domain").value);
  if ($("ema") && !$("ema").checked) q.set("ema", "false");
  if ($("truncation") && Number($("truncation").value) !== 1) q.set("truncation", $("truncation").value);
  if (info.controls.prompt && $("prompt").dataset.asked) q.set("text", $("prompt").value);
  return q;
}

function renderTable(columns, rows) {
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const name of columns) head.append(Object.assign(document.createElement("th"), { textContent: name }));
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const value of row) tr.insertCell().textContent = typeof value === "number" ? value.toPrecision(4) : value;
  }
  $("table").replaceChildren(table);
  $("table").hidden = false;
}

function renderSongs(songs) {  // music: per sample its pianoroll, a player of its WAV rendering, its MIDI file
  const figures = songs.map((song, i) => {
    const figure = document.createElement("figure");
    const roll = Object.assign(document.createElement("img"), { src: song.png, alt: `pianoroll of sample ${i + 1}` });
    const audio = Object.assign(document.createElement("audio"), { controls: true, preload: "none", src: song.wav });
    const midi = Object.assign(document.createElement("a"), { href: song.mid, textContent: `sample ${i + 1} (.mid)` });
    midi.setAttribute("download", "");
    figure.append(roll, audio, midi);
    return figure;
  });
  $("songs").replaceChildren(...figures);
  $("songs").hidden = false;
}

async function show(info, seed) {
  showError("");
  document.body.dataset.ready = "";
  const q = query(info, seed);
  const base = `/api/runs/${encodeURIComponent(info.name)}`;
  $("permalink").href = `/runs/${encodeURIComponent(info.name)}?${q}`;
  $("seed").textContent = `seed ${seed}`;
  history.replaceState(null, "", $("permalink").href);
  if (info.kind === "table") {
    const body = await getJSON(`${base}/sample?${q}`);
    renderTable(body.columns, body.rows);
    $("download").href = `${base}/sample.csv?${q}`;
    shown(seed);
    return;
  }
  if (info.controls.music) {
    const body = await getJSON(`${base}/sample?${q}`);
    renderSongs(body.songs);
    $("download").href = body.png;
    shown(seed);
    return;
  }
  const img = $("sample");
  const url = `${base}/sample.png?${q}`;
  const response = await fetch(url, { credentials: "same-origin" });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error || response.statusText);
  }
  const blob = await response.blob();
  await new Promise((resolve) => { img.onload = resolve; img.src = URL.createObjectURL(blob); });
  img.hidden = false;
  img.dataset.seed = String(seed);
  img.dataset.url = url;
  $("download").href = info.kind === "points" ? `${base}/sample.csv?${q}` : url;
  shown(seed);
}

function shown(seed) {  // for people: the seed; for tests: the seed and how many samples were shown so far
  document.body.dataset.ready = String(seed);
  document.body.dataset.shown = String(Number(document.body.dataset.shown || 0) + 1);
}

function randomSeed() {
  return Math.floor(Math.random() * SEED_MAX);
}

async function stylize(info) {
  showError("");
  const form = new FormData();
  const content = $("content").files[0], style = $("style").files[0];
  if (!content || !style) throw new Error("choose a content and a style image");
  form.append("content", content);
  form.append("style", style);
  form.append("alpha", $("alpha").value);
  const response = await fetch(`/api/runs/${encodeURIComponent(info.name)}/stylize`,
                               { method: "POST", body: form, credentials: "same-origin" });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error || response.statusText);
  }
  const img = $("stylized");
  const blob = await response.blob();
  await new Promise((resolve) => { img.onload = resolve; img.src = URL.createObjectURL(blob); });
  img.hidden = false;
  document.body.dataset.stylized = String(Number(document.body.dataset.stylized || 0) + 1);
}

async function mixStyles(info) {
  showError("");
  const q = new URLSearchParams({ rows: $("mix-rows").value, cols: $("mix-cols").value, layers: $("mix-layers").value });
  const response = await fetch(`/api/runs/${encodeURIComponent(info.name)}/mix.png?${q}`, { credentials: "same-origin" });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error || response.statusText);
  }
  const blob = await response.blob();
  const img = $("mixed");
  await new Promise((resolve) => { img.onload = resolve; img.src = URL.createObjectURL(blob); });
  img.hidden = false;
  document.body.dataset.mixed = String(Number(document.body.dataset.mixed || 0) + 1);
}

async function runPage() {
  const name = decodeURIComponent(location.pathname.split("/").pop());
  const info = await getJSON(`/api/runs/${encodeURIComponent(name)}`);
  const params = new URLSearchParams(location.search);
  document.title = `${info.name} · gankit serve`;
  $("title").textContent = info.name;
  $("about").textContent = `${info.recipe} on ${info.data}, step ${info.step}: every sample is new ` +
                           `(space bar or New); a permalink gives the same one back.`;
  buildControls(info, params);
  if (info.export) {
    $("onnx").href = `/api/runs/${encodeURIComponent(info.name)}/export.onnx`;
    $("onnx").hidden = false;
  }
  if (info.controls.stylize) {
    $("stylize").hidden = false;
    $("alpha").oninput = () => { $("alpha-value").textContent = $("alpha").value; };
    $("stylize").onsubmit = () => { stylize(info).catch((e) => showError(e.message)); return false; };
  }
  if (info.controls.mixing.length) {
    $("mixing").hidden = false;
    for (const group of info.controls.mixing) $("mix-layers").add(new Option(group, group));
    $("mixing").onsubmit = () => { mixStyles(info).catch((e) => showError(e.message)); return false; };
  }
  if (info.controls.prompt) {
    $("prompt-form").hidden = false;
    $("prompt").value = params.get("text") || "";
    if (params.has("text")) $("prompt").dataset.asked = "1";
  }
  let seed = params.has("seed") ? Number(params.get("seed")) : randomSeed();
  const refresh = (newSeed) => { if (newSeed) seed = randomSeed(); show(info, seed).catch((e) => showError(e.message)); };
  $("new").onclick = () => refresh(true);
  $("controls").onchange = () => refresh(false);
  $("prompt-form").onsubmit = () => { $("prompt").dataset.asked = "1"; refresh(false); return false; };
  document.addEventListener("keydown", (event) => {
    if (event.code === "Space" && !["INPUT", "SELECT", "TEXTAREA", "BUTTON"].includes(event.target.tagName)) {
      event.preventDefault();
      refresh(true);
    }
  });
  refresh(false);
}

const page = document.body.dataset.page === "index" ? indexPage : runPage;
page().catch((e) => showError(e.message));
