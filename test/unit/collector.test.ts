import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { collectSample, type Sample } from '../../agent/collector.ts';
import type { ToolResult } from '../../agent/host.ts';
import { LinuxProc } from '../../agent/proc.ts';
import {
  byPid,
  CannedTools,
  extras,
  FLEET,
  now,
  OTHER,
  POOL_XML,
  PY_CWD,
  PYAPP,
  WatchedProc,
} from './collector-stand-ins.ts';
import {
  buildProcTree,
  testbedProcesses,
  type FakeTree,
} from './fake-proc-tree.ts';

describe('collectSample', () => {
  let tree: FakeTree;

  before(() => {
    tree = buildProcTree([...testbedProcesses(), ...extras], ['5005']);
  });
  after(() => tree.remove());

  describe('on the testbed, as root, with the pool', () => {
    let sample: Sample;
    let tools: CannedTools;
    let proc: WatchedProc;

    before(async () => {
      tools = new CannedTools({ stdout: POOL_XML });
      proc = new WatchedProc(tree.root);
      sample = await collectSample({ host: 'web1', proc, tools, now });
    });

    it('finds exactly the app workers, with app, kind and memory', () => {
      const rows = sample.observation.workers.map((w) => [
        w.identity.pid,
        w.identity.startTime,
        w.app.group,
        w.kind,
        w.memory.privateDirtyKb,
        w.memory.rssKb,
        w.inPool,
      ]);
      assert.deepEqual(rows, [
        [4210, 174632, FLEET, 'ruby', 313392, 325760, true],
        [4229, 174638, FLEET, 'ruby', 128916, 141512, true],
        [4244, 174642, OTHER, 'ruby', 218176, 223972, true],
        [4263, 174645, FLEET, 'ruby', 5988, 18636, true],
        [4309, 174667, OTHER, 'ruby', 13364, 19352, true],
        [4318, 174670, PYAPP, 'python', 89404, 95876, true],
        [4386, 174693, '/data/nodeapp/current', 'node', 69728, 111848, true],
        [5002, 180001, OTHER, 'ruby', 2048, 4096, false],
        [5003, 180002, PYAPP, 'python', 1000, 2000, false],
      ]);
    });

    it('fills in one worker completely', () => {
      assert.deepEqual(byPid(sample).get(4318), {
        identity: { host: 'web1', pid: 4318, startTime: 174670 },
        app: { group: PYAPP, root: PY_CWD },
        kind: 'python',
        memory: { privateDirtyKb: 89404, swapKb: 0, rssKb: 95876 },
        state: 'S',
        era: 'unknown',
        uid: 1001,
        inPool: true,
        detached: false,
        sessions: 0,
        passengerVersion: '6.0.17',
        // btime 1796300922 s + 174670 ticks / 100
        startedAtMs: 1796302668700,
      });
    });

    it('lists the other Passenger and web server processes', () => {
      assert.deepEqual(
        sample.others.map((p) => [p.pid, p.role, p.startTime]),
        [
          [4088, 'watchdog', 174598],
          [4091, 'core', 174601],
          [4109, 'web-server', 174500],
          [4169, 'preloader', 174605],
          [29737, 'web-server', 900],
        ],
      );
    });

    it('leaves the zombie out and says so', () => {
      assert.equal(byPid(sample).has(5004), false);
      assert.equal(sample.problems.length, 1);
      assert.match(sample.problems[0] ?? '', /pid 5004 .*state Z/);
    });

    it('reads memory of workers only and runs passenger-status only', () => {
      assert.deepEqual(
        proc.memoryReads,
        [4210, 4229, 4244, 4263, 4309, 4318, 4386, 5002, 5003],
      );
      assert.deepEqual(tools.calls, ['poolXml']);
    });

    it('knows the pool and the Passenger version', () => {
      assert.equal(sample.observation.poolKnown, true);
      assert.equal(sample.observation.passengerVersion, '6.0.17');
      assert.equal(sample.source, 'proc');
      // the stand-in clock moves 5 ms per reading: one at start, one at end
      assert.equal(sample.elapsedMs, 5);
    });
  });

  it('marks a worker Passenger is letting go as detached', async () => {
    const xml = POOL_XML.replace(
      /(<pid>4229<\/pid>.*?<life_status>)ALIVE(<\/life_status><enabled>)ENABLED/,
      '$1SHUTTING_DOWN$2DETACHED',
    );
    assert.notEqual(xml, POOL_XML);
    const sample = await collectSample({
      host: 'web1',
      proc: new LinuxProc({ root: tree.root }),
      tools: new CannedTools({ stdout: xml }),
      now,
    });
    assert.equal(byPid(sample).get(4229)?.detached, true);
    assert.equal(byPid(sample).get(4210)?.detached, false);
  });

  describe('when the pool cannot be read', () => {
    const cases: [string, Partial<ToolResult> | Error, RegExp][] = [
      ['is missing', { missing: true }, /could not be run/],
      [
        'is not authorized',
        { exitCode: 2, stderr: 'You are not authorized' },
        /not authorized \(exit 2\).*run the agent as root/,
      ],
      ['finds no Passenger', { exitCode: 1 }, /no running Passenger/],
      [
        'times out',
        { exitCode: null, signal: 'SIGKILL', timedOut: true },
        /did not answer within its timeout/,
      ],
      ['prints no XML', { stdout: 'Phusion Passenger' }, /not a pool/],
      ['throws', new Error('boom'), /could not be run: boom/],
    ];
    for (const [what, pool, problem] of cases) {
      it(`knows no pool when passenger-status ${what}`, async () => {
        const sample = await collectSample({
          host: 'web1',
          proc: new LinuxProc({ root: tree.root }),
          tools: new CannedTools(pool),
          now,
        });
        assert.equal(sample.observation.poolKnown, false);
        assert.ok(sample.observation.workers.every((w) => !('inPool' in w)));
        assert.ok(
          sample.problems.some((p) => problem.test(p)),
          sample.problems.join('\n'),
        );
        // a Python worker is then named by where it runs
        assert.equal(byPid(sample).get(4318)?.app.group, PY_CWD);
      });
    }

    it('trusts only the listed pids of a partly read pool', async () => {
      const xml = POOL_XML.replace('<pid>4263</pid>', '<pid>x</pid>');
      const sample = await collectSample({
        host: 'web1',
        proc: new LinuxProc({ root: tree.root }),
        tools: new CannedTools({ stdout: xml }),
        now,
      });
      const workers = byPid(sample);
      assert.equal(sample.observation.poolKnown, false);
      assert.equal(workers.get(4210)?.inPool, true);
      assert.equal(workers.get(4263)?.inPool, undefined);
      assert.equal(workers.get(5002)?.inPool, undefined);
      assert.ok(sample.problems.some((p) => p.includes('stay unknown')));
    });
  });
});
