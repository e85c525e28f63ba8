import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { collectSample } from '../../agent/collector.ts';
import type { ProcRead, ProcStat } from '../../agent/host.ts';
import {
  byPid,
  CannedTools,
  extras,
  MEMORY_STATS,
  now,
  POOL_XML,
  PYAPP,
  WatchedProc,
} from './collector-stand-ins.ts';
import {
  buildProcTree,
  testbedProcesses,
  type FakeTree,
} from './fake-proc-tree.ts';

describe('collectSample as a plain user', () => {
  let tree: FakeTree;

  before(() => {
    tree = buildProcTree([...testbedProcesses(), ...extras], ['5005']);
  });
  after(() => tree.remove());

  describe('when /proc denies memory (not root)', () => {
    const denied = new Set([4210, 4318]);

    it('takes Private figures from passenger-memory-stats', async () => {
      const tools = new CannedTools(
        { stdout: POOL_XML },
        { stdout: MEMORY_STATS },
      );
      const sample = await collectSample({
        host: 'web1',
        proc: new WatchedProc(tree.root, denied),
        tools,
        now,
      });
      const workers = byPid(sample);
      assert.equal(sample.source, 'memory-stats');
      assert.deepEqual(tools.calls, ['poolXml', 'memoryStats']);
      // 306.0 MB and 87.3 MB, printed with one decimal
      assert.equal(workers.get(4210)?.memory.privateDirtyKb, 313344);
      assert.equal(workers.get(4318)?.memory.privateDirtyKb, 89395);
      assert.equal(workers.get(4229)?.memory.privateDirtyKb, 128916);
      assert.ok(sample.problems.some((p) => /2 of them/.test(p)));
    });

    it('drops a figure when the pid changed hands meanwhile', async () => {
      class ReusedPidProc extends WatchedProc {
        statReads = 0;
        override stat(pid: number): ProcRead<ProcStat> {
          const read = super.stat(pid);
          if (pid !== 4210 || !read.ok || ++this.statReads === 1) return read;
          return { ok: true, value: { ...read.value, startTime: 999999 } };
        }
      }
      const sample = await collectSample({
        host: 'web1',
        proc: new ReusedPidProc(tree.root, denied),
        tools: new CannedTools({ stdout: POOL_XML }, { stdout: MEMORY_STATS }),
        now,
      });
      const workers = byPid(sample);
      assert.equal(workers.get(4210)?.memory.privateDirtyKb, null);
      assert.equal(workers.get(4318)?.memory.privateDirtyKb, 89395);
      assert.ok(sample.problems.some((p) => /4210 .*exited while/.test(p)));
    });

    it('never takes a Resident column for private memory', async () => {
      const resident = MEMORY_STATS.replace(
        /^(PID +VMSize +)Private( +Name)$/m,
        '$1Resident$2',
      );
      assert.notEqual(resident, MEMORY_STATS);
      const sample = await collectSample({
        host: 'web1',
        proc: new WatchedProc(tree.root, denied),
        tools: new CannedTools({ stdout: POOL_XML }, { stdout: resident }),
        now,
      });
      const worker = byPid(sample).get(4210);
      assert.equal(worker?.memory.privateDirtyKb, null);
      assert.equal(worker?.memory.rssKb, 313344);
      assert.equal(sample.source, 'proc');
    });

    it('leaves memory unknown when the tool cannot help', async () => {
      const sample = await collectSample({
        host: 'web1',
        proc: new WatchedProc(tree.root, denied),
        tools: new CannedTools({ stdout: POOL_XML }, { missing: true }),
        now,
      });
      assert.equal(sample.source, 'proc');
      assert.equal(byPid(sample).get(4210)?.memory.privateDirtyKb, null);
      assert.ok(
        sample.problems.some((p) =>
          /2 worker.*passenger-memory-stats could not be run/.test(p),
        ),
      );
    });
  });

  describe('when /proc denies working directories', () => {
    class NoCwdProc extends WatchedProc {
      override cwd(pid: number): ProcRead<string> {
        return { ok: false, failure: 'denied', detail: `${pid}/cwd: EACCES` };
      }
    }

    it('names a listed Python worker by its pool group', async () => {
      const sample = await collectSample({
        host: 'web1',
        proc: new NoCwdProc(tree.root),
        tools: new CannedTools({ stdout: POOL_XML }),
        now,
      });
      assert.deepEqual(byPid(sample).get(4318)?.app, {
        group: PYAPP,
        root: '/data/pyapp/current',
      });
    });

    it('leaves out an unlisted Python worker, saying why', async () => {
      const sample = await collectSample({
        host: 'web1',
        proc: new NoCwdProc(tree.root),
        tools: new CannedTools({ stdout: POOL_XML }),
        now,
      });
      assert.equal(byPid(sample).has(5003), false);
      assert.ok(
        sample.problems.some((p) => /pid 5003 .*its app is unknown/.test(p)),
        sample.problems.join('\n'),
      );
    });
  });
});
