// The run's DAG: laid out with dagre, drawn as SVG. Each node is a <g> carrying
// data-node-id and data-state (and data-callback, "success" or "error", on a
// callback's node; data-dynamic, the id of the node that added it, on a dynamic node); setState/setProgress update one node in place.
import dagre from "/vendor/dagre.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 150;
const H = 36;

const el = (name, attrs = {}, parent) => {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
};

/** Draws `nodes` ({ id, task, deps, state, progress, callback?, addedBy? }) into `host`; `onSelect(id)` on a click. */
export const drawDag = (host, nodes, onSelect) => {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 12, ranksep: 40, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of nodes) g.setNode(String(n.id), { width: W, height: H });
  for (const n of nodes) for (const d of n.deps) g.setEdge(String(d), String(n.id));
  dagre.layout(g);
  const { width, height } = g.graph();
  const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}` });
  for (const e of g.edges()) {
    const pts = g.edge(e).points;
    el("path", { class: "edge", d: `M${pts.map((p) => `${p.x},${p.y}`).join("L")}` }, svg);
  }
  const byId = new Map();
  for (const n of nodes) {
    const pos = g.node(String(n.id));
    const group = el(
      "g",
      {
        class: "node",
        "data-node-id": n.id,
        "data-state": n.state,
        ...(n.callback ? { "data-callback": n.callback } : {}),
        ...(n.addedBy === undefined ? {} : { "data-dynamic": n.addedBy }),
        transform: `translate(${pos.x - W / 2},${pos.y - H / 2})`,
      },
      svg,
    );
    el("rect", { class: "box", width: W, height: H }, group);
    const label = el("text", { x: 6, y: 14 }, group);
    label.textContent = `#${n.id} ${n.task}`.slice(0, 24);
    const state = el("text", { x: 6, y: 27, class: "state" }, group);
    state.textContent = n.state;
    el("rect", { class: "bar", x: 0, y: H - 3, height: 3, width: 0 }, group);
    el("title", {}, group).textContent =
      `#${n.id} ${n.task}${n.callback ? ` (${n.callback} callback)` : ""}${
        n.addedBy === undefined ? "" : ` (added by #${n.addedBy})`
      }`;
    group.addEventListener("click", () => onSelect(n.id));
    byId.set(n.id, group);
    if (n.progress) setProgress(group, n.progress);
  }
  host.replaceChildren(svg);
  return byId;
};

/** Sets a drawn node's state. */
export const setState = (group, state) => {
  group.setAttribute("data-state", state);
  group.querySelector("text.state").textContent = state;
  if (state === "succeeded") setProgress(group, { current: 1, total: 1 });
};

/** Sets a drawn node's progress bar ({ current, total? }). */
export const setProgress = (group, p) => {
  const frac = p.total ? Math.max(0, Math.min(1, p.current / p.total)) : 0;
  group.querySelector("rect.bar").setAttribute("width", String(frac * W));
};
