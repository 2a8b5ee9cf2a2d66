/**
 * /ui/ — the experiments: key, name, status, variants, start date (when it last went
 * `running`, from the change history), users so far and the verdict on the primary (first)
 * metric. Search (key or name) and the status filter live in the URL (`?q=&status=`), so a
 * filtered list can be shared. The rows appear with the definitions; start dates, users and
 * verdicts are filled in from GET /api/v1/experiment-summaries, one request per 200
 * experiments (the query API reads the results through its cache), not two per experiment.
 */
import { apiGet, isAbort } from '../api.js';
import type { ExperimentDefinition, ExperimentSummary } from '../api-types.js';
import { h, replaceChildren, uniqueId } from '../dom.js';
import { formatCount, formatDateTime, MISSING } from '../format.js';
import { verdictBadge } from '../results-table.js';
import { metricVerdict } from '../verdict.js';
import type { PageContext } from './page.js';

const STATUSES = ['draft', 'running', 'stopped'] as const;
/** At most this many experiments are listed (5 pages of the API's 200). */
const MAX_EXPERIMENTS = 1000;

async function listExperiments(signal: AbortSignal): Promise<ExperimentDefinition[]> {
  const all: ExperimentDefinition[] = [];
  let after: string | null = null;
  do {
    const query: string = `limit=200${after ? `&after=${encodeURIComponent(after)}` : ''}`;
    const page: { items: ExperimentDefinition[]; nextAfter: string | null } = await apiGet(
      `/api/v1/experiments?${query}`,
      signal,
    );
    all.push(...page.items);
    after = page.nextAfter;
  } while (after && all.length < MAX_EXPERIMENTS);
  return all;
}

/** Page size of the summaries (the API's largest). */
const SUMMARY_PAGE = 200;

/** The summaries of the listed experiments, page by page; `fill` runs for each page as it arrives. */
async function loadSummaries(
  signal: AbortSignal,
  count: number,
  fill: (summaries: readonly ExperimentSummary[]) => void,
): Promise<void> {
  let after: string | null = null;
  let loaded = 0;
  do {
    const query: string = `limit=${SUMMARY_PAGE}${after ? `&after=${encodeURIComponent(after)}` : ''}`;
    const page: { items: ExperimentSummary[]; nextAfter: string | null } = await apiGet(
      `/api/v1/experiment-summaries?${query}`,
      signal,
    );
    fill(page.items);
    loaded += page.items.length;
    after = page.nextAfter;
  } while (after && loaded < count);
}

/** Renders the list page. */
export async function renderList(main: HTMLElement, context: PageContext, params: URLSearchParams): Promise<void> {
  context.setTitle('Experiments');
  const experiments = await listExperiments(context.signal);
  const searchId = uniqueId('search');
  const statusId = uniqueId('status');
  const search = h('input', { id: searchId, type: 'search', name: 'q', value: params.get('q') ?? '' });
  const status = h(
    'select',
    { id: statusId, name: 'status' },
    h('option', { value: '' }, 'all'),
    STATUSES.map((s) => h('option', { value: s, selected: params.get('status') === s }, s)),
  );
  const count = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const rows = experiments.map((experiment) => {
    const primary = experiment.metrics[0];
    const started = h('td', { 'data-col': 'started' }, '…');
    const users = h('td', { class: 'num', 'data-col': 'users' }, '…');
    const verdict = h('td', { 'data-col': 'verdict' }, primary ? '…' : h('span', { class: 'muted' }, 'no metric'));
    const row = h(
      'tr',
      { 'data-key': experiment.key },
      h(
        'th',
        { scope: 'row' },
        h('a', { href: `/ui/experiments/${encodeURIComponent(experiment.key)}` }, experiment.key),
      ),
      h('td', {}, experiment.name),
      h('td', {}, h('span', { class: `status status-${experiment.status}` }, experiment.status)),
      h('td', {}, experiment.variants.map((v) => v.id).join(', ')),
      started,
      users,
      verdict,
    );
    return { experiment, row, started, users, verdict, primary };
  });
  const tbody = h(
    'tbody',
    {},
    rows.map((r) => r.row),
  );
  const applyFilter = () => {
    const q = search.value.trim().toLowerCase();
    const wanted = status.value;
    let shown = 0;
    for (const { experiment, row } of rows) {
      const visible =
        (!q || experiment.key.toLowerCase().includes(q) || experiment.name.toLowerCase().includes(q)) &&
        (!wanted || experiment.status === wanted);
      row.hidden = !visible;
      if (visible) shown++;
    }
    count.textContent = `${shown} of ${experiments.length} experiments`;
    const query = new URLSearchParams();
    if (q) query.set('q', search.value.trim());
    if (wanted) query.set('status', wanted);
    const encoded = query.toString();
    const next = `/ui/${encoded ? `?${encoded}` : ''}`;
    if (`${location.pathname}${location.search}` !== next) history.replaceState(null, '', next);
  };
  search.addEventListener('input', applyFilter);
  status.addEventListener('change', applyFilter);
  replaceChildren(
    main,
    h(
      'div',
      { class: 'page-head' },
      h('h1', { tabindex: -1 }, 'Experiments'),
      h('a', { class: 'button', href: '/ui/experiments/new' }, 'New experiment'),
    ),
    h(
      'form',
      { class: 'filters', role: 'search', onsubmit: (event: Event) => event.preventDefault() },
      h('label', { for: searchId }, 'Search key or name'),
      search,
      h('label', { for: statusId }, 'Status'),
      status,
    ),
    count,
    experiments.length === 0
      ? h(
          'p',
          { class: 'empty' },
          'No experiments yet. ',
          h('a', { href: '/ui/experiments/new' }, 'Create the first one'),
          ', then send its events to the collector.',
        )
      : h(
          'div',
          { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-label': 'Experiments' },
          h(
            'table',
            { class: 'experiments' },
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ['Key', 'Name', 'Status', 'Variants', 'Started', 'Users', 'Verdict (primary metric)'].map((t) =>
                  h('th', { scope: 'col' }, t),
                ),
              ),
            ),
            tbody,
          ),
        ),
  );
  applyFilter();
  const byKey = new Map(rows.map((r) => [r.experiment.key, r]));
  const fill = (summaries: readonly ExperimentSummary[]) => {
    for (const summary of summaries) {
      const r = byKey.get(summary.key);
      if (!r) continue;
      byKey.delete(summary.key);
      replaceChildren(
        r.started,
        summary.startedAt ? formatDateTime(summary.startedAt) : h('span', { class: 'muted' }, 'not started'),
      );
      if (summary.results) {
        replaceChildren(r.users, formatCount(summary.results.users));
        if (r.primary) {
          replaceChildren(
            r.verdict,
            verdictBadge(metricVerdict(summary.results, r.primary.key)),
            h('span', { class: 'muted' }, ` ${r.primary.key}`),
          );
        }
      } else {
        replaceChildren(r.users, MISSING);
        if (r.primary) replaceChildren(r.verdict, MISSING);
      }
    }
  };
  void loadSummaries(context.signal, experiments.length, fill)
    .catch((error: unknown) => {
      if (!isAbort(error)) console.warn('experiment summaries failed', error);
    })
    .finally(() => {
      if (context.signal.aborted) return;
      // Rows the summaries did not cover (created meanwhile, or the request failed).
      for (const r of byKey.values()) {
        replaceChildren(r.started, MISSING);
        replaceChildren(r.users, MISSING);
        if (r.primary) replaceChildren(r.verdict, MISSING);
      }
    });
}
