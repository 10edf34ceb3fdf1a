// The rollout view's page: polls /api/state every second and draws each ImageService. Every
// string from the server goes into the DOM through textContent, never as markup.

const POLL_MS = 1000;
const COLORS = { primary: '#2f6fdf', canary: '#e0762b', slo: '#b3261e', weight: '#7a3fb8' };
const cards = new Map();

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour12: false });
}

/** A uPlot chart in a titled box; `series` after the x axis. */
function chart(parent, title, unit, series, stepped) {
  const box = el('div', 'chart');
  box.appendChild(el('h3', '', title));
  const target = el('div');
  box.appendChild(target);
  parent.appendChild(box);
  const opts = {
    width: 440,
    height: 170,
    legend: { live: false },
    scales: { x: { time: true } },
    axes: [{}, { label: unit, size: 55 }],
    series: [
      {},
      ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: s.dash ? 1 : 2,
        dash: s.dash ? [6, 4] : undefined,
        spanGaps: false,
        paths: stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
        points: { show: false },
      })),
    ],
  };
  const plot = new uPlot(opts, [[], ...series.map(() => [])], target);
  return { plot, target };
}

function card(service) {
  const section = el('section', 'service');
  section.dataset.service = `${service.namespace}/${service.name}`;
  section.appendChild(el('h2', '', `${service.namespace}/${service.name}`));
  const summary = el('div', 'summary');
  const phase = el('span', 'phase');
  const weight = el('span', 'weight');
  const images = el('span', 'images');
  summary.append(phase, weight, images);
  section.appendChild(summary);
  const message = el('p', 'status');
  section.appendChild(message);
  const charts = el('div', 'charts');
  section.appendChild(charts);
  document.getElementById('services').appendChild(section);
  const revisions = (extra) => [{ label: 'primary', color: COLORS.primary }, { label: 'canary', color: COLORS.canary }, ...(extra ? [{ label: 'SLO', color: COLORS.slo, dash: true }] : [])];
  const c = {
    section,
    phase,
    weight,
    images,
    message,
    weightChart: chart(charts, 'Canary weight', '%', [{ label: 'canary weight', color: COLORS.weight }], true),
    latency: chart(charts, 'p99 latency per revision', 'ms', revisions(true)),
    errors: chart(charts, '5xx share per revision', '%', revisions(true)),
    rps: chart(charts, 'Requests per second per revision', 'req/s', revisions(false)),
    events: el('ol', 'events'),
  };
  section.appendChild(el('h3', '', 'Events'));
  section.appendChild(c.events);
  return c;
}

/** Both revisions' samples on one time axis (null where one has no point), plus the SLO line. */
function aligned(samples, field, slo) {
  const times = [...new Set([...samples.primary, ...samples.canary].map((s) => s.t))].sort((a, b) => a - b);
  const at = (list) => {
    const m = new Map(list.map((s) => [s.t, s[field]]));
    return times.map((t) => (m.has(t) ? m.get(t) : null));
  };
  const data = [times, at(samples.primary), at(samples.canary)];
  if (slo !== undefined) data.push(times.map(() => slo));
  return data;
}

function draw(c, s) {
  c.phase.textContent = s.phase || 'no status yet';
  c.phase.className = `phase ${/^[A-Za-z]+$/.test(s.phase) ? s.phase : ''}`;
  c.weight.textContent = `canary weight ${s.weight}%`;
  c.weight.dataset.weight = String(s.weight);
  c.images.textContent = `primary ${s.images.primary || '-'}${s.images.canary ? `, canary ${s.images.canary}` : ''}`;
  c.message.textContent = s.message;

  const weights = [s.weights.map((w) => w[0]), s.weights.map((w) => w[1])];
  c.weightChart.plot.setData(weights);
  c.weightChart.target.dataset.weights = [...new Set(weights[1])].join(',');
  c.latency.plot.setData(aligned(s.samples, 'p99Ms', s.slo.latencyP99Ms ?? null));
  c.errors.plot.setData(aligned(s.samples, 'errorPercent', s.slo.errorRatePercent ?? null));
  c.rps.plot.setData(aligned(s.samples, 'rps'));

  const items = s.events.map((e) => {
    const li = el('li', e.type === 'Warning' ? 'Warning' : 'Normal');
    li.append(el('span', 'time', clock(e.t)), el('span', 'type', e.type), el('span', 'reason', e.count > 1 ? `${e.reason} ×${e.count}` : e.reason), el('span', 'message', e.message));
    return li;
  });
  const atBottom = c.events.scrollTop + c.events.clientHeight >= c.events.scrollHeight - 4;
  c.events.replaceChildren(...items);
  if (atBottom) c.events.scrollTop = c.events.scrollHeight;
}

async function poll() {
  const source = document.getElementById('source');
  try {
    const res = await fetch('/api/state', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const state = await res.json();
    source.className = '';
    source.textContent = `measured by the ${state.provider === 'prometheus' ? 'Prometheus' : 'direct'} provider · updated ${clock(state.now)}`;
    const seen = new Set();
    for (const s of state.services) {
      const key = `${s.namespace}/${s.name}`;
      seen.add(key);
      let c = cards.get(key);
      if (c === undefined) {
        c = card(s);
        cards.set(key, c);
      }
      draw(c, s);
    }
    for (const [key, c] of cards) {
      if (seen.has(key)) continue;
      c.section.remove();
      cards.delete(key);
    }
    document.getElementById('hidden').textContent = state.hidden > 0 ? `${state.hidden} more ImageServices are not shown.` : '';
    if (state.services.length === 0) source.textContent += ' · no ImageService yet';
  } catch (err) {
    source.className = 'error';
    source.textContent = `cannot reach the view's server (${err.message}); retrying`;
  }
  setTimeout(poll, POLL_MS);
}

poll();
