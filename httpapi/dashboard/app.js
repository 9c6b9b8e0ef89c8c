// The stamp dashboard: what Laravel Passport's three Vue components did
// (clients, authorized clients, personal access tokens), on stamp's JSON
// API. Plain JavaScript, no build step. The DOM is built with
// createElement and text nodes only: the page's CSP requires Trusted
// Types, so parsing a string as HTML would throw rather than open a hole.
'use strict';
(() => {
  const base = document.body.dataset.base || '';
  const $ = (selector, root = document) => root.querySelector(selector);
  const REFRESH_EVERY = 10 * 60 * 1000; // the cookie token lives 15 minutes

  // h builds an element: props are attributes, "on…" props listeners;
  // children are nodes or strings (as text), nested arrays flattened.
  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    el.append(...children.flat().filter((c) => c != null && c !== false));
    return el;
  }

  // The CSRF token the API wants: the XSRF-TOKEN cookie, which login and
  // refresh keep current, else the one the page was rendered with.
  function csrfToken() {
    const m = document.cookie.match(/(?:^|;\s*)XSRF-TOKEN=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : $('meta[name="csrf-token"]').content;
  }

  function toLogin() {
    location.assign(base + '/login?next=' + encodeURIComponent(base + '/'));
  }

  class APIError extends Error {
    constructor(message, status, errors) {
      super(message);
      this.status = status;
      this.errors = errors || {};
    }
  }

  // api calls the JSON API and returns the decoded answer (null for 204).
  // A 401 sends the user to the login page; other failures throw an
  // APIError with the server's message and field errors.
  async function api(method, path, body) {
    let res;
    try {
      res = await fetch(base + path, {
        method,
        credentials: 'same-origin',
        headers: { 'X-CSRF-TOKEN': csrfToken(), 'Content-Type': 'application/json', Accept: 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new APIError('The server cannot be reached. Check your connection and try again.', 0);
    }
    if (res.status === 401) {
      toLogin();
      throw new APIError('Your session has ended. Log in again.', 401);
    }
    const data = res.status === 204 ? null : await res.json().catch(() => null);
    if (!res.ok) {
      const message = (data && data.message) || 'Something went wrong (' + res.status + '). Try again.';
      throw new APIError(message, res.status, data && data.errors);
    }
    return data;
  }

  // Errors: a slot is an element with data-error="field" (or "_form",
  // "_section" for the rest); the input it describes is marked invalid.
  function setError(slot, message) {
    if (!slot) return;
    slot.textContent = message ? message[0].toUpperCase() + message.slice(1) : '';
    slot.hidden = !message;
    const input = slot.id && $('[aria-describedby~="' + slot.id + '"]');
    if (input && input.matches('input')) {
      if (message) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
  }

  // root is a form (errors go next to its fields) or an error slot.
  function clearErrors(root) {
    const slots = root.matches('[data-error]') ? [root] : root.querySelectorAll('[data-error]');
    slots.forEach((slot) => setError(slot, ''));
  }

  function showErrors(root, err) {
    clearErrors(root);
    if (err.status === 401) return;
    if (root.matches('[data-error]')) {
      setError(root, err.message);
      return;
    }
    let placed = null;
    for (const [key, messages] of Object.entries(err.errors)) {
      const field = key.split('.')[0];
      const slot = /^\w+$/.test(field) && $('[data-error="' + field + '"]', root);
      if (!slot) continue;
      setError(slot, [].concat(messages).join(' '));
      placed = placed || slot;
    }
    if (!placed) {
      setError($('[data-error="_form"]', root), err.message);
      return;
    }
    const input = $('[aria-describedby~="' + placed.id + '"]');
    if (input) input.focus();
  }

  // busy disables button while work runs and reports failures in root
  // (a form or an error slot).
  async function busy(button, root, work) {
    if (button) button.disabled = true;
    clearErrors(root);
    try {
      await work();
    } catch (err) {
      if (!(err instanceof APIError)) throw err;
      showErrors(root, err);
    } finally {
      if (button) button.disabled = false;
    }
  }

  // load runs the first fetch of a section; on failure its list stops
  // saying "Loading…" and the alert says why.
  async function load(section, work) {
    await busy(null, section.alert, work);
    if (section.list.getAttribute('aria-busy') !== 'false') {
      section.list.setAttribute('aria-busy', 'false');
      section.list.replaceChildren();
    }
  }

  function fill(root, values) {
    for (const [k, v] of Object.entries(values)) {
      root.querySelectorAll('[data-fill="' + k + '"]').forEach((el) => { el.textContent = v; });
    }
  }

  function reveal(callout, values) {
    fill(callout, values);
    callout.hidden = false;
    callout.focus();
  }

  async function copy(button) {
    const source = document.getElementById(button.dataset.copy);
    let copied = false;
    try {
      await navigator.clipboard.writeText(source.textContent);
      copied = true;
    } catch {
      const range = document.createRange();
      range.selectNodeContents(source);
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      copied = document.execCommand('copy');
    }
    button.textContent = copied ? 'Copied' : 'Press Ctrl+C to copy';
    setTimeout(() => { button.textContent = 'Copy'; }, 2500);
  }

  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
  function date(v) {
    if (v == null || v === '') return 'Never';
    const d = new Date(typeof v === 'number' ? v * 1000 : v);
    return isNaN(d) ? String(v) : dateFormat.format(d);
  }

  function scopeList(scopes) {
    if (!scopes || !scopes.length) return h('span', { class: 'muted' }, 'No scopes');
    return h('ul', { class: 'chips' }, scopes.map((s) => h('li', {}, s === '*' ? 'All scopes' : s)));
  }

  function cell(label, ...content) {
    return h('td', { 'data-label': label }, ...content);
  }

  function button(text, props) {
    return h('button', Object.assign({ type: 'button' }, props), text);
  }

  // table shows rows under headings, or the empty message.
  function table(list, headings, rows, empty) {
    list.setAttribute('aria-busy', 'false');
    if (!rows.length) {
      list.replaceChildren(h('p', { class: 'empty' }, empty));
      return;
    }
    list.replaceChildren(h('table', {},
      h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)),
        h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', {}, rows)));
  }

  function openForm(form, focus) {
    form.hidden = false;
    clearErrors(form);
    form.scrollIntoView({ block: 'nearest' });
    $(focus, form).focus();
  }

  function closeForm(form) {
    form.reset();
    clearErrors(form);
    form.hidden = true;
  }

  // remove deletes item of section at prefix/{id} and drops it from the list.
  async function remove(section, prefix, item, btn) {
    await busy(btn, section.alert, async () => {
      await api('DELETE', prefix + '/' + encodeURIComponent(item.id));
      section.items = section.items.filter((x) => x.id !== item.id);
      section.confirming = null;
      section.render();
      section.list.focus(); // the button that had focus is gone
    });
  }

  // My clients.
  const clients = {
    alert: $('#clients [data-error="_section"]'), form: $('#client-form'), list: $('#client-list'), created: $('#client-created'),
    items: [], editing: null, confirming: null,

    async load() {
      await load(this, async () => {
        this.items = await api('GET', '/oauth/clients');
        this.render();
      });
    },

    render(focus) {
      table(this.list, ['Name', 'Client ID', 'Redirect'], this.items.map((c) => this.row(c)), 'No clients yet.');
      if (focus) { const el = $(focus, this.list); if (el) el.focus(); }
    },

    row(c) {
      const redirects = c.redirect_uris || String(c.redirect || '').split(',');
      const actions = this.confirming === c.id ? [
        h('span', { class: 'confirm' }, 'Delete this client?'),
        button('Delete', { class: 'danger', 'data-confirm': true, onclick: (e) => remove(this, '/oauth/clients', c, e.currentTarget) }),
        button('Cancel', { onclick: () => { this.confirming = null; this.render('[data-id="' + CSS.escape(c.id) + '"] .danger'); } }),
      ] : [
        button('Edit', { 'aria-label': 'Edit ' + c.name, onclick: () => this.open(c) }),
        button('Delete', { class: 'danger', 'aria-label': 'Delete ' + c.name,
          onclick: () => { this.confirming = c.id; this.render('[data-confirm]'); } }),
      ];
      return h('tr', { 'data-id': c.id },
        cell('Name', h('strong', {}, c.name)),
        cell('Client ID', h('code', {}, c.id)),
        cell('Redirect', h('ul', { class: 'plain' }, redirects.map((u) => h('li', {}, u.trim())))),
        h('td', { class: 'row-actions' }, actions));
    },

    open(client) {
      this.editing = client ? client.id : null;
      fill(this.form, { title: client ? 'Edit client' : 'Create client', submit: client ? 'Save' : 'Create' });
      this.form.reset();
      if (client) {
        this.form.elements.namedItem('name').value = client.name;
        this.form.elements.namedItem('redirect').value = (client.redirect_uris || [client.redirect]).join(', ');
      }
      openForm(this.form, '#client-name');
    },

    async save(submit) {
      const f = this.form.elements;
      const body = { name: f.namedItem('name').value.trim(), redirect: f.namedItem('redirect').value.trim() };
      await busy(submit, this.form, async () => {
        if (this.editing) {
          const id = this.editing;
          const c = await api('PUT', '/oauth/clients/' + encodeURIComponent(id), body);
          this.items = this.items.map((x) => (x.id === id ? Object.assign({}, x, c) : x));
        } else {
          const c = await api('POST', '/oauth/clients', body);
          const secret = c.secret;
          delete c.secret;
          delete c.plainSecret;
          this.items = this.items.concat([c]);
          reveal(this.created, { name: c.name, id: c.id, secret: secret || '(none)' });
        }
        closeForm(this.form);
        this.editing = null;
        this.render();
      });
    },
  };

  // Authorized applications: tokens held by third-party clients.
  const apps = {
    alert: $('#apps [data-error="_section"]'), list: $('#app-list'), items: [],

    async load() {
      await load(this, async () => {
        this.items = await api('GET', '/oauth/tokens');
        this.render();
      });
    },

    render() {
      table(this.list, ['Application', 'Scopes', 'Authorized'], this.items.map((t) => h('tr', { 'data-id': t.id },
        cell('Application', h('strong', {}, (t.client && t.client.name) || 'Unknown application')),
        cell('Scopes', scopeList(t.scopes)),
        cell('Authorized', date(t.created_at)),
        h('td', { class: 'row-actions' }, button('Revoke', { class: 'danger',
          'aria-label': 'Revoke ' + ((t.client && t.client.name) || 'application'),
          onclick: (e) => remove(this, '/oauth/tokens', t, e.currentTarget) })))),
      'No applications are authorized to use your account.');
    },
  };

  // Personal access tokens.
  const tokens = {
    alert: $('#tokens [data-error="_section"]'), form: $('#token-form'), list: $('#token-list'), created: $('#token-created'),
    items: [],

    async load() {
      await load(this, async () => {
        const [items, scopes] = await Promise.all([api('GET', '/oauth/personal-access-tokens'), api('GET', '/oauth/scopes')]);
        this.items = items;
        $('#token-scopes').replaceChildren(...(scopes.length ? scopes.map((s) => h('label', { class: 'check' },
          h('input', { type: 'checkbox', name: 'scopes', value: s.id }),
          h('span', {}, h('code', {}, s.id), s.description ? h('span', { class: 'muted' }, ' ' + s.description) : null)))
          : [h('p', { class: 'muted' }, 'No scopes are defined.')]));
        this.render();
      });
    },

    render() {
      table(this.list, ['Name', 'Scopes', 'Created', 'Expires'], this.items.map((t) => h('tr', { 'data-id': t.id },
        cell('Name', h('strong', {}, t.name || 'Unnamed')),
        cell('Scopes', scopeList(t.scopes)),
        cell('Created', date(t.created_at)),
        cell('Expires', date(t.expires_at)),
        h('td', { class: 'row-actions' }, button('Revoke', { class: 'danger', 'aria-label': 'Revoke ' + (t.name || 'token'),
          onclick: (e) => remove(this, '/oauth/personal-access-tokens', t, e.currentTarget) })))),
      'No personal access tokens yet.');
    },

    async save(submit) {
      const name = this.form.elements.namedItem('name').value.trim();
      const scopes = [...this.form.querySelectorAll('input[name="scopes"]:checked')].map((i) => i.value);
      await busy(submit, this.form, async () => {
        const res = await api('POST', '/oauth/personal-access-tokens', { name, scopes });
        this.items = [res.token].concat(this.items);
        reveal(this.created, { name: res.token.name || name, token: res.accessToken });
        closeForm(this.form);
        this.render();
      });
    },
  };

  // Wiring.
  $('#client-new').addEventListener('click', () => clients.open(null));
  $('#token-new').addEventListener('click', () => openForm(tokens.form, '#token-name'));
  clients.form.addEventListener('submit', (e) => { e.preventDefault(); clients.save(e.submitter); });
  tokens.form.addEventListener('submit', (e) => { e.preventDefault(); tokens.save(e.submitter); });
  for (const form of [clients.form, tokens.form]) {
    $('[data-cancel]', form).addEventListener('click', () => closeForm(form));
    form.addEventListener('keydown', (e) => { if (e.key === 'Escape') closeForm(form); });
  }
  document.querySelectorAll('[data-copy]').forEach((b) => b.addEventListener('click', () => copy(b)));
  document.querySelectorAll('.callout').forEach((callout) => $('[data-dismiss]', callout).addEventListener('click', () => {
    callout.hidden = true;
    callout.querySelectorAll('[data-fill]').forEach((el) => { el.textContent = ''; });
  }));

  clients.load();
  apps.load();
  tokens.load();
  setInterval(() => api('POST', '/oauth/token/refresh').catch(() => {}), REFRESH_EVERY);
})();
