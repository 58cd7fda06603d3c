// vaelab studio: the page. It holds no latent maths: every picture comes from the server's API, which calls the
// same task functions as the CLI. Timings (input event → new image painted) are kept in window.vaelabTimings.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { model: null, info: null, cards: {}, mapLoaded: null };
window.vaelabTimings = [];

// --- the server ------------------------------------------------------------------------------------------------
async function request(path, body, headers) {
  const init = body === undefined ? {} : {
    method: "POST",
    body: body instanceof Blob ? body : JSON.stringify(body),
    headers: headers || { "content-type": "application/json" },
  };
  const res = await fetch(path, init);
  const type = res.headers.get("content-type") || "";
  const doc = type.includes("json") ? await res.json() : null;
  if (!res.ok) throw new Error((doc && doc.error) || `${res.status} ${res.statusText}`);
  return doc;
}

function showError(err) {
  const box = $("error");
  if (!err) { box.hidden = true; box.textContent = ""; return; }
  box.textContent = err.message || String(err);
  box.hidden = false;
}

// Set an image and resolve once it has been painted: decoded, then one frame later.
async function paint(img, src) {
  img.src = src;
  try { await img.decode(); } catch (e) { /* an image replaced before it decoded */ }
  await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
}

function record(panel, since) {
  window.vaelabTimings.push({ panel, ms: performance.now() - since });
}

// A request that follows a slider: one in flight at a time, and the latest input wins.
function live(panel, run, onError) {
  let busy = false, pending = null;
  async function go(since) {
    busy = true;
    try {
      await run();
      record(panel, since);
      showError(null);
    } catch (e) {
      showError(e);
      if (onError) onError(e);
    }
    busy = false;
    if (pending !== null) { const p = pending; pending = null; go(p); }
  }
  return (since) => {
    since = since === undefined ? performance.now() : since;
    if (busy) pending = since; else go(since);
  };
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

// --- sources: the inputs a panel takes (uploads, dataset images, classes, attribute queries) -------------------
// Upload files one by one: the good ones come back as inputs, and a bad one is named in the error line.
async function uploadFiles(files) {
  const out = [], failed = [];
  for (const file of files) {
    try {
      const doc = await request("api/upload", file, {
        // the server checks the content itself; a file without a type is offered as an image for it to check
        "content-type": (file.type || "").startsWith("image/") ? file.type : "image/unknown",
        "x-filename": encodeURIComponent(file.name || "upload"),
      });
      out.push({ source: { kind: "upload", id: doc.id }, label: doc.label, thumb: URL.createObjectURL(file) });
    } catch (e) {
      failed.push(e.message.startsWith(file.name) ? e.message : `${file.name}: ${e.message}`);
    }
  }
  showError(failed.length ? new Error(failed.join("; ")) : null);
  return out;
}

let pickerCount = 0;
// A picker: chips of sources, with ways to add them. opts: {kinds, single, signs, onchange}.
function makePicker(root, opts) {
  const n = ++pickerCount;
  const chips = el("ul", { class: "chips", "aria-label": "inputs" });
  const items = [];
  const changed = (since) => opts.onchange(since);
  function render() {
    chips.replaceChildren(...items.map((item, i) => {
      const parts = [];
      if (opts.signs) {
        parts.push(el("button", {
          class: "sign", type: "button", text: item.sign > 0 ? "+" : "−",
          "aria-label": `flip the sign of ${item.label}`,
          onclick: (ev) => { item.sign = -item.sign; render(); changed(ev.timeStamp); },
        }));
      }
      if (item.thumb) parts.push(el("img", { src: item.thumb, alt: "" }));
      parts.push(el("span", { text: item.label }));
      parts.push(el("button", {
        type: "button", text: "×", "aria-label": `remove ${item.label}`,
        onclick: (ev) => { items.splice(i, 1); render(); changed(ev.timeStamp); },
      }));
      return el("li", { class: "chip" }, ...parts);
    }));
  }
  function add(list, since) {
    for (const item of list) {
      // the examples a model starts with make way for the first input a person adds
      if (!item.example) for (let k = items.length - 1; k >= 0; k--) if (items[k].example) items.splice(k, 1);
      item.sign = item.sign || 1;
      if (opts.single) items.length = 0;
      items.push(item);
    }
    lastAdded = list;
    render();
    changed(since);
  }
  let lastAdded = [];
  const file = el("input", { type: "file", accept: "image/*", id: `file-${n}`, multiple: "" });
  file.addEventListener("change", async (ev) => {
    const since = ev.timeStamp;
    const added = await uploadFiles([...file.files]);
    if (added.length) add(added, since);
    file.value = "";
  });
  const ref = el("input", { type: "text", id: `ref-${n}`, placeholder: "test/17, or a name" });
  const addRef = () => {
    const text = ref.value.trim();
    if (text) add([{ source: { kind: "dataset", ref: text }, label: text }]);
    ref.value = "";
  };
  ref.addEventListener("keydown", (ev) => { if (ev.key === "Enter") addRef(); });
  const cls = el("select", { id: `class-${n}` });
  const row = el("div", { class: "picker-row" },
    el("label", { for: `file-${n}`, text: "Upload" }), file,
    el("label", { for: `ref-${n}`, text: "Dataset image" }), ref,
    el("button", { type: "button", text: "Add", onclick: addRef, "aria-label": "add the dataset image" }));
  const addClass = el("button", { type: "button", text: "Add", "aria-label": "add the class",
    onclick: (ev) => cls.value && add([{ source: { kind: "class", name: cls.value }, label: cls.value }], ev.timeStamp) });
  if (opts.kinds.includes("class")) {
    row.append(el("label", { for: `class-${n}`, text: "Class" }), cls, addClass);
  }
  const attr = el("input", { type: "text", id: `attr-${n}`, placeholder: "gender=woman" });
  if (opts.kinds.includes("attr")) {
    const addAttr = () => {
      const q = attr.value.trim();
      if (q) add([{ source: { kind: "attr", query: q }, label: q }]);
      attr.value = "";
    };
    attr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") addAttr(); });
    row.append(el("label", { for: `attr-${n}`, text: "Attributes" }), attr,
      el("button", { type: "button", text: "Add", onclick: addAttr, "aria-label": "add the attribute query" }));
  }
  root.replaceChildren(chips, row);
  // dropping files anywhere on the panel adds them
  const panel = root.closest(".panel");
  panel.addEventListener("dragover", (ev) => { ev.preventDefault(); root.classList.add("dragging"); });
  panel.addEventListener("dragleave", () => root.classList.remove("dragging"));
  panel.addEventListener("drop", async (ev) => {
    ev.preventDefault();
    root.classList.remove("dragging");
    const since = ev.timeStamp;
    const added = await uploadFiles([...ev.dataTransfer.files]);
    if (added.length) add(added, since);
  });
  return {
    items,
    set(list) { items.length = 0; add(list); },
    // a new model: the uploads stay (they are pictures, not the old model's data); the examples fill the rest
    reset(examples) {
      const uploads = items.filter((i) => i.source.kind === "upload");
      items.length = 0;
      add(uploads.length >= (opts.single ? 1 : 2) ? uploads : [...examples, ...uploads]);
    },
    // the inputs added since the server last answered, taken back when it refuses them (the error line says why)
    commit() { lastAdded = []; },
    rollback() {
      for (const item of lastAdded) {
        const k = items.indexOf(item);
        if (k >= 0) items.splice(k, 1);
      }
      lastAdded = [];
      render();
    },
    setClasses(names, attributes, problem) {
      cls.replaceChildren(...names.map((c) => el("option", { value: c, text: c })));
      for (const node of [cls, addClass]) { node.disabled = !names.length; node.title = problem || ""; }
      const first = Object.entries(attributes || {})[0];
      attr.placeholder = first ? `${first[0]}=${first[1][0]}` : "";
      attr.disabled = !first;
    },
    sources: () => items.map((i) => i.source),
  };
}

// --- morph -----------------------------------------------------------------------------------------------------
const morph = { frames: [], timer: null, dir: 1 };
function showFrame(i) {
  const scrub = $("morph-scrub");
  scrub.value = i;
  $("morph-pos").textContent = `${i} of ${Math.max(0, morph.frames.length - 1)}`;
  $("morph-frame").src = morph.frames[i] || "";
  [...$("morph-strip").children].forEach((img, k) => img.classList.toggle("current", k === i));
}
function clearMorph() {
  morph.frames = [];
  $("morph-scrub").max = 0;
  $("morph-frame").removeAttribute("src");
  for (const id of ["morph-strip", "morph-downloads", "morph-notes", "morph-inputs"]) $(id).replaceChildren();
  $("morph-pos").textContent = "–";
}
const runMorph = live("morph", async () => {
  const inputs = morphPicker.sources();
  if (inputs.length < 2) { clearMorph(); return; }
  const doc = await request("api/morph", {
    model: state.model, inputs, method: $("morph-method").value, frames: Number($("morph-frames").value),
    spacing: $("morph-spacing").value,
  });
  morphPicker.commit();
  morph.frames = doc.frames;
  const scrub = $("morph-scrub");
  scrub.max = doc.frames.length - 1;
  $("morph-strip").replaceChildren(...doc.frames.map((src, k) =>
    el("img", { src, alt: `frame ${k}`, onclick: () => showFrame(k) })));
  $("morph-downloads").replaceChildren(
    el("a", { href: doc.downloads["morph.gif"], download: "morph.gif", text: "GIF" }),
    el("a", { href: doc.downloads["morph.mp4"], download: "morph.mp4", text: "MP4" }),
    el("a", { href: doc.downloads["contact_sheet.png"], download: "contact_sheet.png", text: "contact sheet" }));
  $("morph-notes").replaceChildren(...doc.notes.map((t) => el("li", { text: t })));
  // each input as the model takes it, beside its reconstruction (a class centroid or a code is its own decoding)
  $("morph-inputs").replaceChildren(...doc.inputs.map((src, k) => el("figure", {},
    el("img", { src, alt: `input: ${doc.labels[k]}` }),
    ...(doc.reconstructions[k] ? [el("img", { src: doc.reconstructions[k], alt: `reconstruction of ${doc.labels[k]}` })] : []),
    el("figcaption", { text: doc.reconstructions[k] ? `${doc.labels[k]}: input, reconstruction` : doc.labels[k] }))));
  const i = Math.min(Number(scrub.value), doc.frames.length - 1);
  const last = $("morph-strip").lastChild;
  await paint($("morph-frame"), doc.frames[i]);
  if (last) { try { await last.decode(); } catch (e) { /* replaced */ } }
  showFrame(i);
}, () => morphPicker.rollback());  // (called after the pickers exist)
const morphPicker = makePicker($("morph-picker"), { kinds: ["class"], onchange: (t) => {
  $("morph-example-note").hidden = !morphPicker.items.some((i) => i.example);  // it names the examples only
  runMorph(t);
} });
$("morph-scrub").addEventListener("input", (ev) => {
  const since = ev.timeStamp;
  showFrame(Number(ev.target.value));
  paint($("morph-frame"), $("morph-frame").src).then(() => record("scrub", since));
});
$("morph-method").addEventListener("change", (ev) => runMorph(ev.timeStamp));
$("morph-spacing").addEventListener("change", (ev) => runMorph(ev.timeStamp));
$("morph-frames").addEventListener("change", (ev) => runMorph(ev.timeStamp));
$("morph-play").addEventListener("click", () => {
  if (morph.timer) {
    clearInterval(morph.timer); morph.timer = null; $("morph-play").textContent = "Play"; return;
  }
  $("morph-play").textContent = "Pause";
  morph.timer = setInterval(() => {
    const n = morph.frames.length;
    if (n < 2) return;
    let i = Number($("morph-scrub").value) + morph.dir;
    if (i >= n || i < 0) {
      if ($("morph-pingpong").checked) { morph.dir = -morph.dir; i += 2 * morph.dir; } else i = 0;
    }
    showFrame(Math.max(0, Math.min(n - 1, i)));
  }, 1000 / 12);
});

// --- arithmetic ------------------------------------------------------------------------------------------------
const runArithmetic = live("arithmetic", async () => {
  const terms = arithPicker.items.map((i) => ({ sign: i.sign, source: i.source }));
  if (!terms.length) { $("arith-equation").replaceChildren(); return; }
  const doc = await request("api/arithmetic", {
    model: state.model, terms, strength: Number($("arith-strength").value),
  });
  arithPicker.commit();
  const parts = [];
  doc.terms.forEach((src, k) => {
    if (k) parts.push(el("span", { class: "op", text: terms[k].sign > 0 ? "+" : "−" }));
    else if (terms[0].sign < 0) parts.push(el("span", { class: "op", text: "−" }));
    parts.push(el("figure", {}, el("img", { class: "pix mid", src, alt: doc.labels[k] }),
      el("figcaption", { text: doc.labels[k] })));
  });
  const result = el("img", { class: "pix mid", id: "arith-result", alt: "the result" });
  parts.push(el("span", { class: "op", text: "=" }),
    el("figure", {}, result, el("figcaption", { text: `result (strength ${Number($("arith-strength").value).toFixed(2)})` })));
  $("arith-equation").replaceChildren(...parts);
  await paint(result, doc.result);
}, () => arithPicker.rollback());
const arithPicker = makePicker($("arith-picker"), {
  kinds: ["class", "attr"], signs: true, onchange: (t) => runArithmetic(t), attrHint: "gender=woman",
});
$("arith-strength").addEventListener("input", (ev) => {
  $("arith-strength-value").textContent = Number(ev.target.value).toFixed(2);
  runArithmetic(ev.timeStamp);
});

// --- latent map ------------------------------------------------------------------------------------------------
const clicks = [];
function loadPlotly() {
  if (window.Plotly) return Promise.resolve();
  return new Promise((done, fail) => {
    const s = el("script", { src: "static/plotly.min.js" });
    s.onload = done; s.onerror = () => fail(new Error("plotly.js did not load"));
    document.head.append(s);
  });
}
async function showMap() {
  if (state.mapLoaded === state.model) return;
  state.mapLoaded = state.model;
  const model = state.model;
  try {
    const [doc] = await Promise.all([request(`api/map?model=${encodeURIComponent(model)}`), loadPlotly()]);
    const names = doc.class_names;
    const traces = [];
    if (doc.labels && names.length) {
      names.forEach((name, c) => {
        const idx = doc.labels.map((l, i) => (l === c ? i : -1)).filter((i) => i >= 0);
        if (idx.length) traces.push({ x: idx.map((i) => doc.x[i]), y: idx.map((i) => doc.y[i]), customdata: idx,
          name, type: "scatter", mode: "markers", marker: { size: 5, opacity: 0.75 }, hoverinfo: "name" });
      });
    } else {
      traces.push({ x: doc.x, y: doc.y, customdata: doc.x.map((_, i) => i), name: doc.data,
        type: "scatter", mode: "markers", marker: { size: 5, opacity: 0.75 }, hoverinfo: "none" });
    }
    const plot = $("map-plot");
    await Plotly.newPlot(plot, traces, {
      margin: { l: 50, r: 10, t: 10, b: 45 }, dragmode: false, hovermode: "closest",
      xaxis: { title: { text: doc.axis_labels[0] } }, yaxis: { title: { text: doc.axis_labels[1] } },
      legend: { font: { size: 10 } },
    }, { displayModeBar: false, responsive: false });
    plot.on("plotly_hover", (ev) => {
      const i = ev.points[0].customdata;
      $("map-hover").src = `api/map/image?model=${encodeURIComponent(model)}&i=${i}`;
    });
    plot.querySelector(".nsewdrag").addEventListener("click", (ev) => mapClick(ev));
  } catch (e) { state.mapLoaded = null; showError(e); }
}
async function mapClick(ev) {
  const since = ev.timeStamp;
  const plot = $("map-plot");
  const box = plot.querySelector(".nsewdrag").getBoundingClientRect();
  const xa = plot._fullLayout.xaxis, ya = plot._fullLayout.yaxis;
  const x = xa.p2c(ev.clientX - box.left), y = ya.p2c(ev.clientY - box.top);
  try {
    const doc = await request("api/map/decode", { model: state.model, x, y });
    $("map-decoded-caption").textContent = `(${x.toFixed(2)}, ${y.toFixed(2)})`;
    Object.assign($("map-decoded").dataset, { x, y });
    await paint($("map-decoded"), doc.image);
    record("map", since);
    if (clicks.length === 2) clicks.length = 0;
    clicks.push({ kind: "point", x, y });
    if (clicks.length === 2) {
      const m = await request("api/morph", { model: state.model, inputs: clicks, frames: 12, method: "lerp" });
      $("map-strip").replaceChildren(...m.frames.map((src, k) => el("img", { src, alt: `frame ${k}` })));
    }
    showError(null);
  } catch (e) { showError(e); }
}

// --- traversals ------------------------------------------------------------------------------------------------
const runTraversal = live("traversal", async () => {
  const source = travPicker.sources()[0];
  if (!source) { $("trav-image").removeAttribute("src"); return; }
  const offsets = [...$("trav-sliders").querySelectorAll("input")].map((s) => Number(s.value));
  const doc = await request("api/traversal", { model: state.model, source, offsets });
  travPicker.commit();
  await paint($("trav-image"), doc.image);
}, () => travPicker.rollback());
const travPicker = makePicker($("trav-picker"), { kinds: [], single: true, onchange: (t) => runTraversal(t) });
function buildTraversalSliders(dims) {
  const grid = $("trav-sliders");
  grid.replaceChildren();
  for (const d of dims) {
    const id = `trav-z${d.dim}`;
    const out = el("output", { for: id, text: "0.0 σ" });
    const slider = el("input", { type: "range", id, min: "-3", max: "3", step: "0.1", value: "0" });
    slider.addEventListener("input", (ev) => {
      out.textContent = `${Number(slider.value).toFixed(1)} σ`;
      runTraversal(ev.timeStamp);
    });
    const measure = d.kl !== undefined ? `KL ${d.kl.toFixed(2)} nats` : `variance ${d.variance.toFixed(2)}`;
    grid.append(el("label", { for: id, text: `z${d.dim} (${measure})` }), slider, out);
  }
}
$("trav-reset").addEventListener("click", (ev) => {
  $("trav-sliders").querySelectorAll("input").forEach((s) => { s.value = 0; s.dispatchEvent(new Event("input")); });
  runTraversal(ev.timeStamp);
});

// --- blend -----------------------------------------------------------------------------------------------------
const runBlend = live("blend", async () => {
  const weights = {};
  $("blend-sliders").querySelectorAll("input").forEach((s) => { weights[s.dataset.name] = Number(s.value); });
  if (!Object.values(weights).some((w) => w > 0)) { $("blend-image").removeAttribute("src"); return; }
  const doc = await request("api/blend", { model: state.model, weights, mean: $("blend-mean").value });
  await paint($("blend-image"), doc.image);
});
function buildBlendSliders(names) {
  const grid = $("blend-sliders");
  grid.replaceChildren();
  names.forEach((name, k) => {
    const id = `blend-w${k}`;
    const out = el("output", { for: id, text: k < 2 ? "1.00" : "0.00" });
    const slider = el("input", { type: "range", id, min: "0", max: "1", step: "0.05", value: k < 2 ? "1" : "0" });
    slider.dataset.name = name;
    slider.addEventListener("input", (ev) => {
      out.textContent = Number(slider.value).toFixed(2);
      runBlend(ev.timeStamp);
    });
    grid.append(el("label", { for: id, text: name }), slider, out);
  });
}
$("blend-mean").addEventListener("change", (ev) => runBlend(ev.timeStamp));

// --- samples ---------------------------------------------------------------------------------------------------
state.sampleSeed = 0;
const runSamples = live("samples", async () => {
  const doc = await request("api/samples", { model: state.model, seed: state.sampleSeed,
    source: $("samples-source").value || undefined });
  const grid = $("samples-grid");
  const imgs = doc.images.map((src, k) => el("img", { alt: `sample ${k + 1} (${doc.source})` }));
  grid.replaceChildren(...imgs);
  await Promise.all(imgs.map((img, k) => paint(img, doc.images[k])));
});
function buildSampleSources(samples) {
  const about = { density: "the fitted density", prior: "the prior, N(0, I)" };
  $("samples-source").replaceChildren(...samples.sources.map((s) => el("option", { value: s, text: about[s] || s })));
  $("samples-note").textContent = samples.problem || "";  // a density of other weights: why only the prior is offered
  $("samples-note").hidden = !samples.problem;
}
$("samples-again").addEventListener("click", (ev) => { state.sampleSeed += 1; runSamples(ev.timeStamp); });
$("samples-source").addEventListener("change", (ev) => runSamples(ev.timeStamp));

// --- tabs, models ----------------------------------------------------------------------------------------------
function selectTab(tab) {
  document.querySelectorAll("nav [role=tab]").forEach((t) => {
    const on = t === tab;
    t.setAttribute("aria-selected", on ? "true" : "false");
    $(t.getAttribute("aria-controls")).hidden = !on;
  });
  if (tab.id === "tab-map") showMap();
}
document.querySelectorAll("nav [role=tab]").forEach((t) => t.addEventListener("click", () => selectTab(t)));
document.querySelector("nav").addEventListener("keydown", (ev) => {
  const tabs = [...document.querySelectorAll("nav [role=tab]")];
  const i = tabs.indexOf(document.activeElement);
  if (i < 0 || !["ArrowLeft", "ArrowRight"].includes(ev.key)) return;
  const next = tabs[(i + (ev.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
  next.focus();
  selectTab(next);
});

const FIGURE_NAMES = {
  neg_elbo: "test −ELBO (nats per image; lower is better)", bits_per_dim: "bits per dimension",
  psnr: "PSNR of reconstructions (dB)", ssim: "SSIM of reconstructions", sharpness: "sharpness (1 = as crisp as the data)",
  edge_fidelity: "edge fidelity (share of the data's edges kept; 1 = all)",
};
function showCard(card, info) {
  const fig = Object.entries(card.figures || {}).map(([k, v]) => el("tr", {}, el("th", { text: FIGURE_NAMES[k] || k }),
    el("td", { text: Number(v).toFixed(3) })));
  const facts = [["data", card.data], ["image", (card.shape || []).join("×")], ["kind", card.kind],
    ["likelihood", card.likelihood], ["latent", card.latent_dim], ["source", card.source], ["folder", card.folder]];
  $("card-body").replaceChildren(
    el("table", {}, ...facts.map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", { text: String(v) }))), ...fig),
    el("pre", { text: JSON.stringify(info.config, null, 2) }));
}

async function selectModel(id) {
  state.model = id;
  state.mapLoaded = null;
  clicks.length = 0;  // points of the old model's plane mean nothing on the new one
  for (const img of ["map-hover", "map-decoded"]) $(img).removeAttribute("src");
  $("map-strip").replaceChildren();
  $("map-decoded-caption").textContent = "click the map";
  try {
    const info = await request(`api/model?model=${encodeURIComponent(id)}`);
    if (state.model !== id) return;
    state.info = info;
    showCard(state.cards[id], info);
    const classes = info.classes || [];
    for (const p of [morphPicker, arithPicker]) p.setClasses(classes, info.attributes, info.class_problem);
    buildTraversalSliders(info.traversal_dims);
    buildBlendSliders(classes);
    buildSampleSources(info.samples);
    state.sampleSeed = 0;
    // a panel the model cannot serve says why, on its tab and in the panel (the server words it)
    $("tab-blend").disabled = Boolean(info.blend_problem);
    $("tab-blend").title = info.blend_problem;
    $("blend-problem").textContent = info.blend_problem;
    $("blend-problem").hidden = !info.blend_problem;
    // the examples come from the server: which images and classes, and why those
    const example = (source) => ({ source, label: source.ref || source.name, example: true });
    const first = (ref) => example({ kind: "dataset", ref });
    morphPicker.reset(info.examples.morph.map(example));
    $("morph-example-note").textContent = info.examples.morph_note;
    travPicker.reset([first("test/0")]);
    arithPicker.set(info.examples.arithmetic.map((t) => ({ ...example(t.source), sign: t.sign })));
    runBlend();
    runSamples();
    if (!$("panel-map").hidden) showMap();
    showError(null);
  } catch (e) { showError(e); }
}

async function start() {
  try {
    const doc = await request("api/models");
    const select = $("model");
    for (const card of doc.models) {
      state.cards[card.id] = card;
      const about = card.data === card.name ? card.shape.join("×") : `${card.data}, ${card.shape.join("×")}`;
      const text = card.problem ? `${card.name} (unavailable)` : `${card.name} (${about})`;
      const option = el("option", { value: card.id, text });
      if (card.problem) { option.disabled = true; option.title = card.problem; }
      select.append(option);
    }
    select.value = doc.default;
    select.addEventListener("change", () => selectModel(select.value));
    if (doc.default) await selectModel(doc.default);
  } catch (e) { showError(e); }
}
start();
