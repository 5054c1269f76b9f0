"use strict";
// The demo page: sends a file to the API with compare=true and draws the input, the exact
// and the PI-Net persistence images side by side, the timings and the MSE.

const API_KEY_STORAGE = "pinet-api-key";
// matplotlib's viridis at 17 evenly spaced points; colours in between are interpolated.
const VIRIDIS = [
  "440154", "48186a", "472d7b", "424086", "3b528b", "33638d", "2c728e", "26828e", "21918c",
  "1fa088", "28ae80", "3fbc73", "5ec962", "84d44b", "addc30", "d8e219", "fde725",
].map((hex) => [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)));
// Channel names of an image by its number of channels.
const IMAGE_CHANNEL_NAMES = { 1: ["grey"], 3: ["red", "green", "blue"] };
const SIGNAL_PLOT = { width: 480, height: 64, colour: "#33638d" };

const $ = (id) => document.getElementById(id);
let latestRequest = 0; // a newer upload's answer wins over an older one still in flight

function setState(state, message) {
  document.body.dataset.state = state;
  $("status").textContent = message;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
  setState("error", "");
}

function apiHeaders() {
  const key = sessionStorage.getItem(API_KEY_STORAGE);
  return key ? { "X-API-Key": key } : {};
}

// The API's message: every error body is {"detail": "..."}; anything else (a proxy's
// page, say) is described by its status.
async function errorMessage(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
  } catch {
    // not JSON: fall through to the status line
  }
  return `HTTP ${response.status} ${response.statusText}`;
}

async function loadModels() {
  const select = $("model-select");
  select.length = 1; // keep "first model that fits the input"
  const response = await fetch("/v1/models", { headers: apiHeaders() });
  if (!response.ok) {
    $("models-status").textContent = `Models unavailable: ${await errorMessage(response)}`;
    // 503: the server is still loading them; ask again when it says to.
    const retrySeconds = Number(response.headers.get("Retry-After"));
    if (response.status === 503 && retrySeconds > 0) setTimeout(loadModels, retrySeconds * 1000);
    return;
  }
  const { models } = await response.json();
  for (const model of models) {
    const shape = model.input_shape.join(" × ");
    select.add(new Option(`${model.name}: ${model.modality} ${shape}, ${model.recipe.name}`,
      model.name));
  }
  $("models-status").textContent = `${models.length} models served.`;
}

// A signal's columns from CSV text, read as the server reads it (comma, semicolon or
// whitespace separated; a first row that is not all numbers is a header); null if the
// text is not a table of numbers, which the server will then explain.
function parseCsv(text) {
  const lines = text.split(/\r?\n/).filter((line) => line.trim());
  if (!lines.length) return null;
  const delimiter = lines[0].includes(",") ? "," : lines[0].includes(";") ? ";" : /\s+/;
  const rows = lines.map((line) => line.trim().split(delimiter).map((cell) => cell.trim()));
  const isNumber = (cell) => cell !== "" && Number.isFinite(Number(cell));
  const header = rows[0].every(isNumber) ? null : rows.shift();
  const width = rows.length ? rows[0].length : 0;
  if (!width || rows.some((row) => row.length !== width || !row.every(isNumber))) return null;
  const columns = rows[0].map((_, c) => rows.map((row) => Number(row[c])));
  return { names: header ?? columns.map((_, c) => `channel ${c}`), columns };
}

// Smallest and largest value; a loop, as spreading 100 000 values into Math.min overflows.
function extent(values) {
  let [low, high] = [Infinity, -Infinity];
  for (const value of values) [low, high] = [Math.min(low, value), Math.max(high, value)];
  return [low, high];
}

function drawSignal(canvas, values) {
  const { width, height, colour } = SIGNAL_PLOT;
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const [low, high] = extent(values);
  const span = high - low || 1;
  context.strokeStyle = colour;
  context.beginPath();
  values.forEach((value, i) => {
    const x = (i / Math.max(values.length - 1, 1)) * (width - 1);
    const y = height - 2 - ((value - low) / span) * (height - 4);
    if (i === 0) context.moveTo(x, y);
    else context.lineTo(x, y);
  });
  context.stroke();
}

function figure(caption, ...children) {
  const element = document.createElement("figure");
  const text = document.createElement("figcaption");
  text.textContent = caption;
  element.append(...children, text);
  return element;
}

function canvas(label) {
  const element = document.createElement("canvas");
  element.setAttribute("role", "img");
  element.setAttribute("aria-label", label);
  return element;
}

// Shows the uploaded file; returns the names of a CSV's channels, or null.
async function showInput(file, modality) {
  $("input-name").textContent = file.name;
  const image = $("input-image");
  const plots = $("input-signal");
  plots.replaceChildren();
  if (image.src) URL.revokeObjectURL(image.src);
  image.removeAttribute("src");
  image.hidden = modality !== "image";
  $("input-view").hidden = false;
  if (modality === "image") {
    image.src = URL.createObjectURL(file);
    return null;
  }
  const table = parseCsv(await file.text());
  if (!table) {
    plots.textContent = "Not a table of numbers, so there is nothing to plot.";
    return null;
  }
  table.columns.forEach((values, c) => {
    const plot = canvas(`plot of ${table.names[c]}`);
    plot.dataset.channel = c;
    drawSignal(plot, values);
    const [low, high] = extent(values).map((value) => Number(value.toPrecision(3)));
    plots.append(figure(`${table.names[c]}: ${values.length} samples, ${low} to ${high}`, plot));
  });
  return table.names;
}

// A (50, 50) PI on a 50 x 50 canvas: row 0 (the highest persistence) at the top, values
// from 0 to `max` through viridis.
function drawPI(element, pi, max) {
  element.width = pi[0].length;
  element.height = pi.length;
  const context = element.getContext("2d");
  const pixels = context.createImageData(element.width, element.height);
  pi.flat().forEach((value, i) => {
    pixels.data.set([...viridis(max > 0 ? value / max : 0), 255], 4 * i);
  });
  context.putImageData(pixels, 0, 0);
}

function viridis(t) {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  return VIRIDIS[i].map((low, k) => Math.round(low + (x - i) * (VIRIDIS[i + 1][k] - low)));
}

// The number to 3 significant digits, exact value kept in data-value for tests and tools.
function showNumber(id, value) {
  $(id).dataset.value = String(value);
  $(id).textContent = String(Number(value.toPrecision(3)));
}

function showResult(body, csvNames) {
  const names = csvNames ?? IMAGE_CHANNEL_NAMES[body.pi.length] ?? [];
  $("model-name").textContent = body.model.name;
  $("recipe-name").textContent = body.model.recipe.name;
  showNumber("pinet-ms", body.timing.pinet_ms);
  showNumber("diagram-ms", body.exact.diagram_ms);
  showNumber("image-ms", body.exact.image_ms);
  showNumber("speedup", body.speedup);
  showNumber("mse", body.mse);
  $("notes").replaceChildren(...body.notes.map((note) => {
    const item = document.createElement("li");
    item.textContent = note;
    return item;
  }));
  $("channels").replaceChildren(...body.pi.map((learned, c) => {
    const exact = body.exact.pi[c];
    const max = extent([...exact.flat(), ...learned.flat()])[1];
    const name = names[c] ?? `channel ${c}`;
    const row = document.createElement("div");
    row.className = "channel";
    row.dataset.channel = c;
    row.dataset.max = String(max);
    const exactCanvas = canvas(`exact persistence image of ${name}`);
    const learnedCanvas = canvas(`PI-Net persistence image of ${name}`);
    exactCanvas.dataset.kind = "exact";
    learnedCanvas.dataset.kind = "pinet";
    drawPI(exactCanvas, exact, max);
    drawPI(learnedCanvas, learned, max);
    const heading = document.createElement("h3");
    heading.textContent = `${name}, colour scale 0 to ${Number(max.toPrecision(3))}`;
    row.append(heading, figure("exact", exactCanvas), figure("PI-Net", learnedCanvas));
    return row;
  }));
  $("result").hidden = false;
}

async function analyse(file) {
  const request = ++latestRequest;
  const modality = /\.(csv|txt)$/i.test(file.name) ? "signal" : "image";
  $("error").hidden = true;
  $("result").hidden = true;
  setState("busy", `Computing the persistence images of ${file.name}…`);
  const csvNames = await showInput(file, modality);
  const form = new FormData();
  form.append("file", file);
  form.append("compare", "true");
  if ($("model-select").value) form.append("model", $("model-select").value);
  let response;
  try {
    response = await fetch(`/v1/${modality}s/pi`, {
      method: "POST", body: form, headers: apiHeaders(),
    });
  } catch (error) {
    if (request === latestRequest) showError(`The server did not answer: ${error.message}`);
    return;
  }
  const answer = response.ok ? await response.json() : await errorMessage(response);
  if (request !== latestRequest) return;
  if (!response.ok) {
    showError(answer);
    return;
  }
  showResult(answer, csvNames);
  setState("done", `Done: ${file.name}`);
}

async function analyseExample(name) {
  setState("busy", `Loading the example ${name}…`);
  const response = await fetch(`/examples/${name}`);
  if (!response.ok) {
    showError(`Example ${name}: ${await errorMessage(response)}`);
    return;
  }
  await analyse(new File([await response.blob()], name));
}

function init() {
  const key = $("api-key");
  key.value = sessionStorage.getItem(API_KEY_STORAGE) ?? "";
  key.addEventListener("change", () => {
    if (key.value) sessionStorage.setItem(API_KEY_STORAGE, key.value);
    else sessionStorage.removeItem(API_KEY_STORAGE);
    loadModels();
  });
  $("file-input").addEventListener("change", (event) => {
    if (event.target.files.length) analyse(event.target.files[0]);
  });
  for (const button of document.querySelectorAll("button[data-example]")) {
    button.addEventListener("click", () => analyseExample(button.dataset.example));
  }
  const zone = $("drop-zone");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (event.dataTransfer.files.length) analyse(event.dataTransfer.files[0]);
  });
  loadModels();
}

init();
