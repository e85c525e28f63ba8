import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parsePoolXml, poolPids } from '../../core/pool-status.ts';
import { ScopedProc } from '../../agent/demo/scoped-proc.ts';
import type { ScenarioApp } from '../../agent/demo/scenario.ts';
import type { SimProcess } from '../../agent/demo/sim-process.ts';
import {
  StandInPassengerTools,
  escapeXml,
  renderPoolXml,
  type SimulatedPool,
} from '../../agent/demo/stand-in-tools.ts';
import type { ProcRead, ProcSource } from '../../agent/host.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');
const SHOP: ScenarioApp = {
  name: 'shop',
  root: '/data/shop/current',
  limitMb: 120,
};
const BLOG: ScenarioApp = {
  name: 'blog',
  root: '/data/blog/current',
  limitMb: 120,
};

function worker(pid: number, app: ScenarioApp, extra: Partial<SimProcess>) {
  const sim: SimProcess = {
    pid,
    title: `Passenger RubyApp: ${app.root} (production)`,
    role: 'worker',
    app: app.name,
    limitMb: app.limitMb,
    startedAt: NOW - 30_000,
    mb: 100,
    memory: { privateDirtyKb: 102_400, swapKb: 0, rssKb: 130_000 },
    busyUntil: 0,
    ...extra,
  };
  return sim;
}

/** A pool that records the detach requests it gets. */
class FakePool implements SimulatedPool {
  readonly scenario = { apps: [SHOP, BLOG] };
  readonly detached: number[] = [];
  constructor(private readonly workers: SimProcess[]) {}
  poolWorkers() {
    return this.workers;
  }
  detach(pid: number) {
    const known = this.workers.some((w) => w.pid === pid);
    if (known) this.detached.push(pid);
    return known;
  }
}

describe('renderPoolXml', () => {
  it('reads back through parsePoolXml with every worker and its status', () => {
    // Prepare
    const workers = [
      worker(4210, SHOP, {}),
      worker(4211, SHOP, { detachedAt: NOW - 1000, busyUntil: NOW + 5000 }),
      worker(4212, SHOP, { detachedAt: NOW - 1000 }),
      worker(4300, BLOG, { busyUntil: NOW + 100 }),
    ];

    // Act
    const parsed = parsePoolXml(renderPoolXml([SHOP, BLOG], workers, NOW));

    // Assess
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.reason);
    assert.deepEqual(parsed.skipped, []);
    assert.equal(parsed.snapshot.passengerVersion, '6.0.17');
    const groups = parsed.snapshot.groups.map((g) => [g.name, g.appRoot]);
    assert.deepEqual(groups, [
      ['/data/shop/current (production)', '/data/shop/current'],
      ['/data/blog/current (production)', '/data/blog/current'],
    ]);
    const pids = poolPids(parsed.snapshot);
    assert.deepEqual([...pids.keys()], [4210, 4211, 4212, 4300]);
    const status = (pid: number) => {
      const entry = pids.get(pid)?.process;
      return [entry?.sessions, entry?.lifeStatus, entry?.enabled];
    };
    assert.deepEqual(status(4210), [0, 'ALIVE', 'ENABLED']);
    assert.deepEqual(status(4211), [1, 'ALIVE', 'DETACHED']);
    assert.deepEqual(status(4212), [0, 'SHUTDOWN_TRIGGERED', 'DETACHED']);
    assert.deepEqual(status(4300), [1, 'ALIVE', 'ENABLED']);
  });

  it('carries memory in kB, command and spawn time in µs', () => {
    const xml = renderPoolXml([SHOP], [worker(4210, SHOP, {})], NOW);

    const parsed = parsePoolXml(xml);

    assert.ok(parsed.ok);
    const entry = parsed.snapshot.groups[0]?.processes[0];
    assert.equal(entry?.privateDirtyKb, 102_400);
    assert.equal(entry?.realMemoryKb, 102_400);
    assert.equal(entry?.rssKb, 130_000);
    assert.equal(entry?.spawnStartTimeUs, (NOW - 30_000) * 1000);
    assert.equal(
      entry?.command,
      'Passenger RubyApp: /data/shop/current (production)',
    );
  });

  it('is one line after the header, ( and ) escaped', () => {
    const xml = renderPoolXml([SHOP], [worker(4210, SHOP, {})], NOW);

    const [header, body, rest] = xml.split('\n');

    assert.equal(header, '<?xml version="1.0" encoding="iso-8859-1" ?>');
    assert.match(body ?? '', /^<info version="3">.*<\/info>$/);
    assert.equal(rest, '');
    assert.ok(body?.includes('/data/shop/current &#40;production&#41;'));
    assert.ok(!body?.includes('(production)'));
  });

  it('lists an app with no worker as an empty group', () => {
    const parsed = parsePoolXml(renderPoolXml([SHOP], [], NOW));

    assert.ok(parsed.ok);
    assert.deepEqual(
      parsed.snapshot.groups.map((g) => g.processes.length),
      [0],
    );
  });
});

/** A real `passenger-status --show=xml` of Passenger 6.0.17. */
const REAL_XML = readFileSync(
  new URL(
    '../fixtures/corpus/p6.0.17-apache-testbed-passenger-status.xml',
    import.meta.url,
  ),
  'latin1',
);

/** Names of the children of the element that `openTag` opens, in order. */
function childNames(xml: string, openTag: string): string[] {
  const start = xml.indexOf(openTag);
  assert.ok(start >= 0, `${openTag} is in the document`);
  const names: string[] = [];
  let depth = 0;
  const tags = xml.slice(start + openTag.length).matchAll(/<(\/?)(\w+)[^>]*>/g);
  for (const [, slash, tag] of tags) {
    if (slash) {
      if (--depth < 0) break;
    } else if (depth++ === 0) {
      names.push(tag ?? '');
    }
  }
  return names;
}

/** Whether every item of `part` appears in `whole`, in the same order. */
function inOrderWithin(part: string[], whole: string[]): boolean {
  let at = 0;
  for (const item of part) {
    at = whole.indexOf(item, at);
    if (at < 0) return false;
    at++;
  }
  return true;
}

describe('renderPoolXml against a real 6.0.17 document', () => {
  const ours = renderPoolXml([SHOP], [worker(4210, SHOP, {})], NOW);

  const elements = [
    '<info version="3">',
    '<supergroup>',
    '<group default="true">',
    '<process>',
  ];
  for (const openTag of elements) {
    it(`prints only ${openTag} fields the real one has, in order`, () => {
      const real = childNames(REAL_XML, openTag);
      const printed = childNames(ours, openTag);

      assert.ok(printed.length >= 4, `we print a few fields in ${openTag}`);
      assert.ok(
        inOrderWithin(printed, real),
        `${printed.join(',')} not within ${real.join(',')}`,
      );
    });
  }
});

describe('escapeXml', () => {
  const cases: [string, string][] = [
    ['plain', 'plain'],
    ['a (b)', 'a &#40;b&#41;'],
    ['<x & "y">', '&#60;x &#38; &#34;y&#34;&#62;'],
    ["it's", 'it&#39;s'],
  ];
  for (const [text, escaped] of cases) {
    it(`escapes ${JSON.stringify(text)}`, () => {
      assert.equal(escapeXml(text), escaped);
    });
  }
});

describe('StandInPassengerTools', () => {
  it('detaches a pid of the pool with exit 0', async () => {
    const pool = new FakePool([worker(4210, SHOP, {})]);
    const tools = new StandInPassengerTools(pool, () => NOW);

    const result = await tools.detach(4210);

    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, 'Process 4210 detached.\n');
    assert.equal(result.missing, false);
    assert.deepEqual(pool.detached, [4210]);
  });

  it('refuses a pid outside the pool with exit 1', async () => {
    const pool = new FakePool([worker(4210, SHOP, {})]);
    const tools = new StandInPassengerTools(pool, () => NOW);

    const result = await tools.detach(999);

    assert.equal(result.exitCode, 1);
    assert.equal(result.stderr, 'Could not detach process 999.\n');
    assert.deepEqual(pool.detached, []);
  });

  it('answers poolXml with the pool, exit 0', async () => {
    const tools = new StandInPassengerTools(
      new FakePool([worker(4210, SHOP, {})]),
      () => NOW,
    );

    const result = await tools.poolXml();

    assert.equal(result.exitCode, 0);
    assert.equal(result.timedOut, false);
    const parsed = parsePoolXml(result.stdout);
    assert.ok(parsed.ok);
    assert.deepEqual([...poolPids(parsed.snapshot).keys()], [4210]);
  });

  it('reports passenger-memory-stats and commands as missing', async () => {
    const tools = new StandInPassengerTools(new FakePool([]), () => NOW);

    const stats = await tools.memoryStats();
    const command = await tools.run(['/usr/local/bin/restart', '4210']);

    assert.equal(stats.missing, true);
    assert.equal(stats.exitCode, null);
    assert.equal(command.missing, true);
    assert.match(command.stderr, /^\/usr\/local\/bin\/restart: not simulated/);
  });
});

describe('ScopedProc', () => {
  /** Answers every read with the pid, so a pass-through is visible. */
  const inner: ProcSource = {
    clockTicks: 100,
    listPids: () => [1, 4210, 4211, 5000],
    stat: (pid) => ({
      ok: true,
      value: { pid, comm: 'x', state: 'S', ppid: 1, pgrp: 1, startTime: 7 },
    }),
    cmdline: (pid) => ({ ok: true, value: `title of ${pid}` }),
    memory: () => ({
      ok: true,
      value: { privateDirtyKb: 1, swapKb: 0, rssKb: 1 },
    }),
    cwd: () => ({ ok: true, value: '/' }),
    uid: () => ({ ok: true, value: 0 }),
    bootTime: () => 1_700_000_000,
  };
  const ours = new Set([4210, 4211, 6000]);
  const scoped = new ScopedProc(inner, (pid) => ours.has(pid));

  it("lists only the demo's live children that the kernel lists", () => {
    assert.deepEqual(scoped.listPids(), [4210, 4211]);
  });

  it('passes reads of its own children through', () => {
    assert.deepEqual(scoped.cmdline(4210), {
      ok: true,
      value: 'title of 4210',
    });
  });

  it('makes every other pid look gone, for every read', () => {
    const reads: ProcRead<unknown>[] = [
      scoped.stat(1),
      scoped.cmdline(5000),
      scoped.memory(5000),
      scoped.cwd(5000),
      scoped.uid(5000),
    ];
    for (const read of reads) {
      assert.equal(read.ok, false);
      assert.equal(read.ok ? undefined : read.failure, 'gone');
    }
  });

  it('keeps clock ticks and boot time of the real source', () => {
    assert.equal(scoped.clockTicks, 100);
    assert.equal(scoped.bootTime(), 1_700_000_000);
  });
});
