// asterisk-guard's page: Preact with htm (no build step), uPlot for the chart. Every change is
// a POST of JSON to /api/NAME, the same requests the CLI sends to the admin socket.
import { html, render, useCallback, useEffect, useRef, useState } from '/assets/vendor/preact-htm.js';

const PAGE = 50;

async function api(path, body) {
  const res = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status === 401) {
    document.body.dataset.loggedOut = 'yes';
    throw new Error('Logged out: run `asterisk-guard web-url` on the PBX for a new login link.');
  }
  const data = res.status === 204 ? null : await res.json();
  if (!res.ok) throw new Error(data?.error?.message ?? `${res.status} ${res.statusText}`);
  return data;
}

const when = (t) => (t === null || t === undefined ? 'permanent' : new Date(t).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' }));
const ago = (t) => {
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  return s < 60 ? `${s}s ago` : s < 3600 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`;
};

function Card({ label, value, state, title }) {
  return html`<div class="card ${state ?? ''}" title=${title ?? ''}><div class="label">${label}</div><div class="value">${value}</div></div>`;
}

function StatusCards({ status }) {
  if (!status) return html`<section class="cards"><${Card} label="Daemon" value="…" /></section>`;
  const canary = status.canary;
  const kernel = status.kernel;
  const fleet = status.fleet;
  return html`<section class="cards" aria-label="status">
    <${Card} label="AMI" value=${status.ami?.connected ? 'connected' : 'NOT connected'} state=${status.ami?.connected ? 'ok' : 'bad'} />
    <${Card} label="Canary" value=${canary === null || canary === undefined ? 'none yet' : canary.ok === true ? `ok, ${canary.echo_ms} ms` : canary.ok === false ? 'NOT reported: blind' : 'awaited'} state=${canary?.ok === false ? 'bad' : canary?.ok ? 'ok' : ''} title=${canary ? `last sent ${canary.sent}` : ''} />
    <${Card} label="Kernel table" value=${kernel ? kernel.table : status.firewall?.driver ?? '-'} state=${kernel && kernel.table !== 'whole' && kernel.table !== 'not inspected yet' ? 'bad' : 'ok'} title=${kernel ? `restored ${kernel.repairs} time(s)` : ''} />
    <${Card} label="Bans in force" value=${status.active_bans} />
    <${Card} label="Bans, last 24 h" value=${status.web?.bans_last_24h ?? '-'} title="counted since the daemon started, if that is less than a day ago" />
    <${Card} label="Events/s" value=${status.events_per_second} />
    <${Card} label="Fleet" value=${fleet ? (fleet.connected ? `linked (${fleet.node})` : `ALONE (${fleet.node})`) : 'off'} state=${fleet ? (fleet.connected ? 'ok' : 'bad') : ''} />
  </section>`;
}

function Chart({ series }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    if (!series || !box.current) return;
    const data = [series.map((p) => p.minute / 1000), series.map((p) => p.failures), series.map((p) => p.bans)];
    const width = Math.max(280, box.current.clientWidth);
    if (plot.current && plot.current.width !== width) {
      plot.current.destroy();
      plot.current = null;
    }
    if (plot.current) plot.current.setData(data);
    else {
      plot.current = new window.uPlot(
        {
          width,
          height: 220,
          series: [{}, { label: 'failures', stroke: '#d1242f', fill: 'rgba(209,36,47,0.12)', points: { show: false } }, { label: 'bans', stroke: '#1f6feb', fill: 'rgba(31,111,235,0.5)', points: { show: false }, paths: window.uPlot.paths.bars({ size: [0.8, 10] }) }],
          axes: [{}, { label: 'per minute' }],
        },
        data,
        box.current,
      );
    }
  }, [series]);
  useEffect(() => () => plot.current?.destroy(), []);
  return html`<div class="chart" ref=${box}></div>`;
}

function Activity({ activity, span, setSpan, onWhy }) {
  const top = activity?.top;
  return html`<section aria-label="activity">
    <div class="row"><h2>Failures and bans</h2>
      <div class="seg">${[
        ['hour', 60],
        ['day', 1440],
      ].map(([name, m]) => html`<button class=${span === m ? 'on' : ''} onClick=${() => setSpan(m)}>last ${name}</button>`)}</div>
    </div>
    <${Chart} series=${activity?.series} />
    <div class="tops">
      <div><h3>Top sources</h3><ol>${(top?.sources ?? []).map((s) => html`<li><a href="#" onClick=${(e) => (e.preventDefault(), onWhy(s.name))}>${s.name}</a> <span class="n">${s.failures}</span></li>`)}</ol>${top && top.sources.length === 0 ? html`<p class="muted">none</p>` : ''}</div>
      <div><h3>Top accounts attacked</h3><ol>${(top?.accounts ?? []).map((s) => html`<li><code>${s.name}</code> <span class="n">${s.failures}</span></li>`)}</ol>${top && top.accounts.length === 0 ? html`<p class="muted">none</p>` : ''}</div>
    </div>
  </section>`;
}

function BanForm({ onDone, onError }) {
  const [prefix, setPrefix] = useState('');
  const [length, setLength] = useState('1h');
  const [reason, setReason] = useState('');
  const submit = async (e) => {
    e.preventDefault();
    try {
      const r = await api('/api/ban', { prefix: prefix.trim(), for: length, ...(reason.trim() ? { reason: reason.trim() } : {}) });
      setPrefix('');
      setReason('');
      onDone(`banned ${r.prefix} until ${when(r.until)}`);
    } catch (err) {
      onError(err.message);
    }
  };
  return html`<form class="ban-form" onSubmit=${submit} aria-label="manual ban">
    <input name="prefix" placeholder="address or CIDR" required value=${prefix} onInput=${(e) => setPrefix(e.target.value)} />
    <select name="length" value=${length} onChange=${(e) => setLength(e.target.value)}>${['10m', '1h', '1d', '7d', '30d', 'permanent'].map((l) => html`<option value=${l}>${l}</option>`)}</select>
    <input name="reason" placeholder="reason (optional)" value=${reason} onInput=${(e) => setReason(e.target.value)} />
    <button type="submit">Ban</button>
  </form>`;
}

function Bans({ version, onWhy, onUnban, say }) {
  const [q, setQ] = useState('');
  const [sort, setSort] = useState('since');
  const [dir, setDir] = useState('desc');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const params = new URLSearchParams({ q, sort, dir, offset: String(offset), limit: String(PAGE) });
    api(`/api/bans?${params}`).then(
      (p) => (setPage(p), setError('')),
      (e) => setError(e.message),
    );
  }, [q, sort, dir, offset, version]);
  const head = (key, label, cls = '') => html`<th class=${cls}><button class="sort ${sort === key ? 'on' : ''}" onClick=${() => (sort === key ? setDir(dir === 'desc' ? 'asc' : 'desc') : (setSort(key), setDir(key === 'prefix' || key === 'reason' ? 'asc' : 'desc')), setOffset(0))}>${label}${sort === key ? (dir === 'desc' ? ' ▾' : ' ▴') : ''}</button></th>`;
  const total = page?.total ?? 0;
  return html`<section aria-label="bans">
    <div class="row"><h2>Bans in force <span class="muted">(${total})</span></h2>
      <span class="exports"><a href="/api/bans/export?format=json" download>JSON</a> <a href="/api/bans/export?format=csv" download>CSV</a></span>
    </div>
    <${BanForm} onDone=${say} onError=${(m) => say(m, true)} />
    <input class="search" type="search" placeholder="search: 203.0.113.66, 198.51.100.0/24, brute-force, fleet…" value=${q} onInput=${(e) => (setQ(e.target.value), setOffset(0))} aria-label="search bans" />
    ${error && html`<p class="error">${error}</p>`}
    <div class="table-wrap"><table class="bans">
      <thead><tr>${head('prefix', 'Address')}${head('reason', 'Reason')}${head('since', 'Since', 'since')}${head('until', 'Until')}<th class="origin">Origin</th><th></th></tr></thead>
      <tbody>${(page?.rows ?? []).map(
        (b) => html`<tr data-prefix=${b.prefix}>
          <td><a href="#" onClick=${(e) => (e.preventDefault(), onWhy(b.prefix))}>${b.prefix}</a></td>
          <td>${b.reason}${b.step > 0 ? html` <span class="muted">step ${b.step}</span>` : ''}</td>
          <td class="since">${when(b.since)}</td><td>${when(b.until)}</td><td class="origin">${b.origin}</td>
          <td class="actions"><button class="unban" onClick=${() => onUnban(b.prefix)}>Unban</button></td>
        </tr>`,
      )}</tbody>
    </table></div>
    ${page && page.rows.length === 0 ? html`<p class="muted">${q ? 'no ban matches' : 'no bans in force'}</p>` : ''}
    <div class="pager">
      <button disabled=${offset === 0} onClick=${() => setOffset(Math.max(0, offset - PAGE))}>‹ newer</button>
      <span>${total === 0 ? '0' : `${offset + 1}–${Math.min(total, offset + PAGE)}`} of ${total}</span>
      <button disabled=${offset + PAGE >= total} onClick=${() => setOffset(offset + PAGE)}>older ›</button>
    </div>
  </section>`;
}

function Why({ address, onClose, onAllow }) {
  const [why, setWhy] = useState(null);
  const [error, setError] = useState('');
  useEffect(() => {
    setWhy(null);
    api(`/api/why?${new URLSearchParams({ address })}`).then(setWhy, (e) => setError(e.message));
  }, [address]);
  return html`<div class="overlay" onClick=${(e) => e.target === e.currentTarget && onClose()}>
    <div class="panel" role="dialog" aria-label=${`why ${address}`}>
      <div class="row"><h2>Why ${address}</h2><button onClick=${onClose} aria-label="close">✕</button></div>
      ${error && html`<p class="error">${error}</p>`}
      ${why &&
      html`<dl class="why">
          <dt>Banned until</dt><dd>${why.banned_until === null ? 'not banned' : why.banned_until === 'permanent' ? 'permanent' : when(why.banned_until)}</dd>
          <dt>Scored as</dt><dd>${why.scored_as}</dd>
          <dt>Scores</dt><dd>${why.scores ? `burst ${why.scores.score}, slow ${why.scores.slowScore}` : 'none'}</dd>
          <dt>Never banned</dt><dd>${why.spared ?? 'no'}</dd>
          <dt>Trusted until</dt><dd>${why.trusted_until ?? 'not trusted'}</dd>
          <dt>Listed by feeds</dt><dd>${why.listed_by.length ? why.listed_by.map((l) => `${l.feed} (${l.entry})`).join(', ') : 'none'}</dd>
          <dt>Offenses</dt><dd>${why.offenses ? html`${Object.entries(why.offenses.events ?? {}).map(([k, n]) => `${k}: ${n}`).join(', ')}${why.offenses.accounts?.length ? html`<br />accounts tried: <code>${why.offenses.accounts.join(', ')}</code>` : ''}` : 'none'}</dd>
        </dl>
        <h3>Bans</h3>
        <ul class="plain">${why.bans.map((b) => html`<li>${b.prefix}: ${b.reason} (${b.origin}, step ${b.step}) ${when(b.since)} → ${b.until ? when(b.until) : 'permanent'}</li>`)}</ul>
        <h3>Decisions</h3>
        <ul class="plain">${why.decisions.map((d) => html`<li>${when(d.time)} <b>${d.action}</b> ${d.detail?.reason ?? ''} ${d.detail?.via ? `(on the ${d.detail.via})` : d.detail?.origin ? `(${d.detail.origin})` : ''}</li>`)}</ul>
        ${!why.spared && html`<button class="allow" onClick=${() => onAllow(address)}>Allow this address</button>`}`}
    </div>
  </div>`;
}

function Confirm({ text, action, onYes, onNo }) {
  return html`<div class="overlay"><div class="panel small" role="alertdialog" aria-label="confirm">
    <p>${text}</p>
    <div class="row end"><button onClick=${onNo}>Cancel</button><button class="danger" onClick=${onYes}>${action}</button></div>
  </div></div>`;
}

function Live({ items }) {
  return html`<section aria-label="live feed"><h2>Live <span class="muted">decisions as they happen</span></h2>
    <ul class="live">${items.length === 0 ? html`<li class="muted">waiting for the next decision…</li>` : ''}${items.map(
      (it) => html`<li class=${it.type}><span class="t">${new Date(it.time ?? Date.now()).toLocaleTimeString()}</span> ${it.line}</li>`,
    )}</ul>
  </section>`;
}

function Fraud({ fraud, onClear }) {
  if (!fraud) return null;
  if (fraud.off) return html`<section aria-label="toll fraud"><h2>Toll-fraud guard</h2><p class="muted">${fraud.off}</p></section>`;
  const blocked = fraud.endpoints.filter((e) => e.blocked);
  return html`<section aria-label="toll fraud"><h2>Toll-fraud guard <span class="muted">(${fraud.endpoints.length} endpoints watched)</span></h2>
    ${blocked.length === 0 ? html`<p class="muted">no endpoint is blocked</p>` : ''}
    <ul class="plain">${blocked.map(
      (e) => html`<li data-endpoint=${e.endpoint}><b>${e.endpoint}</b> blocked ${ago(e.blocked.since)}: ${e.blocked.why} <span class="muted">(${e.blocked.calls_cut_since} calls cut since)</span> <button onClick=${() => onClear(e.endpoint)}>Clear</button></li>`,
    )}</ul>
  </section>`;
}

function liveLine(type, d) {
  if (type === 'ban') return `ban ${d.prefix} (${d.reason}${d.via ? `, on the ${d.via}` : d.origin !== 'auto' ? `, ${d.origin}` : ''}) until ${when(d.until)}${d.events ? `: ${Object.entries(d.events).map(([k, n]) => `${k} ${n}`).join(', ')}` : ''}`;
  if (type === 'unban') return `unban ${d.prefix}${d.via ? ` (on the ${d.via})` : ` (${d.origin})`}`;
  if (type === 'alert') return `${d.severity}: ${d.text}`;
  if (type === 'fraud') return `toll fraud, ${d.endpoint}: ${d.verdict}`;
  return `${d.kind}: ${d.text}`;
}

function App() {
  const [status, setStatus] = useState(null);
  const [activity, setActivity] = useState(null);
  const [span, setSpan] = useState(60);
  const [fraud, setFraud] = useState(null);
  const [version, setVersion] = useState(0);
  const [why, setWhy] = useState(null);
  const [confirm, setConfirm] = useState(null);
  const [live, setLive] = useState([]);
  const [connected, setConnected] = useState(false);
  const [message, setMessage] = useState(null);

  const say = useCallback((text, bad = false) => setMessage({ text, bad, at: Date.now() }), []);
  // A message goes after a few seconds: it sits over the page's foot (once it hid a link there).
  useEffect(() => {
    if (!message) return;
    const timer = setTimeout(() => setMessage(null), message.bad ? 10_000 : 4000);
    return () => clearTimeout(timer);
  }, [message]);
  const refresh = useCallback(() => {
    api('/api/status').then(setStatus, (e) => say(e.message, true));
    api('/api/fraud').then(setFraud, () => {});
    setVersion((v) => v + 1);
  }, []);
  useEffect(() => {
    api(`/api/activity?minutes=${span}`).then(setActivity, () => {});
  }, [span, version]);
  useEffect(() => {
    refresh();
    const timer = setInterval(refresh, 10_000);
    return () => clearInterval(timer);
  }, []);
  useEffect(() => {
    const source = new EventSource('/api/live');
    let pending = null;
    const soon = () => (pending ??= setTimeout(() => ((pending = null), refresh()), 500));
    source.onopen = () => setConnected(true);
    source.onerror = () => setConnected(false);
    for (const type of ['ban', 'unban', 'alert', 'fraud', 'trouble']) {
      source.addEventListener(type, (e) => {
        const d = JSON.parse(e.data);
        setLive((items) => [{ type, time: d.time, line: liveLine(type, d) }, ...items].slice(0, 200));
        soon();
      });
    }
    return () => source.close();
  }, []);

  const change = async (path, body, done) => {
    try {
      await api(path, body);
      say(done);
      refresh();
    } catch (e) {
      say(e.message, true);
    }
  };
  const unban = (prefix) => setConfirm({ text: `Unban ${prefix}? It is dropped no more, in the kernel and the store (in a fleet, on every node).`, action: 'Unban', run: () => change('/api/unban', { prefix }, `unbanned ${prefix}`) });
  const allow = (prefix) => setConfirm({ text: `Allow ${prefix}? It goes on the runtime allow-list (kept in the store): never scored or banned, its packets accepted before any drop.`, action: 'Allow', run: () => change('/api/allow', { prefix }, `allowed ${prefix}`).then(() => setWhy(null)) });
  const clearFraud = (endpoint) => setConfirm({ text: `Clear the block of ${endpoint}? Its outbound calls are allowed again.`, action: 'Clear', run: () => change('/api/fraud', { action: 'clear', endpoint }, `cleared ${endpoint}`) });
  const logout = () => api('/api/logout', {}).catch(() => {}).then(() => location.reload());

  return html`<header>
      <h1>asterisk-guard</h1>
      <span class="live-dot ${connected ? 'on' : ''}" title=${connected ? 'live feed connected' : 'live feed disconnected'}>${connected ? 'live' : 'offline'}</span>
      <button class="logout" onClick=${logout}>Log out</button>
    </header>
    ${message && html`<div class="message ${message.bad ? 'bad' : ''}" role="status" key=${message.at}>${message.text}</div>`}
    <main>
      <${StatusCards} status=${status} />
      <div class="columns">
        <div class="wide"><${Bans} version=${version} onWhy=${setWhy} onUnban=${unban} say=${say} /></div>
        <div class="side">
          <${Live} items=${live} />
          <${Fraud} fraud=${fraud} onClear=${clearFraud} />
        </div>
      </div>
      <${Activity} activity=${activity} span=${span} setSpan=${setSpan} onWhy=${setWhy} />
    </main>
    ${why && html`<${Why} address=${why} onClose=${() => setWhy(null)} onAllow=${allow} />`}
    ${confirm && html`<${Confirm} ...${confirm} onNo=${() => setConfirm(null)} onYes=${() => (confirm.run(), setConfirm(null))} />`}`;
}

render(html`<${App} />`, document.getElementById('app'));
