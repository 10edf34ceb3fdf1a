// The chart's Grafana dashboard (charts/imageops/dashboards/imageops.json, written by `npm run
// gen`): the operator's rollout state and the image service's serving, from the metric names the
// two export (operator/src/metrics.ts, image-service/src/metrics.ts). The rollout panels read only
// the leader's series: a replica that lost the lease keeps its last values.
import { PHASES } from './api/image-service.ts';

/** Grafana's range for rate(): at least four scrape intervals. Tests put a duration in its place. */
export const RATE_INTERVAL = '$__rate_interval';

export interface DashboardTarget {
  expr: string;
  legendFormat: string;
}

export interface PanelSpec {
  title: string;
  description: string;
  type: 'timeseries' | 'state-timeline';
  unit: string;
  targets: DashboardTarget[];
  /** Steps rather than lines (weights, phases, counts that change at once). */
  steps?: boolean;
  /** Value -> text, for gauges that encode a state. */
  mappings?: Record<number, string>;
}

const LEADER = '* on(instance) group_left() (imageops_leader == 1)';
const rollout = (metric: string) => `${metric} ${LEADER}`;
const SERVICE = '{{namespace}}/{{name}}';
const POD = '{{namespace}}/{{pod}}';
const IMAGE_ROUTE = 'route="image"';
const quantile = (q: number) => `histogram_quantile(${q}, sum by (le) (rate(image_service_http_request_duration_seconds_bucket{${IMAGE_ROUTE}}[${RATE_INTERVAL}])))`;

export const OPERATOR_PANELS: PanelSpec[] = [
  {
    title: 'Rollout phase',
    description: "Where each ImageService's rollout stands (status.phase).",
    type: 'state-timeline',
    unit: 'none',
    targets: [{ expr: rollout('imageops_canary_phase'), legendFormat: SERVICE }],
    mappings: Object.fromEntries(PHASES.map((p, i) => [i, p])),
  },
  {
    title: 'Canary weight',
    description: 'Percent of traffic routed to the canary (status.canaryWeight).',
    type: 'timeseries',
    unit: 'percent',
    steps: true,
    targets: [{ expr: rollout('imageops_canary_weight'), legendFormat: SERVICE }],
  },
  {
    title: 'Analysis: measured values',
    description: "The last check's numbers (status.lastAnalysis): p99 latency in ms, 5xx share in percent, requests in the window, custom metrics.",
    type: 'timeseries',
    unit: 'none',
    steps: true,
    targets: [{ expr: rollout('imageops_analysis_value'), legendFormat: `${SERVICE} {{metric}}` }],
  },
  {
    title: 'Analysis: failed checks',
    description: 'Failed checks of the current analysis; the rollout goes back at spec.canary.threshold.',
    type: 'timeseries',
    unit: 'none',
    steps: true,
    targets: [{ expr: rollout('imageops_canary_failed_checks'), legendFormat: SERVICE }],
  },
  {
    title: 'Reconciles and errors',
    description: 'Reconciles per second by ImageService, and failed reconciles per second by reason (0 when none failed).',
    type: 'timeseries',
    unit: 'reqps',
    targets: [
      { expr: `sum by (namespace, name) (rate(imageops_reconcile_duration_seconds_count[${RATE_INTERVAL}]))`, legendFormat: SERVICE },
      { expr: `sum by (reason) (rate(imageops_reconcile_errors_total[${RATE_INTERVAL}])) or on() vector(0)`, legendFormat: 'errors {{reason}}' },
    ],
  },
  {
    title: 'Reconcile duration p99',
    description: '99th percentile of the time one reconcile takes.',
    type: 'timeseries',
    unit: 's',
    targets: [{ expr: `histogram_quantile(0.99, sum by (le) (rate(imageops_reconcile_duration_seconds_bucket[${RATE_INTERVAL}])))`, legendFormat: 'p99' }],
  },
  {
    title: 'Leader',
    description: '1 for the replica that holds the leader lease.',
    type: 'timeseries',
    unit: 'none',
    steps: true,
    targets: [{ expr: 'imageops_leader', legendFormat: '{{instance}}' }],
  },
];

export const SERVICE_PANELS: PanelSpec[] = [
  {
    title: 'Requests by status',
    description: 'Image requests answered per second, by HTTP status.',
    type: 'timeseries',
    unit: 'reqps',
    targets: [{ expr: `sum by (code) (rate(image_service_http_requests_total{${IMAGE_ROUTE}}[${RATE_INTERVAL}]))`, legendFormat: '{{code}}' }],
  },
  {
    title: 'Latency percentiles',
    description: 'Time from request to the end of the answer, image route, all pods.',
    type: 'timeseries',
    unit: 's',
    targets: [0.5, 0.9, 0.99].map((q) => ({ expr: quantile(q), legendFormat: `p${Math.round(q * 100)}` })),
  },
  {
    title: 'Queue depth and in flight',
    description: 'Requests waiting for a worker slot, and requests holding one, per pod.',
    type: 'timeseries',
    unit: 'none',
    targets: [
      { expr: 'image_service_queue_length', legendFormat: `queued ${POD}` },
      { expr: 'image_service_inflight', legendFormat: `in flight ${POD}` },
    ],
  },
  {
    title: '503s: refused by admission',
    description: 'Requests refused with 503 per second: queue full, or no worker within the queue timeout.',
    type: 'timeseries',
    unit: 'reqps',
    targets: [{ expr: `sum by (reason) (rate(image_service_rejected_total[${RATE_INTERVAL}]))`, legendFormat: '{{reason}}' }],
  },
  {
    title: 'Transforms',
    description: 'Resizes run by libvips per second (not cached, not coalesced), per pod.',
    type: 'timeseries',
    unit: 'ops',
    targets: [{ expr: `sum by (namespace, pod) (rate(image_service_transforms_total[${RATE_INTERVAL}]))`, legendFormat: POD }],
  },
  {
    title: 'Resident memory per pod',
    description: 'RSS of each image-service process.',
    type: 'timeseries',
    unit: 'bytes',
    targets: [{ expr: 'process_resident_memory_bytes and on(instance) image_service_build_info', legendFormat: POD }],
  },
];

// biome-ignore lint/suspicious/noTemplateCurlyInString: a Grafana variable, substituted by Grafana
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
const WIDTH = 12;
const HEIGHT = 8;

function panel(spec: PanelSpec, id: number, y: number, x: number): Record<string, unknown> {
  const mappings = spec.mappings === undefined ? [] : [{ type: 'value', options: Object.fromEntries(Object.entries(spec.mappings).map(([v, text], index) => [v, { text, index }])) }];
  return {
    id,
    type: spec.type,
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos: { h: HEIGHT, w: WIDTH, x, y },
    fieldConfig: {
      defaults: {
        unit: spec.unit,
        mappings,
        ...(spec.type === 'timeseries' ? { custom: { lineInterpolation: spec.steps === true ? 'stepAfter' : 'linear', fillOpacity: 10 } } : {}),
      },
      overrides: [],
    },
    options: { legend: { displayMode: 'list', placement: 'bottom', showLegend: true }, tooltip: { mode: 'multi', sort: 'none' } },
    targets: spec.targets.map((t, i) => ({ datasource: DATASOURCE, expr: t.expr, legendFormat: t.legendFormat, range: true, refId: String.fromCharCode(65 + i) })),
  };
}

/** A row, then its panels two to a line. */
function section(title: string, panels: PanelSpec[], firstId: number, y: number): { items: Record<string, unknown>[]; height: number } {
  const items: Record<string, unknown>[] = [{ id: firstId, type: 'row', title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] }];
  for (const [i, p] of panels.entries()) items.push(panel(p, firstId + 1 + i, y + 1 + Math.floor(i / 2) * HEIGHT, (i % 2) * WIDTH));
  return { items, height: 1 + Math.ceil(panels.length / 2) * HEIGHT };
}

export function dashboard(): Record<string, unknown> {
  const operator = section('Operator: rollouts', OPERATOR_PANELS, 1, 0);
  const service = section('Image service', SERVICE_PANELS, 2 + OPERATOR_PANELS.length, operator.height);
  return {
    uid: 'imageops',
    title: 'imageops',
    description: "Canary rollouts of ImageServices and the image service's serving.",
    tags: ['imageops'],
    editable: true,
    schemaVersion: 39,
    time: { from: 'now-1h', to: 'now' },
    refresh: '10s',
    templating: {
      list: [{ name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus', current: {}, hide: 0 }],
    },
    annotations: { list: [] },
    panels: [...operator.items, ...service.items],
  };
}

/** Every target of the dashboard, with the title of its panel. */
export function dashboardTargets(): { panel: string; target: DashboardTarget }[] {
  return [...OPERATOR_PANELS, ...SERVICE_PANELS].flatMap((p) => p.targets.map((target) => ({ panel: p.title, target })));
}
