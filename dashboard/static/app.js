// medbot operator dashboard: plain JS, no build step. Talks to the server's JSON API and WebSocket.
"use strict";

const SEVERITY_RANK = { info: 0, low: 1, medium: 2, high: 3, critical: 4 };
const SEVERITY_COLOUR = { info: "#1e63b5", low: "#9ccc65", medium: "#e69500", high: "#c62828", critical: "#7b1fa2" };
const ZONE_COLOUR = { ward: "#bbdefb", isolation: "#ffcdd2", corridor: "#eceff1", radiology: "#d1c4e9",
  lab: "#c8e6c9", pharmacy: "#fff9c4", kitchen: "#ffe0b2", supply: "#d7ccc8", outpatient: "#b2ebf2",
  car_park: "#e0e0e0", charging: "#a5d6a7" };
const OUTCOME_COLOUR = { succeeded: "#2e8b57", failed: "#c62828", cancelled: "#9e9e9e" };
const STALE_AFTER_S = 30;
// the contract's task states (telemetry/schemas/tasks.json), in the order the queue groups them
const TASK_STATES = ["waiting", "assigned", "dispatched", "running", "done", "failed", "cancelled", "rejected"];
const OPEN_TASK_STATES = new Set(["waiting", "assigned", "dispatched", "running"]);
const TASK_ROWS_PER_STATE = 200;  // a long day's done tasks must not make every update slow
const SVGNS = "http://www.w3.org/2000/svg";

const view = { me: null, map: null, robots: new Map(), alerts: new Map(), commands: new Map(), clinical: [],
  kpis: null, fleetTimeS: null, brokerConnected: false, tasks: new Map(), taskRequests: new Map(),
  fleetServices: new Map(),
  // the floor the map shows (a level index of the map's `levels`); robots and pins of other floors are
  // not drawn, the robot list says each robot's floor
  level: 0,
  // what needs looking at is shown by default; done and cancelled tasks one click away
  taskFilter: new Set(["waiting", "assigned", "dispatched", "running", "failed", "rejected"]) };
let socket = null;
let reconnectDelayMs = 500;

const $ = (sel) => document.querySelector(sel);
function el(tag, attrs = {}, text = null, ns = null) {
  const node = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, v);
  if (text !== null) node.textContent = text;
  return node;
}
const svg = (tag, attrs = {}, text = null) => el(tag, attrs, text, SVGNS);

async function api(path, options = {}) {
  const headers = { "Content-Type": "application/json" };
  if (view.me) headers["X-CSRF-Token"] = view.me.csrf_token;
  const response = await fetch(path, { credentials: "same-origin", ...options, headers });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  return { status: response.status, data };
}

// -- login --------------------------------------------------------------------------------

async function start() {
  const me = await api("/api/me");
  if (me.status !== 200) { $("#login").hidden = false; $("#app").hidden = true; return; }
  view.me = me.data;
  $("#login").hidden = true; $("#app").hidden = false; $("#logout").hidden = false;
  $("#who").textContent = `${view.me.user} (${view.me.roles.join(", ")})`;
  $("#command-readonly").hidden = view.me.can_command;
  for (const b of document.querySelectorAll("#command-form button, #command-form input, #command-form textarea, #command-form select"))
    b.disabled = !view.me.can_command;
  $("#clinical-panel").hidden = !view.me.can_see_clinical;
  $("#task-readonly").hidden = view.me.can_command;
  for (const b of document.querySelectorAll("#task-form button, #task-form input, #task-form textarea, #task-form select"))
    b.disabled = !view.me.can_command;
  $("#task-id").value = newTaskId();
  buildTaskFilter();
  const map = await api("/api/map");
  // without --map the server answers {}: no map to draw, not a page that fails to start
  view.map = map.status === 200 && map.data && map.data.bounds_m ? map.data : null;
  const levels = mapLevels();
  view.level = levels.includes(0) ? 0 : levels[0];
  buildFloorSelect();
  connect();
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = form.get("token") ? { token: form.get("token") } : { user: form.get("user"), password: form.get("password") };
  const result = await api("/login", { method: "POST", body: JSON.stringify(body) });
  if (result.status === 200) { $("#login-error").textContent = ""; start(); }
  else $("#login-error").textContent = "Login failed.";
});

$("#logout").addEventListener("click", async () => {
  await api("/api/logout", { method: "POST", body: "{}" });
  location.reload();
});

// -- live updates -------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws`);
  socket.onopen = () => { reconnectDelayMs = 500; };
  socket.onmessage = (msg) => apply(JSON.parse(msg.data));
  socket.onclose = (event) => {
    setLink(false, "dashboard link lost — reconnecting");
    if (event.code === 4401) { location.reload(); return; }  // session gone: log in again
    setTimeout(connect, reconnectDelayMs);
    reconnectDelayMs = Math.min(reconnectDelayMs * 2, 5000);
  };
}

function apply(message) {
  if (message.type === "snapshot") {
    view.robots = new Map(message.robots.map((r) => [r.key, r]));
    view.alerts = new Map(message.alerts.map((a) => [a.key, a]));
    view.commands = new Map(message.commands.map((c) => [c.command_id, c]));
    view.clinical = message.clinical || [];
    view.tasks = new Map((message.tasks || []).map((t) => [t.key, t]));
    view.taskRequests = new Map((message.task_requests || []).map((r) => [r.request_id, r]));
    view.fleetServices = new Map((message.fleet_services || []).map((f) => [f.site, f]));
    view.kpis = message.kpis;
    view.fleetTimeS = message.fleet_time_s;
    setLink(message.broker_connected);
    renderAll();
    return;
  }
  for (const robot of message.robots) view.robots.set(robot.key, robot);
  for (const event of message.events) {
    if (event.type === "alert") view.alerts.set(event.alert.key, event.alert);
    else if (event.type === "command") view.commands.set(event.command.command_id, event.command);
    else if (event.type === "clinical") { view.clinical.unshift(event.record); view.clinical.length = Math.min(view.clinical.length, 200); }
    else if (event.type === "link") setLink(event.broker_connected);
    else if (event.type === "task") view.tasks.set(event.task.key, event.task);
    else if (event.type === "task_request") view.taskRequests.set(event.request.request_id, event.request);
    else if (event.type === "fleet_service") view.fleetServices.set(event.service.site, event.service);
  }
  if (message.kpis) view.kpis = message.kpis;
  if (message.fleet_time_s) view.fleetTimeS = message.fleet_time_s;
  renderAll();
}

function setLink(up, text = null) {
  view.brokerConnected = up;
  const badge = $("#link");
  badge.className = `badge ${up ? "up" : "down"}`;
  badge.textContent = text || (up ? "broker connected" : "broker unreachable — showing last known state");
  badge.dataset.state = up ? "up" : "down";
}

function renderAll() {
  $("#fleet-time").textContent = view.fleetTimeS ? new Date(view.fleetTimeS * 1000).toISOString().slice(0, 19).replace("T", " ") + " UTC" : "–";
  renderMap(); renderRobots(); renderAlerts(); renderCommandForm(); renderCommands(); renderKpis(); renderClinical();
  renderFleetService(); renderTasks(); renderTaskForm(); renderTaskRequests();
}

// -- map ----------------------------------------------------------------------------------

let mapBuilt = false;
function mapXY(x, y) {
  const [xmin, , , ymax] = view.map ? view.map.bounds_m : [0, 0, 100, 60];
  return [x - xmin + 2, ymax - y + 2];
}

// the map's floors, lowest first (`levels` keys are the level index as text); one floor without it
function mapLevels() {
  const levels = view.map && view.map.levels ? Object.keys(view.map.levels).map(Number) : [0];
  return levels.length ? levels.sort((a, b) => a - b) : [0];
}

function floorName(level) {
  const name = view.map && view.map.levels ? view.map.levels[String(level)] : null;
  return name || `level ${level}`;
}

const levelOf = (thing) => (thing && Number.isInteger(thing.level) ? thing.level : 0);

function buildFloorSelect() {
  const box = $("#floor-select");
  const levels = mapLevels();
  box.hidden = levels.length < 2;
  box.replaceChildren();
  // top floor first, as a building's directory lists them
  for (const level of [...levels].reverse()) {
    const button = el("button", { type: "button", class: "floor", "data-level": String(level) });
    button.append(el("span", { class: "name" }, floorName(level)), el("span", { class: "n" }, ""));
    button.addEventListener("click", () => selectFloor(level));
    box.append(button);
  }
}

function selectFloor(level) {
  if (!mapLevels().includes(level)) return;
  view.level = level;
  renderMap();
}

function buildMap() {
  const map = $("#map");
  const [xmin, ymin, xmax, ymax] = view.map ? view.map.bounds_m : [0, 0, 100, 60];
  map.setAttribute("viewBox", `0 0 ${xmax - xmin + 4} ${ymax - ymin + 4}`);
  if (view.map) {
    // every floor is built once, in one frame (a lift's shaft lines up across them); one is shown
    for (const level of mapLevels()) map.append(floorLayer(level));
  }
  map.append(svg("g", { id: "alert-pins" }));
  map.append(svg("g", { id: "robot-layer" }));
  mapBuilt = true;
}

function floorLayer(level) {
  const on = (items) => (items || []).filter((item) => levelOf(item) === level);
  const layer = svg("g", { class: "static floor", "data-level": String(level) });
  for (const z of on(view.map.zones)) {
    const points = z.polygon_m.map(([x, y]) => mapXY(x, y).join(",")).join(" ");
    layer.append(svg("polygon", { class: "zone", points, fill: ZONE_COLOUR[z.tag] || "#eee" }));
  }
  for (const st of (view.map.stairs || []).filter((st) => st.levels.includes(level))) {
    const [x, y] = mapXY(st.x_m - st.width_m / 2, st.y_m + st.depth_m / 2);
    const stairs = svg("rect", { class: "stairs", x, y, width: st.width_m, height: st.depth_m });
    stairs.append(svg("title", {}, `${st.name} (stairs: robots cannot use them)`));
    layer.append(stairs);
  }
  for (const w of on(view.map.walls)) {
    const [x1, y1] = mapXY(...w.a); const [x2, y2] = mapXY(...w.b);
    layer.append(svg("line", { class: "wall", x1, y1, x2, y2, "stroke-width": Math.max(w.thickness_m, 0.15) }));
  }
  for (const lift of (view.map.lifts || []).filter((l) => l.levels.includes(level))) {
    const [x, y] = mapXY(lift.x_m, lift.y_m);
    const car = svg("g", { class: "lift", "data-lift": lift.name, transform: `translate(${x},${y})` });
    car.append(svg("title", {}, `${lift.name}: floors ${lift.levels.map(floorName).join(", ")}`));
    car.append(svg("rect", { x: -1, y: -1.2, width: 2, height: 2.4 }), svg("path", { d: "M-1 -1.2 L1 1.2 M1 -1.2 L-1 1.2" }));
    layer.append(car);
  }
  for (const d of on(view.map.doors)) {
    const [x, y] = mapXY(d.x_m, d.y_m);
    const door = svg("circle", { class: d.fire ? "door fire" : "door", cx: x, cy: y, r: 0.45 });
    door.append(svg("title", {}, d.fire ? `${d.name} (fire door)` : d.name));
    layer.append(door);
  }
  for (const p of on(view.map.places).filter((p) => ["dock", "nurse_station", "reception", "pharmacy_counter", "lab_bench"].includes(p.kind))) {
    const [x, y] = mapXY(p.x_m, p.y_m);
    layer.append(svg("text", { class: "place-label", x, y }, p.name));
  }
  return layer;
}

function robotColour(r) {
  if (r.connection === "CONNECTION_BROKEN") return "#b71c1c";
  if (r.connection === "OFFLINE") return "#9e9e9e";
  if (r.safety && r.safety.state !== "normal") return "#e53935";
  if (r.operating_mode === "paused") return "#fb8c00";
  if (r.battery && r.battery.charging) return "#43a047";
  if (r.mission) return "#1e63b5";
  return "#00897b";
}

function renderFloors() {
  const counts = new Map();
  for (const r of view.robots.values()) if (r.pose) counts.set(levelOf(r.pose), (counts.get(levelOf(r.pose)) || 0) + 1);
  for (const layer of document.querySelectorAll("#map g.floor")) {
    if (Number(layer.dataset.level) === view.level) layer.removeAttribute("display");
    else layer.setAttribute("display", "none");
  }
  for (const button of document.querySelectorAll("#floor-select button.floor")) {
    const level = Number(button.dataset.level);
    button.setAttribute("aria-pressed", String(level === view.level));
    button.querySelector(".n").textContent = counts.get(level) ? ` (${counts.get(level)})` : "";
  }
  $("#map").dataset.level = String(view.level);
  $("#map").setAttribute("aria-label", `hospital map with robots: ${floorName(view.level)}`);
}

function renderMap() {
  if (!mapBuilt) buildMap();
  renderFloors();
  const layer = $("#robot-layer");
  layer.replaceChildren();
  for (const r of view.robots.values()) {
    if (!r.pose || levelOf(r.pose) !== view.level) continue;
    const [x, y] = mapXY(r.pose.x_m, r.pose.y_m);
    const g = svg("g", { class: "robot", "data-robot": r.key, "data-x": r.pose.x_m.toFixed(2), "data-y": r.pose.y_m.toFixed(2),
      "data-level": String(levelOf(r.pose)), transform: `translate(${x.toFixed(2)},${y.toFixed(2)})` });
    g.append(svg("title", {}, `${r.robot_id} (${r.kind || "?"}) ${r.connection}`));
    g.append(svg("circle", { r: 1.1, fill: robotColour(r) }));
    const yaw = r.pose.yaw_rad || 0;
    g.append(svg("line", { x1: 0, y1: 0, x2: (1.6 * Math.cos(yaw)).toFixed(2), y2: (-1.6 * Math.sin(yaw)).toFixed(2) }));
    g.append(svg("text", { x: 1.4, y: -1.2 }, r.robot_id));
    layer.append(g);
  }
  const pins = $("#alert-pins");
  pins.replaceChildren();
  for (const a of view.alerts.values()) {
    if (!a.where || a.acked_by || (a.where.x_m === 0 && a.where.y_m === 0)) continue;  // 0,0: "at a place", no position
    if (levelOf(a.where) !== view.level) continue;
    const [x, y] = mapXY(a.where.x_m, a.where.y_m);
    const pin = svg("path", { class: "alert-pin", "data-alert": a.key, d: `M${x} ${y} l-0.9 -2 a1 1 0 1 1 1.8 0 z`,
      fill: SEVERITY_COLOUR[a.severity] || "#555" });
    pin.append(svg("title", {}, `${a.severity}: ${a.summary}`));
    pins.append(pin);
  }
}

// -- robots, alerts, commands ---------------------------------------------------------------

function ago(stampS) {
  if (!stampS || !view.fleetTimeS) return "–";
  const d = Math.max(0, view.fleetTimeS - stampS);
  return d < 1 ? "now" : `${Math.round(d)} s ago`;
}

function renderRobots() {
  const body = $("#robots tbody");
  body.replaceChildren();
  for (const r of [...view.robots.values()].sort((a, b) => a.key.localeCompare(b.key))) {
    const stale = r.connection === "ONLINE" && r.last_seen_s && view.fleetTimeS - r.last_seen_s > STALE_AFTER_S;
    const devices = Object.entries(r.devices || {});
    const bad = devices.filter(([, h]) => h !== "ok");
    const tr = el("tr", { "data-robot": r.key });
    // its floor: a click on it shows that floor on the map
    const floor = el("td", { class: "floor" }, r.pose ? floorName(levelOf(r.pose)) : "–");
    if (r.pose) {
      floor.dataset.level = String(levelOf(r.pose));
      floor.title = "show this floor on the map";
      floor.addEventListener("click", () => selectFloor(levelOf(r.pose)));
    }
    tr.append(el("td", {}, r.robot_id), el("td", {}, r.kind || "?"), floor,
      el("td", { class: `connection conn-${r.connection}` }, r.connection + (stale ? " (stale)" : "")),
      el("td", {}, r.battery ? `${Math.round(100 * r.battery.soc_fraction)} %${r.battery.charging ? " ⚡" : ""}` : "–"),
      el("td", { class: "mode" }, (r.safety && r.safety.state !== "normal") ? `${r.operating_mode} · ${r.safety.state}` : (r.operating_mode || "–")),
      el("td", { class: "mission" }, r.mission ? `${r.mission.kind} · ${r.mission.state}${r.mission.step ? " · " + r.mission.step : ""}` : "idle"),
      el("td", { class: "tasks" }, robotTasksText(r.tasks || [])),
      el("td", { class: bad.length ? "stale" : "" }, devices.length ? (bad.length ? bad.map(([n, h]) => `${n}: ${h}`).join(", ") : `${devices.length} ok`) : "–"),
      el("td", { class: stale ? "stale" : "" }, ago(r.last_seen_s)));
    body.append(tr);
  }
}

function renderAlerts() {
  const list = $("#alerts");
  const alerts = [...view.alerts.values()].sort((a, b) =>
    (!!a.acked_by - !!b.acked_by) || (SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity]) || (b.at_s - a.at_s));
  $("#alert-count").textContent = `${alerts.filter((a) => !a.acked_by).length} open`;
  list.replaceChildren();
  for (const a of alerts.slice(0, 200)) {
    const li = el("li", { class: `alert sev-${a.severity}${a.acked_by ? " acked" : ""}`, "data-key": a.key, "data-severity": a.severity });
    li.append(el("div", { class: "summary" }, `${a.severity.toUpperCase()} · ${a.category} — ${a.summary}`));
    const where = a.where && a.where.place ? ` at ${a.where.place}` : "";
    li.append(el("div", { class: "meta" }, `${a.robot_id}${where} · ${a.at.slice(11, 19)}` +
      (a.acked_by ? ` · acknowledged by ${a.acked_by} at ${a.acked_at.slice(11, 19)} UTC` : "")));
    if (a.media_url) li.append(el("img", { class: "evidence", src: a.media_url, alt: `evidence for ${a.alert_id}` }));
    else if (a.evidence_ref) li.append(el("div", { class: "meta" }, "evidence image not received yet"));
    if (!a.acked_by && view.me.roles.some((r) => r !== "viewer")) {
      const button = el("button", { class: "ack" }, "Acknowledge");
      button.addEventListener("click", () => api("/api/alerts/ack", { method: "POST", body: JSON.stringify({ key: a.key }) }));
      li.append(button);
    }
    list.append(li);
  }
}

function renderCommandForm() {
  const select = $("#cmd-robot");
  const keys = [...view.robots.keys()].sort();
  if (select.options.length === keys.length) return;
  const current = select.value;
  select.replaceChildren(...keys.map((k) => el("option", { value: k }, k)));
  if (keys.includes(current)) select.value = current;
}

function renderCommands() {
  // this dashboard's commands apart from the acks of other consoles' (under a fleet service, one per
  // dispatch it makes): an operator's own pause must not scroll away under them
  const all = [...view.commands.values()].reverse();
  const others = all.filter((c) => c.ours === false);
  $("#other-command-count").textContent = `(${others.length})`;
  for (const [target, entries] of [["#command-log", all.filter((c) => c.ours !== false)], ["#other-command-log", others]]) {
    const list = $(target);
    list.replaceChildren();
    for (const c of entries.slice(0, 50)) {
      const answer = c.status === "sent" ? "waiting for the robot…" : c.status === "ack" ? "ack" : `${c.status}: ${c.reason}`;
      list.append(el("li", { class: `command status-${c.status}`, "data-command-id": c.command_id, "data-status": c.status },
        `${c.command} → ${c.robot_key}${c.user ? " by " + c.user : ""}: ${answer}`));
    }
  }
}

for (const button of document.querySelectorAll("#command-form button[data-command]")) {
  button.addEventListener("click", async () => {
    const command = button.dataset.command;
    let params = {};
    if (command === "dispatch") {
      try { params = { kind: $("#dispatch-kind").value.trim(), params: JSON.parse($("#dispatch-params").value || "{}"),
        priority: parseInt($("#dispatch-priority").value || "50", 10) }; }
      catch (e) { $("#command-error").textContent = `parameters are not JSON: ${e.message}`; return; }
    } else if (command === "remote_estop") {
      if (!confirm(`E-stop ${$("#cmd-robot").value}?`)) return;
      params = { reason: `remote e-stop from the dashboard by ${view.me.user}` };
    }
    const result = await api("/api/commands", { method: "POST",
      body: JSON.stringify({ robot_key: $("#cmd-robot").value, command, params }) });
    $("#command-error").textContent = result.status === 202 ? "" : `refused (${result.status}): ${result.data && result.data.error}`;
  });
}

// -- KPIs (hand-drawn SVG) --------------------------------------------------------------------

function barChart(target, rows, seriesColours) {
  // rows: [{label, values: {series: n}, total?}] as stacked horizontal bars; fixed height, so a chart
  // with one row does not blow its text up
  const chart = $(target);
  chart.replaceChildren();
  const width = 300, height = 140, labelW = 80, totalW = 34;
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  chart.setAttribute("preserveAspectRatio", "xMinYMin meet");
  const rowH = Math.min(14, (height - 4) / Math.max(1, rows.length));
  const max = Math.max(1, ...rows.map((r) => Object.values(r.values).reduce((s, v) => s + v, 0)));
  rows.forEach((row, i) => {
    const y = i * rowH + 2;
    chart.append(svg("text", { x: 0, y: y + rowH * 0.7 }, row.label));
    let x = labelW;
    for (const [series, colour] of Object.entries(seriesColours)) {
      const v = row.values[series] || 0;
      if (!v) continue;
      const w = (width - labelW - totalW) * v / max;
      const rect = svg("rect", { x, y, width: w, height: rowH - 2, fill: colour });
      rect.append(svg("title", {}, `${row.label} ${series}: ${v}`));
      chart.append(rect); x += w;
    }
    const total = row.total !== undefined ? row.total : String(Object.values(row.values).reduce((s, v) => s + v, 0));
    chart.append(svg("text", { x: x + 2, y: y + rowH * 0.7 }, total));
  });
  if (!rows.length) chart.append(svg("text", { x: 0, y: 12, class: "muted" }, "nothing yet"));
}

function renderKpis() {
  if (!view.kpis) return;
  barChart("#chart-missions", Object.entries(view.kpis.missions).map(([kind, v]) => ({ label: kind, values: v })), OUTCOME_COLOUR);
  barChart("#chart-utilisation", Object.entries(view.kpis.utilisation).map(([key, u]) =>
    ({ label: key.split("/")[1], values: { busy: Math.round(100 * u) }, total: `${Math.round(100 * u)} %` })), { busy: "#1e63b5" });
  barChart("#chart-alerts", view.kpis.alerts_by_hour.map((h) => ({ label: h.hour.slice(11, 16),
    values: Object.fromEntries(Object.keys(SEVERITY_RANK).map((s) => [s, h[s] || 0])) })), SEVERITY_COLOUR);
}

function renderClinical() {
  if (!view.me.can_see_clinical) return;
  const body = $("#clinical tbody");
  body.replaceChildren();
  for (const r of view.clinical.slice(0, 30)) {
    // numbers only: free-text answers and ids stay in the record, the table stays readable
    const obs = Object.entries(r.observations || {}).filter(([, v]) => typeof v === "number")
      .slice(0, 10).map(([k, v]) => `${k} ${v}`).join(", ");
    const tr = el("tr", { "data-record": r.record_id });
    body.append(tr);
    tr.append(el("td", {}, r.at.slice(11, 19)), el("td", {}, r.bed_ref || "–"), el("td", {}, r.patient_ref),
      el("td", {}, r.record_type), el("td", {}, r.news2_total === null ? "–" : `${r.news2_total} (${r.news2_risk})`), el("td", { class: "observations" }, obs));
  }
}

// -- fleet tasks --------------------------------------------------------------------------------

function robotTasksText(tasks) {
  // the fleet's view of the robot: what it runs (or was sent), then what is planned for it next
  if (!tasks.length) return "–";
  const onIt = tasks.filter((t) => t.state !== "assigned").map((t) => `${t.kind} ${t.task_id} (${t.state})`);
  const next = tasks.filter((t) => t.state === "assigned").map((t) => t.task_id);
  return [...onIt, ...(next.length ? [`next: ${next.join(", ")}`] : [])].join(" · ");
}

function newTaskId() {
  const bytes = new Uint8Array(6);
  crypto.getRandomValues(bytes);
  return "dash-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

const hhmmss = (iso) => (iso ? iso.slice(11, 19) : "–");

function renderFleetService() {
  const badge = $("#fleet-service");
  const services = [...view.fleetServices.values()];
  const up = services.length > 0 && services.every((f) => f.connection === "ONLINE");
  badge.className = `badge ${up ? "up" : "down"}`;
  badge.dataset.state = services.length ? (up ? "up" : "down") : "unknown";
  badge.textContent = services.length ? `fleet service: ${services.map((f) => f.connection).join(", ")}` : "fleet service: not heard from";
}

function buildTaskFilter() {
  const box = $("#task-filter");
  box.replaceChildren();
  for (const state of TASK_STATES) {
    const input = el("input", { type: "checkbox", value: state });
    input.checked = view.taskFilter.has(state);
    input.addEventListener("change", () => {
      if (input.checked) view.taskFilter.add(state); else view.taskFilter.delete(state);
      renderTasks();
    });
    const label = el("label", { class: `task-${state}`, "data-state": state });
    label.append(input, el("span", {}, state), el("span", { class: "n" }, ""));
    box.append(label);
  }
}

function renderTasks() {
  const tasks = [...view.tasks.values()];
  const byState = new Map(TASK_STATES.map((s) => [s, []]));
  for (const t of tasks) (byState.get(t.state) || byState.set(t.state, []).get(t.state)).push(t);
  for (const label of document.querySelectorAll("#task-filter label"))
    label.querySelector(".n").textContent = `(${(byState.get(label.dataset.state) || []).length})`;
  const open = tasks.filter((t) => OPEN_TASK_STATES.has(t.state)).length;
  const stuck = tasks.filter((t) => t.unassignable && OPEN_TASK_STATES.has(t.state)).length;
  $("#task-count").textContent = `${open} open${stuck ? `, ${stuck} no robot can take` : ""}`;
  const body = $("#tasks tbody");
  body.replaceChildren();
  for (const [state, group] of byState) {
    if (!view.taskFilter.has(state) || !group.length) continue;
    // most urgent first within a state; the newest change first among equals
    group.sort((a, b) => (b.priority - a.priority) || (b.updated_s - a.updated_s));
    const header = el("tr", { class: "group", "data-group": state });
    header.append(el("th", { colspan: 11 }, `${state} (${group.length})`));
    body.append(header);
    for (const t of group.slice(0, TASK_ROWS_PER_STATE)) body.append(taskRow(t));
  }
}

function taskRow(t) {
  const tr = el("tr", { "data-task": t.key, "data-state": t.state, class: t.unassignable && OPEN_TASK_STATES.has(t.state) ? "unassignable" : null });
  const where = [t.zone, t.place].filter((x) => x).join(" / ") || "–";
  const reason = t.unassignable ? `no robot can take it: ${t.unassignable}` : (t.reason || "");
  const tries = `${t.attempts}${t.reallocations ? ` (${t.reallocations} re-alloc.)` : ""}`;
  tr.append(el("td", {}, t.task_id), el("td", {}, t.kind), el("td", { class: `state task-${t.state}` }, t.state),
    el("td", {}, String(t.priority)), el("td", { class: "robot" }, t.robot_id || "–"), el("td", {}, where),
    el("td", {}, hhmmss(t.deadline)), el("td", {}, hhmmss(t.updated)), el("td", {}, tries),
    el("td", { class: "reason" }, reason));
  const cell = el("td");
  if (OPEN_TASK_STATES.has(t.state) && view.me.can_command) {
    const button = el("button", { class: "cancel-task" }, "Cancel");
    button.addEventListener("click", async () => {
      if (!confirm(`Cancel task ${t.task_id}?`)) return;
      const result = await api("/api/tasks/cancel", { method: "POST", body: JSON.stringify({ site: t.site, task_id: t.task_id }) });
      $("#task-error").textContent = result.status === 202 ? "" : `cancel refused (${result.status}): ${result.data && result.data.error}`;
    });
    cell.append(button);
  }
  tr.append(cell);
  return tr;
}

function fillOptions(target, values) {
  const list = $(target);
  if (list.children.length === values.length) return;
  list.replaceChildren(...values.map((v) => el("option", { value: v })));
}

function renderTaskForm() {
  const robots = [...view.robots.values()];
  fillOptions("#task-kinds", [...new Set(robots.flatMap((r) => r.mission_kinds || []))].sort());
  fillOptions("#robot-kinds", [...new Set(robots.map((r) => r.kind).filter((k) => k))].sort());
  const sites = [...new Set([...robots.map((r) => r.site), ...view.fleetServices.keys()])].sort();
  const select = $("#task-site");
  $("#task-site-label").hidden = sites.length < 2;
  if (select.options.length !== sites.length) {
    const current = select.value;
    select.replaceChildren(...sites.map((s) => el("option", { value: s }, s)));
    if (sites.includes(current)) select.value = current;
  }
}

function renderTaskRequests() {
  const list = $("#task-request-log");
  list.replaceChildren();
  for (const r of [...view.taskRequests.values()].reverse().slice(0, 50)) {
    const answer = r.status === "sent" ? "waiting for the fleet…" : `${r.status}${r.reason ? ": " + r.reason : ""}`;
    list.append(el("li", { class: `task-request status-${r.status}`, "data-request-id": r.request_id, "data-task-id": r.task_id,
      "data-status": r.status }, `${r.action} ${r.task_id}${r.kind ? " (" + r.kind + ")" : ""} by ${r.user}: ${answer}`));
  }
}

$("#task-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  let params;
  try { params = JSON.parse($("#task-params").value || "{}"); }
  catch (e) { $("#task-error").textContent = `parameters are not JSON: ${e.message}`; return; }
  const text = (sel) => $(sel).value.trim() || null;
  const minutes = parseFloat($("#task-deadline-min").value);
  // deadlines are on the fleet's clock (simulated time in the simulator), which the header shows
  const nowS = view.fleetTimeS || Date.now() / 1000;
  const task = { task_id: text("#task-id"), kind: text("#task-kind"), params,
    priority: parseInt($("#task-priority").value || "50", 10),
    robot_kinds: ($("#task-robot-kinds").value || "").split(/[\s,]+/).filter((k) => k),
    deadline: minutes > 0 ? new Date((nowS + 60 * minutes) * 1000).toISOString() : null,
    zone: text("#task-zone"), place: text("#task-place") };
  const body = { task };
  if ($("#task-site").value) body.site = $("#task-site").value;
  const result = await api("/api/tasks", { method: "POST", body: JSON.stringify(body) });
  if (result.status === 202) {
    $("#task-error").textContent = "";
    $("#task-id").value = newTaskId();  // the next submit is a new task; a resend above was the same one
  } else $("#task-error").textContent = `refused (${result.status}): ${result.data && result.data.error}`;
});

setInterval(() => { if (view.me) renderRobots(); }, 2000);  // "last seen" keeps counting between messages
start();
