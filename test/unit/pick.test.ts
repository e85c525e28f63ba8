import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  pickOrphans,
  pickVictims,
  type OrphanPickOptions,
  type PickOptions,
} from '../../core/pick.ts';
import {
  identityKey,
  type Observation,
  type Worker,
} from '../../core/worker.ts';

const HOST = 'i-0123456789abcdef0';
const GROUP = '/data/shop/current (production)';
/** 2026-12-01T00:00:00Z, in ms. */
const T0 = 1_796_083_200_000;
const LIMIT_KB = 300 * 1024;

function worker(pid: number, privateMb: number | null, extra = {}): Worker {
  return {
    identity: { host: HOST, pid, startTime: 1000 + pid },
    app: { group: GROUP },
    kind: 'ruby',
    memory: {
      privateDirtyKb: privateMb === null ? null : privateMb * 1024,
      swapKb: 50 * 1024,
      rssKb: null,
    },
    inPool: true,
    detached: false,
    startedAtMs: T0 - 3_600_000,
    ...extra,
  };
}

function observe(workers: Worker[], at = T0, poolKnown = true): Observation {
  return { host: HOST, at, workers, poolKnown };
}

const pids = (picked: readonly { worker: Worker }[]) =>
  picked.map(({ worker }) => worker.identity.pid);

describe('pickVictims', () => {
  const cases: [
    string,
    Worker[],
    { app?: string; count?: number; options?: PickOptions },
    number[],
  ][] = [
    [
      'biggest first, up to count',
      [worker(1, 310), worker(2, 500), worker(3, 400), worker(4, 200)],
      { count: 2 },
      [2, 3],
    ],
    ['none over the limit', [worker(1, 300), worker(2, 10)], {}, []],
    [
      'equal figures: the older process first',
      [worker(9, 400), worker(5, 400)],
      { count: 1 },
      [5],
    ],
    [
      'skips a detached worker',
      [worker(1, 900, { detached: true }), worker(2, 400)],
      {},
      [2],
    ],
    [
      'skips a worker the pool does not list',
      [worker(1, 900, { inPool: false }), worker(2, 400)],
      {},
      [2],
    ],
    [
      'skips unknown pool membership by default (detach needs the pool)',
      [worker(1, 900, { inPool: undefined }), worker(2, 400)],
      {},
      [2],
    ],
    [
      'takes unknown pool membership when allowed (a signal step)',
      [worker(1, 900, { inPool: undefined }), worker(2, 400)],
      { options: { allowUnknownPool: true } },
      [1, 2],
    ],
    [
      'never takes a worker out of the pool, even when allowed',
      [worker(1, 900, { inPool: false })],
      { options: { allowUnknownPool: true } },
      [],
    ],
    ['skips unknown memory', [worker(1, null), worker(2, 400)], {}, [2]],
    [
      'skips an identity already marked',
      [worker(1, 900), worker(2, 400)],
      { options: { marked: new Set([identityKey(worker(1, 0).identity)]) } },
      [2],
    ],
    [
      'a pid reused by a new process is not the marked one',
      [worker(1, 900, { identity: { host: HOST, pid: 1, startTime: 7 } })],
      { options: { marked: new Set([identityKey(worker(1, 0).identity)]) } },
      [1],
    ],
    [
      'only the named app',
      [
        worker(1, 900, { app: { group: '/data/blog/current (production)' } }),
        worker(2, 400),
      ],
      {},
      [2],
    ],
    ['the app by its short name', [worker(1, 400)], { app: 'shop' }, [1]],
    ['a short name of another app', [worker(1, 400)], { app: 'sho' }, []],
    ['count 0 picks nothing', [worker(1, 400)], { count: 0 }, []],
    ['a fractional count picks nothing', [worker(1, 400)], { count: 1.5 }, []],
  ];
  for (const [what, workers, given, expected] of cases) {
    it(what, () => {
      const picked = pickVictims(
        observe(workers),
        given.app ?? GROUP,
        LIMIT_KB,
        'private',
        given.count ?? 25,
        given.options,
      );
      assert.deepEqual(pids(picked), expected);
    });
  }

  it('compares by the measure asked for', () => {
    const workers = [worker(1, 280)];
    const byPrivate = pickVictims(
      observe(workers),
      GROUP,
      LIMIT_KB,
      'private',
      1,
    );
    const bySwapToo = pickVictims(
      observe(workers),
      GROUP,
      LIMIT_KB,
      'private+swap',
      1,
    );

    assert.deepEqual(pids(byPrivate), []);
    assert.deepEqual(pids(bySwapToo), [1]);
    assert.equal(bySwapToo[0]?.memoryKb, 330 * 1024);
  });
});

describe('pickOrphans', () => {
  const orphan = (pid: number, mb: number, extra = {}) =>
    worker(pid, mb, { inPool: false, ...extra });
  const rules = { minAgeSeconds: 60 };
  const pick = (
    first: Observation,
    second: Observation,
    options: OrphanPickOptions = rules,
    count = 25,
  ) =>
    pickOrphans(first, second, GROUP, count, 6, options).map(
      (w) => w.identity.pid,
    );

  it('takes workers missing from the pool in both samples, biggest first', () => {
    const workers = [orphan(1, 100), orphan(2, 300), worker(3, 900)];
    const first = observe(workers, T0);
    const second = observe(workers, T0 + 6_000);

    assert.deepEqual(pick(first, second), [2, 1]);
    assert.deepEqual(pick(first, second, rules, 1), [2]);
  });

  const cases: [string, Observation, Observation, number[]][] = [
    [
      'samples less than confirmSeconds apart',
      observe([orphan(1, 100)], T0),
      observe([orphan(1, 100)], T0 + 5_999),
      [],
    ],
    [
      'listed in the first sample (just spawned or just dying)',
      observe([worker(1, 100)], T0),
      observe([orphan(1, 100)], T0 + 6_000),
      [],
    ],
    [
      'the first pool unknown',
      observe([orphan(1, 100)], T0, false),
      observe([orphan(1, 100)], T0 + 6_000),
      [],
    ],
    [
      'the second pool unknown',
      observe([orphan(1, 100)], T0),
      observe([orphan(1, 100)], T0 + 6_000, false),
      [],
    ],
    [
      'younger than the minimum age',
      observe([orphan(1, 100, { startedAtMs: T0 - 30_000 })], T0),
      observe([orphan(1, 100, { startedAtMs: T0 - 30_000 })], T0 + 6_000),
      [],
    ],
    [
      'of unknown age',
      observe([orphan(1, 100, { startedAtMs: undefined })], T0),
      observe([orphan(1, 100, { startedAtMs: undefined })], T0 + 6_000),
      [],
    ],
    [
      'the pid now holds another process',
      observe([orphan(1, 100)], T0),
      observe(
        [orphan(1, 100, { identity: { host: HOST, pid: 1, startTime: 5 } })],
        T0 + 6_000,
      ),
      [],
    ],
    [
      'of another app',
      observe([orphan(1, 100, { app: { group: '/data/blog/current' } })], T0),
      observe(
        [orphan(1, 100, { app: { group: '/data/blog/current' } })],
        T0 + 6_000,
      ),
      [],
    ],
  ];
  for (const [what, first, second, expected] of cases) {
    it(`takes nothing ${what}`, () => {
      assert.deepEqual(pick(first, second), expected);
    });
  }

  it('skips an identity already marked', () => {
    const workers = [orphan(1, 100), orphan(2, 50)];
    const marked = new Set([identityKey(workers[0]!.identity)]);

    const picked = pick(observe(workers, T0), observe(workers, T0 + 9_000), {
      ...rules,
      marked,
    });

    assert.deepEqual(picked, [2]);
  });
});
