// Small DOM helpers: element construction (text is always set as text, never parsed as HTML), formatting.

/**
 * h('div', {class: 'x', onclick: fn, dataset: {id: 1}}, 'text', child, [more children])
 * Attributes starting with "on" become listeners; null/false attributes and children are skipped.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'dataset') Object.assign(el.dataset, value);
    else if (name === 'value') el.value = value;
    else if (name === 'checked') el.checked = Boolean(value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Compact JSON for a table cell or a list item. */
export function json(value) {
  return value === undefined ? '' : JSON.stringify(value);
}

/** Indented JSON for a <pre>. */
export function prettyJson(value) {
  return value === undefined ? '' : JSON.stringify(value, null, 2);
}

/** "2025-01-02 03:04:05" in local time from an ISO string or Unix seconds, or '' for null. */
export function formatTime(when) {
  if (when === null || when === undefined || when === '') return '';
  const date = new Date(typeof when === 'number' ? when * 1000 : when);
  if (Number.isNaN(date.getTime())) return String(when);
  const pad = (n) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

export function formatDuration(ms) {
  if (ms === null || ms === undefined) return '';
  if (ms < 1000) return `${ms} ms`;
  return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

/** Statuses after which a workflow never changes again. */
export const TERMINAL = new Set(['SUCCESS', 'ERROR', 'CANCELLED', 'MAX_RECOVERY_ATTEMPTS_EXCEEDED']);

export function statusBadge(status) {
  return h('span', { class: `badge status-${String(status).toLowerCase()}`, 'data-status': status }, status);
}

// Toasts: short messages at the bottom of the page (errors stay longer).
export function toast(message, kind = 'info') {
  const area = document.getElementById('toasts');
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  area.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 3000);
}

/** A labelled form field: <label><span>text</span>control<small>hint</small></label>. */
export function field(label, control, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'field-label' }, label), control,
    hint ? h('small', { class: 'hint' }, hint) : null);
}

/**
 * Calls `fn` now and then `ms` after each call ends (never overlapping), skipping while the tab is hidden.
 * `kick()` runs it again as soon as the current call (if any) ends.
 */
export class Poller {
  constructor(ms, fn) {
    this.ms = ms;
    this.fn = fn;
    this.timer = null;
    this.running = false;
    this.busy = false;
    this.again = false;
  }

  start() {
    this.running = true;
    this.kick();
    return this;
  }

  stop() {
    this.running = false;
    clearTimeout(this.timer);
  }

  kick() {
    if (!this.running) return;
    if (this.busy) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.tick();
  }

  async tick() {
    if (!this.running) return;
    if (!document.hidden) {
      this.busy = true;
      try {
        await this.fn();
      } catch (err) {
        console.warn('refresh failed:', err.message);
      } finally {
        this.busy = false;
      }
    }
    if (!this.running) return;
    const delay = this.again ? 0 : this.ms;
    this.again = false;
    this.timer = setTimeout(() => this.tick(), delay);
  }
}
