import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  fleetStatus,
  renderStatus,
  runStatus,
  type StatusSources,
} from '../../agent/cli/status-command.ts';
import type { GraceRecord } from '../../core/records.ts';
import { InMemoryRecordStore } from '../../lambdas/store/in-memory-record-store.ts';

const NOW = Date.UTC(2026, 10, 3, 12, 0, 0);
const OPTIONS = { recentLimit: 20, silentAfterMs: 6 * 3600_000 };

function record(host: string, pid: number, deadline: number): GraceRecord {
  return {
    identity: { host, pid, startTime: 4242 },
    app: '/data/shop/current',
    cause: 'memory',
    action: { type: 'detach' },
    markedAt: NOW - 20_000,
    deadline,
    memoryKb: 512_000,
    limitKb: 409_600,
    measure: 'private',
  };
}

/** Prepare: one worker in grace, one overdue, one audit line per host. */
async function seededStore(): Promise<InMemoryRecordStore> {
  const store = new InMemoryRecordStore();
  const mark = await store.claimGraceful(
    record('i-0aaa', 101, NOW + 25_000),
    'order-1',
    NOW - 20_000,
  );
  await store.recordOutcome(
    mark,
    { status: 'detached', reason: 'detached', at: NOW - 19_000 },
    NOW - 18_000,
  );
  await store.claimGraceful(record('i-0bbb', 202, NOW - 3_000), 'order-2', NOW);
  await store.appendAudit([
    {
      at: NOW - 19_000,
      host: 'i-0aaa',
      app: '/data/shop/current',
      pid: 101,
      startTime: 4242,
      decision: 'graceful',
      action: 'detach',
      reason: 'private 500 MB over the 400 MB limit',
      outcome: 'detached',
      memoryKb: 512_000,
      limitKb: 409_600,
      orderId: 'order-1',
    },
    {
      at: NOW - 60_000,
      host: 'i-0ccc',
      app: '/data/blog/current',
      pid: 303,
      startTime: 99,
      decision: 'force-kill',
      action: 'SIGKILL',
      reason: 'still alive at its deadline',
      outcome: 'killed',
      memoryKb: null,
      limitKb: null,
    },
  ]);
  return store;
}

function capture(): { text: () => string; restore: () => void } {
  const chunks: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: string) => {
    chunks.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  return {
    text: () => chunks.join(''),
    restore: () => (process.stdout.write = write),
  };
}

describe('fleetStatus', () => {
  it('lists workers in grace with the seconds left, earliest deadline first', async () => {
    const store = await seededStore();

    const status = await fleetStatus({ store, now: NOW }, OPTIONS);

    assert.deepEqual(
      status.inGrace.map((row) => [
        row.host,
        row.pid,
        row.state,
        row.secondsLeft,
      ]),
      [
        ['i-0bbb', 202, 'claimed', -3],
        ['i-0aaa', 101, 'in-grace', 25],
      ],
    );
    assert.equal(status.inGrace[1]?.memoryMb, 500);
    assert.equal(status.inGrace[1]?.limitMb, 400);
  });

  it('asks the metrics about every host the table knows', async () => {
    const store = await seededStore();
    const asked: string[][] = [];
    const metrics = {
      silentHosts: async (hosts: readonly string[]) => {
        asked.push([...hosts]);
        return ['i-0ccc'];
      },
    };

    const status = await fleetStatus({ store, metrics, now: NOW }, OPTIONS);

    assert.deepEqual(asked, [['i-0aaa', 'i-0bbb', 'i-0ccc']]);
    assert.deepEqual(status.silentAgents, {
      available: true,
      checkedHosts: 3,
      hosts: ['i-0ccc'],
    });
  });

  it('says why silent agents are missing when CloudWatch fails', async () => {
    const store = await seededStore();
    const metrics = {
      silentHosts: async (): Promise<string[]> => {
        throw new Error('Rate exceeded');
      },
    };

    const status = await fleetStatus({ store, metrics, now: NOW }, OPTIONS);

    assert.deepEqual(status.silentAgents, {
      available: false,
      reason: 'CloudWatch: Rate exceeded',
    });
    assert.equal(status.recent.length, 2);
  });
});

describe('renderStatus', () => {
  it('shows time left, overdue marks, outcomes and the missing metrics', async () => {
    const status = await fleetStatus(
      { store: await seededStore(), now: NOW },
      OPTIONS,
    );

    const text = renderStatus(status);

    assert.match(text, /Workers in grace: 2/);
    assert.match(text, /i-0aaa .* in-grace .* in 25s at 12:00:25Z/);
    assert.match(text, /i-0bbb .* claimed .* overdue 3s since 11:59:57Z/);
    assert.match(text, /i-0ccc .* force-kill +SIGKILL +killed/);
    assert.match(text, /Silent agents: not available \(no CloudWatch reader/);
  });

  it('says none when the table is empty', async () => {
    const status = await fleetStatus(
      { store: new InMemoryRecordStore(), now: NOW },
      OPTIONS,
    );

    const text = renderStatus(status);

    assert.match(text, /Workers in grace: none/);
    assert.match(text, /Recent actions: none/);
  });
});

describe('runStatus', () => {
  it('prints JSON with --json, limited by --limit', async () => {
    const sources: StatusSources = { store: await seededStore(), now: NOW };
    const out = capture();
    let code: number;
    try {
      code = await runStatus({ json: true, limit: '1' }, sources);
    } finally {
      out.restore();
    }

    const printed = JSON.parse(out.text()) as {
      recent: unknown[];
      inGrace: unknown[];
    };
    assert.equal(code, 0);
    assert.equal(printed.recent.length, 1);
    assert.equal(printed.inGrace.length, 2);
  });

  it('refuses a bad --limit, naming the flag', async () => {
    const sources: StatusSources = {
      store: new InMemoryRecordStore(),
      now: NOW,
    };

    await assert.rejects(
      runStatus({ limit: 'ten' }, sources),
      /--limit must be a whole number from 1 to 1000 \(got "ten"\)/,
    );
  });

  it('turns a failing table read into one clear error', async () => {
    const store = new InMemoryRecordStore();
    store.openRecords = async () => {
      throw new Error('ResourceNotFoundException: no such table');
    };

    await assert.rejects(
      runStatus({}, { store, now: NOW }),
      /cannot read the fleet table: ResourceNotFoundException/,
    );
  });

  it('asks for the table name when none is given', async () => {
    const saved = process.env.PASSENGER_FLEET_TABLE_NAME;
    delete process.env.PASSENGER_FLEET_TABLE_NAME;
    try {
      await assert.rejects(
        runStatus({}),
        /--table must name the fleet's DynamoDB table/,
      );
    } finally {
      if (saved !== undefined) process.env.PASSENGER_FLEET_TABLE_NAME = saved;
    }
  });
});
