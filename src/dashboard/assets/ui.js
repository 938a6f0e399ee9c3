// Small DOM helpers shared by the pages: element building, forms whose errors land next to the
// field they concern, tables, dialogs, toasts. No framework: each page renders into <main>.
import { ApiError } from "./api.js";

/** h("tag#id.class", {attrs}, ...children): an element. `on*` attributes become listeners. */
export function h(spec, attrs = {}, ...children) {
  const [head, ...classes] = spec.split(".");
  const [tag, id] = head.split("#");
  const el = document.createElement(tag || "div");
  if (id) el.id = id;
  if (classes.length) el.className = classes.join(" ");
  if (attrs === null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

let uid = 0;
export const nextId = (prefix = "f") => `${prefix}-${++uid}`;

/** A labelled input. `type` "textarea", "select" (with `options`), "checkbox", or an input type. */
export function field({ name, label, type = "text", value, options, required, placeholder, hint, autocomplete, rows }) {
  const id = nextId(name);
  const errorId = `${id}-error`;
  const common = { id, name, "aria-describedby": errorId, required, placeholder, autocomplete };
  let control;
  if (type === "textarea") control = h("textarea", { ...common, rows }, value ?? "");
  else if (type === "select")
    control = h("select", common, (options || []).map((o) => h("option", { value: o.value ?? o, selected: (o.value ?? o) === value }, o.label ?? o)));
  else if (type === "checkbox") {
    control = h("input", { ...common, type: "checkbox", checked: !!value });
    return h("div.fieldbox", h("label.check", { for: id }, control, label), h("p.field-error", { id: errorId, hidden: true }));
  } else control = h("input", { ...common, type, value: value ?? "" });
  return h(
    "div.fieldbox",
    h("label", { for: id }, label, control),
    hint ? h("p.muted", { style: "margin:0" }, hint) : null,
    h("p.field-error", { id: errorId, hidden: true }),
  );
}

/** Reads a form's named controls: checkboxes as booleans, everything else as strings. */
export function values(form) {
  const out = {};
  for (const el of form.querySelectorAll("[name]")) out[el.name] = el.type === "checkbox" ? el.checked : el.value;
  return out;
}

export function clearErrors(form) {
  for (const p of form.querySelectorAll(".field-error")) {
    p.hidden = true;
    p.textContent = "";
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  form.querySelector(".form-error")?.remove();
}

/** Which field an error concerns: `fieldFor` (code → name, or a function of the error) first,
 * then the field a SCHEMA_ERROR's path (`body.config.domains[0].domain`) ends with, then a field
 * whose name appears in the code (EMAIL, PASSWORD…). */
function fieldOf(form, err, fieldFor = {}) {
  const names = [...form.querySelectorAll("[name]")].map((el) => el.name);
  const chosen = typeof fieldFor === "function" ? fieldFor(err) : err.code && fieldFor[err.code];
  if (chosen) return chosen;
  const m = /(?:body|query)((?:\.[A-Za-z_$][\w$-]*(?:\[\d+\])?)+)/.exec(err.message || "");
  if (m) {
    const segments = m[1].split(".").filter(Boolean).map((x) => x.replace(/\[\d+\]$/, ""));
    for (let i = segments.length - 1; i >= 0; i--) if (names.includes(segments[i])) return segments[i];
  }
  const code = (err.code || "").toLowerCase();
  return names.find((n) => n.split(/[_:.]/).some((part) => part.length > 3 && code.includes(part)));
}

/** Shows an error: next to its field when one is named, else at the top of the form. */
export function showError(form, err, fieldFor) {
  const name = err instanceof ApiError || err?.code ? fieldOf(form, err, fieldFor) : null;
  const el = name && form.querySelector(`[name="${CSS.escape(name)}"]`);
  const p = el && form.querySelector(`#${CSS.escape(el.getAttribute("aria-describedby") || "")}`);
  if (p) {
    el.setAttribute("aria-invalid", "true");
    p.hidden = false;
    p.textContent = err.message;
    el.focus();
    return;
  }
  const box = h("p.form-error", { role: "alert" }, err.message || String(err));
  form.prepend(box);
}

/** A form whose submit runs `action(values)` with the button busy; errors shown by field. */
export function form({ fields, submit, action, className = "stack", fieldFor, extra }) {
  const button = h("button", { type: "submit" }, submit);
  const f = h(`form.${className}`, { novalidate: true }, fields, extra, h("div.row", button));
  f.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(f);
    await busy(button, async () => {
      try {
        await action(values(f), f);
      } catch (err) {
        showError(f, err, fieldFor);
      }
    });
  });
  return f;
}

/** Runs a long operation with its button disabled and labelled as working (aria-busy). */
export async function busy(button, work) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  button.textContent = "Working…";
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

/** An action button: runs `work`; a failure is shown as a toast. */
export function action(label, work, cls = "") {
  const b = h(`button${cls ? "." + cls : ""}`, { type: "button" }, label);
  b.addEventListener("click", () =>
    busy(b, async () => {
      try {
        await work(b);
      } catch (e) {
        toast(e.message || String(e), true);
      }
    }),
  );
  return b;
}

export function toast(message, isError = false) {
  const box = document.getElementById("toasts");
  const t = h("div", { role: isError ? "alert" : null }, message);
  box.append(t);
  setTimeout(() => t.remove(), 5000);
}

/** A modal confirmation (a native <dialog>: focus is trapped and Escape cancels). */
export function confirmDialog(message, confirmLabel = "Delete") {
  return new Promise((resolve) => {
    const titleId = nextId("dlg");
    const d = h(
      "dialog",
      { "aria-labelledby": titleId },
      h("p", { id: titleId }, message),
      h(
        "div.row",
        h("button.danger", { type: "button", onclick: () => d.close("yes") }, confirmLabel),
        h("button.secondary", { type: "button", onclick: () => d.close("no") }, "Cancel"),
      ),
    );
    d.addEventListener("close", () => {
      d.remove();
      resolve(d.returnValue === "yes");
    });
    document.body.append(d);
    d.showModal();
  });
}

/** A table. `columns`: [{label, render(row), optional}]; `onOpen(row)` makes rows open on click
 * and on Enter (each row is focusable). */
export function table(columns, rows, { onOpen, caption, empty = "Nothing here yet." } = {}) {
  if (!rows.length) return h("p.muted", empty);
  const head = h("tr", columns.map((c) => h(`th${c.optional ? ".optional" : ""}`, { scope: "col" }, c.label)));
  const body = rows.map((row) => {
    const tr = h(
      "tr",
      onOpen ? { class: "clickable", tabindex: 0 } : {},
      columns.map((c) => h(`td${c.optional ? ".optional" : ""}`, c.render(row))),
    );
    if (onOpen) {
      tr.addEventListener("click", (e) => {
        if (!e.target.closest("button, a, input")) onOpen(row);
      });
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && e.target === tr) onOpen(row);
      });
    }
    return tr;
  });
  return h("div.table-wrap", h("table", caption ? h("caption.muted", caption) : null, h("thead", head), h("tbody", body)));
}

export const when = (millis) => (millis ? new Date(millis).toLocaleString() : "—");

export function copyButton(text, label = "Copy") {
  return action(label, async () => {
    await navigator.clipboard.writeText(text).catch(() => {});
    toast("Copied");
  }, "secondary");
}

/** A JSON editor: a textarea checked as you type; `get()` returns the parsed value or throws. */
export function jsonEditor({ name, label, value }) {
  const f = field({ name, label, type: "textarea", value: JSON.stringify(value ?? null, null, 2), rows: 6 });
  const ta = f.querySelector("textarea");
  const err = f.querySelector(".field-error");
  ta.addEventListener("input", () => {
    try {
      JSON.parse(ta.value || "null");
      ta.removeAttribute("aria-invalid");
      err.hidden = true;
    } catch (e) {
      ta.setAttribute("aria-invalid", "true");
      err.hidden = false;
      err.textContent = `Not valid JSON: ${e.message}`;
    }
  });
  return f;
}

/** Parses the JSON of a jsonEditor's value, as a field error when it is not JSON. */
export function parseJson(text, fieldName) {
  try {
    return JSON.parse(text || "null");
  } catch (e) {
    throw new ApiError(400, "SCHEMA_ERROR", `body.${fieldName} is not valid JSON: ${e.message}`);
  }
}

export function section(title, ...children) {
  const id = nextId("sec");
  return h("section.card", { "aria-labelledby": id }, h("h2", { id }, title), children);
}

export function badge(ok, yes, no) {
  return h(`span.badge.${ok ? "ok" : "bad"}`, ok ? yes : no);
}
