/**
 * What a tier's run really did, read from node's TAP output (`--test-reporter=tap`): passed,
 * failed, cancelled, skipped and todo, every skip with its reason, and the skips that name a
 * missing fixture (which scripts/test.mjs fails under CI).
 *
 * node's own summary lines (`# pass`, `# skipped`, …) do not count a whole `describe` given
 * `skip`: it is reported as one `ok … # SKIP` point of type 'suite' and its tests never appear.
 * Those suites are counted here as skips of their own.
 */

export interface Skip {
  /** The test's (or suite's) name, prefixed with its enclosing suites. */
  name: string;
  reason: string;
  kind: 'skip' | 'todo';
  /** A whole suite was skipped: how many tests it holds is unknown. */
  suite: boolean;
}

export interface TierCounts {
  passed: number;
  /** Failed tests, cancelled ones included. */
  failed: number;
  cancelled: number;
  /** Skipped tests, todo tests and skipped suites. */
  skipped: number;
  todo: number;
  skippedSuites: number;
  skips: Skip[];
  /** Names of failed (or cancelled) test points. */
  failures: string[];
  /** False when the TAP stream has no summary (the runner died, or wrote nothing). */
  complete: boolean;
}

/** A skip reason that means a fixture is missing (a failure under CI, never in the design). */
export function isFixtureSkip(reason: string): boolean {
  return /\bfixtures?\b/i.test(reason);
}

interface Point {
  depth: number;
  ok: boolean;
  name: string;
  directive?: 'SKIP' | 'TODO';
  reason: string;
  suite: boolean;
  cancelled: boolean;
}

const pointRe = /^(\s*)(not ok|ok) \d+ - (.*?)(?: # (SKIP|TODO)\b\s*(.*))?$/;

export function readTap(text: string): TierCounts {
  const lines = text.split(/\r?\n/);
  const points: Point[] = [];
  let current: Point | undefined;
  for (const line of lines) {
    const m = pointRe.exec(line);
    if (m) {
      current = {
        depth: m[1].length / 4,
        ok: m[2] === 'ok',
        name: unescape(m[3]),
        directive: m[4] as Point['directive'],
        reason: unescape(m[5] ?? ''),
        suite: false,
        cancelled: false,
      };
      points.push(current);
      continue;
    }
    if (!current) continue;
    if (/^\s*type: 'suite'$/.test(line)) current.suite = true;
    else if (/^\s*failureType: 'cancelled/.test(line)) current.cancelled = true;
  }

  const summary = (key: string) => {
    const m = new RegExp(`^# ${key} (\\d+)$`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const pass = summary('pass');
  const fail = summary('fail');
  const cancelled = summary('cancelled') ?? 0;
  const skippedTests = summary('skipped') ?? 0;
  const todo = summary('todo') ?? 0;

  // Points come out children first, each suite after its tests: name each with its parents.
  const skips: Skip[] = [];
  const failures: string[] = [];
  // A suite whose hook failed while all its tests passed (an `after` that finds a leak) is not in
  // node's `# fail`: it counts here as one failure.
  let suiteFailures = 0;
  const parents: Point[] = [];
  for (let i = points.length - 1; i >= 0; i--) {
    const p = points[i];
    parents.length = p.depth;
    parents[p.depth] = p;
    if (p.suite && !p.directive && p.ok) continue;
    const name = [...parents.slice(0, p.depth).map((x) => x.name), p.name].join(' › ');
    if (p.directive) skips.push({ name, reason: p.reason, kind: p.directive === 'TODO' ? 'todo' : 'skip', suite: p.suite });
    else if (!p.ok && !p.suite) failures.push(name);
    else if (!p.ok && p.suite && !failedInside(points, i)) {
      failures.push(name);
      suiteFailures++;
    }
  }
  skips.reverse();
  failures.reverse();
  const skippedSuites = skips.filter((s) => s.suite).length;
  return {
    passed: pass ?? 0,
    failed: (fail ?? 0) + cancelled + suiteFailures,
    cancelled,
    skipped: skippedTests + todo + skippedSuites,
    todo,
    skippedSuites,
    skips,
    failures,
    complete: pass !== undefined && fail !== undefined,
  };
}

/** Whether a test inside the suite at `points[at]` (its points come right before it) failed. */
function failedInside(points: Point[], at: number): boolean {
  const depth = points[at].depth;
  for (let i = at - 1; i >= 0 && points[i].depth > depth; i--) if (!points[i].ok) return true;
  return false;
}

/** TAP escapes `#` and `\` in names and directives. */
function unescape(s: string): string {
  return s.replace(/\\([#\\])/g, '$1');
}
