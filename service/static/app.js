"use strict";
// The demo page: sends a file to the API with compare=true and draws the input, the exact
// and the PI-Net persistence images side by side, the timings and the MSE; then asks the
// topology route for the exact persistence diagrams by the model's recipe and plots them.

const API_KEY_STORAGE = "pinet-api-key";
// matplotlib's viridis at 17 evenly spaced points; colours in between are interpolated.
const VIRIDIS = [
  "440154", "48186a", "472d7b", "424086", "3b528b", "33638d", "2c728e", "26828e", "21918c",
  "1fa088", "28ae80", "3fbc73", "5ec962", "84d44b", "addc30", "d8e219", "fde725",
].map((hex) => [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16)));
// Channel names of an image by its number of channels.
const IMAGE_CHANNEL_NAMES = { 1: ["grey"], 3: ["red", "green", "blue"] };
const SIGNAL_PLOT = { width: 480, height: 64, colour: "#33638d" };
// Okabe and Ito's colour-blind-safe palette, by homology dimension: H0 blue, H1 vermillion,
// H2 bluish green.
const DIMENSION_COLOURS = ["#0072b2", "#d55e00", "#009e73"];
// A diagram's square plot area of `side` pixels, in margins that hold the axes.
const DIAGRAM_PLOT = { side: 200, left: 44, right: 10, top: 8, bottom: 34, radius: 2.5 };
const SVG_NS = "http://www.w3.org/2000/svg";

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

// POSTs `file` and the form `fields` to an API route: its JSON answer, or an Error whose
// message is the API's (or says the server did not answer).
async function postFile(path, file, fields) {
  const form = new FormData();
  form.append("file", file);
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  let response;
  try {
    response = await fetch(path, { method: "POST", body: form, headers: apiHeaders() });
  } catch (error) {
    throw new Error(`The server did not answer: ${error.message}`);
  }
  if (!response.ok) throw new Error(await errorMessage(response));
  return response.json();
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
  select.length = 1; // keep "the service's default model"
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
    const role = model.default ? ` (default for ${model.modality}s)` : "";
    select.add(new Option(`${model.name}: ${model.modality} ${shape}, ${model.recipe.name}${role}`,
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

// The name of each of `count` channels: a CSV's header, or an image's colours.
function channelNames(csvNames, count) {
  const names = csvNames ?? IMAGE_CHANNEL_NAMES[count] ?? [];
  return Array.from({ length: count }, (_, c) => names[c] ?? `channel ${c}`);
}

function showResult(body, names) {
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
    const name = names[c];
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

// An SVG element with these attributes (and text, if any).
function svg(tag, attributes, text = null) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== null) element.textContent = text;
  return element;
}

// About five round values (steps of 1, 2 or 5 times a power of 10) from at most `low` to at
// least `high`: an axis's ticks, the first and the last its ends.
function niceTicks(low, high) {
  if (!(high > low)) [low, high] = [low - 0.5, high + 0.5];
  const rough = (high - low) / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= rough);
  const [first, last] = [Math.floor(low / step), Math.ceil(high / step)];
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  return Array.from({ length: last - first + 1 }, (_, i) => (first + i) * step)
    .map((value) => ({ value, label: value.toFixed(decimals) }));
}

// A persistence diagram as an SVG scatter plot: birth across, death up, both on one scale
// with the diagonal dashed; each (birth, death) pair a circle coloured by its homology
// dimension, its numbers kept in data attributes; a legend counts each dimension's pairs.
function diagramPlot(pairs, dimensions, homologyDimensions, label) {
  const { side, left, right, top, bottom, radius } = DIAGRAM_PLOT;
  const ticks = niceTicks(...(pairs.length ? extent(pairs.flat()) : [0, 1]));
  const [low, high] = [ticks[0].value, ticks.at(-1).value];
  const x = (value) => left + ((value - low) / (high - low)) * side;
  const y = (value) => top + side - ((value - low) / (high - low)) * side;
  const [width, height] = [left + side + right, top + side + bottom];
  const plot = svg("svg", {
    class: "diagram", width, height, viewBox: `0 0 ${width} ${height}`,
    role: "img", "aria-label": label,
  });
  plot.append(
    svg("rect", { class: "frame", x: left, y: top, width: side, height: side }),
    svg("line", { class: "diagonal", x1: x(low), y1: y(low), x2: x(high), y2: y(high) }),
    svg("text", { class: "axis-title", x: left + side / 2, y: height - 4 }, "birth"),
    svg("text", {
      class: "axis-title", transform: `translate(10 ${top + side / 2}) rotate(-90)`,
    }, "death"),
  );
  for (const tick of ticks) {
    const [across, up] = [x(tick.value), y(tick.value)];
    plot.append(
      svg("line", { class: "tick", x1: across, x2: across, y1: top + side, y2: top + side + 4 }),
      svg("text", { class: "x-tick", x: across, y: top + side + 14 }, tick.label),
      svg("line", { class: "tick", x1: left - 4, x2: left, y1: up, y2: up }),
      svg("text", { class: "y-tick", x: left - 6, y: up + 3 }, tick.label),
    );
  }
  const colour = (dimension) => DIMENSION_COLOURS[dimension % DIMENSION_COLOURS.length];
  pairs.forEach(([birth, death], i) => plot.append(svg("circle", {
    cx: x(birth), cy: y(death), r: radius, fill: colour(dimensions[i]),
    "data-birth": birth, "data-death": death, "data-dimension": dimensions[i],
  })));
  // Below the diagonal, where no pair lies (death > birth): the lower right corner.
  const last = homologyDimensions.length - 1;
  homologyDimensions.forEach((dimension, k) => {
    const count = dimensions.filter((d) => d === dimension).length;
    const entry = svg("g", {
      class: "legend", "data-dimension": dimension,
      transform: `translate(${left + side - 84} ${top + side - 12 - 14 * (last - k)})`,
    });
    entry.append(
      svg("rect", { width: 8, height: 8, y: -7, fill: colour(dimension) }),
      svg("text", { x: 12 }, `H${dimension}: ${count} pairs`),
    );
    plot.append(entry);
  });
  return plot;
}

function showDiagrams(topology, names) {
  const { diagrams, dimensions, homology_dimensions: homologyDimensions } = topology;
  $("diagrams").replaceChildren(...diagrams.map((pairs, c) => {
    const plot = diagramPlot(pairs, dimensions[c], homologyDimensions,
      `persistence diagram of ${names[c]}`);
    plot.dataset.channel = c;
    return figure(names[c], plot);
  }));
}

async function analyse(file) {
  const request = ++latestRequest;
  const modality = /\.(csv|txt)$/i.test(file.name) ? "signal" : "image";
  for (const id of ["error", "result", "diagrams-view", "diagrams-error"]) $(id).hidden = true;
  $("diagrams").replaceChildren();
  setState("busy", `Computing the persistence images of ${file.name}…`);
  const csvNames = await showInput(file, modality);
  const fields = { compare: "true" };
  if ($("model-select").value) fields.model = $("model-select").value;
  let answer;
  try {
    answer = await postFile(`/v1/${modality}s/pi`, file, fields);
  } catch (error) {
    if (request === latestRequest) showError(error.message);
    return;
  }
  if (request !== latestRequest) return;
  const names = channelNames(csvNames, answer.pi.length);
  showResult(answer, names);
  setState("busy", `Computing the exact persistence diagrams of ${file.name}…`);
  const { recipe } = answer.model;
  const asked = { recipe: recipe.name, params: JSON.stringify(recipe.params) };
  try {
    const topology = await postFile(`/v1/${modality}s/topology`, file, asked);
    if (request !== latestRequest) return;
    showDiagrams(topology, names);
  } catch (error) {
    if (request !== latestRequest) return;
    $("diagrams-error").textContent = error.message;
    $("diagrams-error").hidden = false;
  }
  $("diagrams-view").hidden = false;
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
