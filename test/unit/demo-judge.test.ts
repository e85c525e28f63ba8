import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../core/config.ts';
import type { DecisionLogEntry } from '../../agent/decision-log.ts';
import { describeChanges, tableRows } from '../../agent/demo/live-table.ts';
import {
  demoConfig,
  demoScenario,
  lastStepMs,
} from '../../agent/demo/scenario.ts';
import {
  wrongKillReason,
  type SimProcess,
} from '../../agent/demo/sim-process.ts';
import { summarize } from '../../agent/demo/summary.ts';

const NOW = Date.parse('2026-03-01T12:00:00Z');

function sim(extra: Partial<SimProcess>): SimProcess {
  return {
    pid: 4210,
    title: 'Passenger RubyApp: /data/shop/current (production)',
    role: 'worker',
    app: 'shop',
    limitMb: 120,
    startedAt: NOW - 60_000,
    mb: 100,
    busyUntil: 0,
    ...extra,
  };
}

const killed = { at: NOW, code: null, signal: 'SIGKILL' as const };
const leftCleanly = { at: NOW, code: 0, signal: null };

describe('wrongKillReason', () => {
  const cases: [string, Partial<SimProcess>, RegExp | undefined][] = [
    ['a worker killed over its limit', { mb: 133, exit: killed }, undefined],
    [
      'a worker detached over its limit that left',
      { mb: 133, detachedAt: NOW - 5, mbAtDetach: 133, exit: leftCleanly },
      undefined,
    ],
    [
      'a worker killed within its limit',
      { mb: 108, exit: killed },
      /at 108 MB, within its 120 MB limit, yet it was killed by SIGKILL/,
    ],
    [
      'a worker exactly at its limit',
      { mb: 120, exit: killed },
      /within its 120 MB limit/,
    ],
    [
      'a worker detached while within its limit',
      { mb: 133, detachedAt: NOW - 5, mbAtDetach: 110, exit: leftCleanly },
      /at 110 MB.*exited with code 0/,
    ],
    [
      'a worker never measured',
      { mb: null, exit: killed },
      /memory was never read/,
    ],
    [
      'the preloader, even over the limit',
      { role: 'preloader', mb: 148, exit: leftCleanly },
      /the preloader must never be touched, yet it exited with code 0/,
    ],
    ['the core', { role: 'core', exit: killed }, /the core must never/],
    [
      'the watchdog',
      { role: 'watchdog', exit: killed },
      /the watchdog must never/,
    ],
  ];
  for (const [name, extra, expected] of cases) {
    it(`judges ${name}`, () => {
      const reason = wrongKillReason(sim(extra));
      if (expected === undefined) assert.equal(reason, undefined);
      else assert.match(reason ?? '', expected);
    });
  }
});

describe('tableRows', () => {
  const deadline = NOW + 7_500;
  const cases: [string, Partial<SimProcess>, string, number | null][] = [
    ['under its limit', { mb: 100 }, 'ok', null],
    ['over its limit, not yet marked', { mb: 133 }, 'over', null],
    ['detached and counting down', { detachedAt: NOW - 1 }, 'grace', 8],
    ['killed, no replacement yet', { exit: killed }, 'killed', null],
    ['left after detach', { exit: leftCleanly }, 'detached', null],
    ['gone and replaced', { exit: killed, replacedBy: 4300 }, 'replaced', null],
  ];
  for (const [name, extra, state, graceLeft] of cases) {
    it(`shows a worker ${name} as ${state}`, () => {
      const deadlines = new Map(
        extra.detachedAt === undefined ? [] : [[4210, deadline]],
      );
      const [row] = tableRows([sim(extra)], deadlines, NOW);
      assert.equal(row?.state, state);
      assert.equal(row?.graceLeftS, graceLeft);
    });
  }

  it('lists workers only, by app then pid', () => {
    const rows = tableRows(
      [
        sim({ pid: 9, app: 'shop' }),
        sim({ pid: 3, role: 'core' }),
        sim({ pid: 7, app: 'blog' }),
        sim({ pid: 5, app: 'shop' }),
      ],
      new Map(),
      NOW,
    );
    assert.deepEqual(
      rows.map((r) => r.pid),
      [7, 5, 9],
    );
  });
});

describe('describeChanges', () => {
  it('reports new rows and state changes, not memory moves', () => {
    const before = tableRows([sim({ mb: 100 })], new Map(), NOW);
    const grown = tableRows([sim({ mb: 110 })], new Map(), NOW);
    const over = tableRows([sim({ mb: 133 })], new Map(), NOW);
    const known = new Map(before.map((row) => [row.pid, row]));

    assert.deepEqual(describeChanges(new Map(), before), [
      'shop 4210 100.0 MB/120 MB: new -> ok',
    ]);
    assert.deepEqual(describeChanges(known, grown), []);
    assert.deepEqual(describeChanges(known, over), [
      'shop 4210 133.0 MB/120 MB: ok -> over',
    ]);
  });
});

function entry(extra: Partial<DecisionLogEntry>): DecisionLogEntry {
  return {
    host: 'simulated-host',
    app: '/data/shop/current (production)',
    pid: 4210,
    startTime: 5000,
    memoryMb: 133,
    limitMb: 120,
    decision: 'graceful',
    action: 'detach',
    reason: 'over',
    outcome: 'detached',
    detail: null,
    ...extra,
  };
}

describe('summarize', () => {
  const base = {
    processes: [],
    exitsDuringRun: [],
    wrongKills: [],
    durationMs: 15_240,
    interrupted: false,
    runProblems: [],
  };

  it('counts actions from the decisions and rounds the duration', () => {
    const summary = summarize({
      ...base,
      decisions: [
        entry({}),
        entry({ decision: 'skip', outcome: null }),
        entry({ decision: 'force-kill', action: 'SIGKILL', outcome: 'killed' }),
        entry({ decision: 'graceful', outcome: 'refused' }),
      ],
    });

    assert.equal(summary.graceful, 1);
    assert.equal(summary.forced, 1);
    assert.equal(summary.refused, 1);
    assert.equal(summary.wrongKills, 0);
    assert.equal(summary.durationS, 15.2);
    assert.equal(summary.tools, 'stand-in');
  });

  it('takes wrong kills from the host, whatever the log says', () => {
    const victim = sim({ role: 'core', exit: killed });

    const summary = summarize({
      ...base,
      decisions: [],
      exitsDuringRun: [victim],
      wrongKills: [{ process: victim, reason: 'the core must never...' }],
    });

    assert.equal(summary.wrongKills, 1);
    assert.match(summary.problems[0] ?? '', /^wrong kill: core 4210/);
  });

  it('flags signal deaths the enforcer did not log as forced kills', () => {
    const summary = summarize({
      ...base,
      decisions: [],
      exitsDuringRun: [sim({ mb: 150, exit: killed })],
    });

    assert.equal(summary.observedSignalDeaths, 1);
    assert.match(
      summary.problems.join('\n'),
      /saw 1 worker\(s\) die of a signal, but the enforcer logged 0/,
    );
  });
});

describe('demoScenario', () => {
  it('keeps every scripted step within the story', () => {
    for (const seconds of [10, 15, 60, 600]) {
      const scenario = demoScenario(seconds);
      assert.ok(lastStepMs(scenario) < scenario.durationMs);
    }
  });

  it('refuses a duration out of range, naming it', () => {
    assert.throws(() => demoScenario(9), /duration must be .* got 9/);
    assert.throws(() => demoScenario(12.5), /got 12.5/);
  });

  it('gives a configuration that parseConfig accepts', () => {
    const parsed = parseConfig(demoConfig(demoScenario(60)));

    assert.ok(parsed.ok, JSON.stringify(parsed.ok ? [] : parsed.problems));
    assert.equal(parsed.config.apps.shop?.limitMb, 120);
    assert.equal(parsed.config.unlistedApps, 'ignore');
  });
});
