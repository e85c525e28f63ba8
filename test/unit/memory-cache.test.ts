import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ProcStat } from '../../agent/host.ts';
import { MemoryCache, processKey } from '../../agent/memory-cache.ts';

const figures = { privateDirtyKb: 4096, swapKb: 0, rssKb: 9000 };

function stat(pid: number, faults: number, rssPages: number): ProcStat {
  return {
    pid,
    comm: 'ruby',
    state: 'S',
    ppid: 1,
    pgrp: 1,
    startTime: 77,
    faults,
    rssPages,
  };
}

describe('MemoryCache', () => {
  describe('lookup', () => {
    const cases: [string, ProcStat, number, boolean][] = [
      ['nothing moved: the kept figures', stat(10, 500, 2250), 1_000, true],
      ['a page fault since: read again', stat(10, 501, 2250), 1_000, false],
      ['resident set changed: read again', stat(10, 500, 2249), 1_000, false],
      [
        'older than the maximum age: read again',
        stat(10, 500, 2250),
        30_000,
        false,
      ],
      [
        'another process on that pid: read again',
        { ...stat(10, 500, 2250), startTime: 78 },
        1_000,
        false,
      ],
    ];
    for (const [title, now, at, hit] of cases) {
      it(title, () => {
        const cache = new MemoryCache(30_000);
        const first = stat(10, 500, 2250);
        cache.beginSample(new Set([processKey(first)]));
        cache.store(first, figures, 0);
        cache.beginSample(new Set([processKey(first), processKey(now)]));
        assert.equal(cache.lookup(now, at), hit ? figures : undefined);
      });
    }
  });

  it('forgets every figure when a Passenger process has exited', () => {
    // Pages the leaver shared are now private to the others.
    const cache = new MemoryCache();
    const worker = stat(10, 500, 2250);
    const sibling = stat(11, 300, 2000);
    cache.beginSample(new Set([processKey(worker), processKey(sibling)]));
    cache.store(worker, figures, 0);
    cache.beginSample(new Set([processKey(worker)]));
    assert.equal(cache.lookup(worker, 1), undefined);
  });

  it('keeps the figures when a process only joins', () => {
    const cache = new MemoryCache();
    const worker = stat(10, 500, 2250);
    cache.beginSample(new Set([processKey(worker)]));
    cache.store(worker, figures, 0);
    cache.beginSample(new Set([processKey(worker), '12/90']));
    assert.equal(cache.lookup(worker, 1), figures);
  });

  it('keeps nothing for a stat without fault counters', () => {
    const cache = new MemoryCache();
    const bare: ProcStat = {
      pid: 10,
      comm: 'ruby',
      state: 'S',
      ppid: 1,
      pgrp: 1,
      startTime: 77,
    };
    cache.beginSample(new Set([processKey(bare)]));
    cache.store(bare, figures, 0);
    assert.equal(cache.lookup(bare, 1), undefined);
    assert.deepEqual(cache.counts, { hits: 0, reads: 1 });
  });
});
