import assert from 'node:assert/strict';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { collectSample } from '../../agent/collector.ts';
import { startTitledProcess } from '../../agent/demo/titled-process.ts';
import { failureOf, LinuxProc, parseStat } from '../../agent/proc.ts';
import { byPid, CannedTools } from './collector-stand-ins.ts';
import {
  buildProcTree,
  TESTBED_BTIME,
  testbedProcesses,
  type FakeProcess,
  type FakeTree,
} from './fake-proc-tree.ts';

const RUBY_TITLE = 'Passenger RubyApp: /data/fleetapp/current (production)';

const awkward: FakeProcess[] = [
  // a comm with spaces and both parentheses, as any program may pick
  {
    pid: 5002,
    comm: 'x) (y z',
    startTime: 180001,
    cmdline: `${RUBY_TITLE}\0\0\0`,
    memory: { privateDirtyKb: 2048, rssKb: 4096, swapKb: 512 },
  },
  // an old kernel without smaps_rollup: the mappings must be summed
  {
    pid: 5003,
    comm: 'ruby',
    startTime: 180002,
    cmdline: `${RUBY_TITLE}\0`,
    memory: {
      privateDirtyKb: 128916,
      rssKb: 141512,
      swapKb: 7,
      smapsOnly: true,
    },
  },
  // exited and not reaped yet: empty memory files
  { pid: 5004, comm: 'ruby', state: 'Z', startTime: 180003, cmdline: '' },
];

describe('LinuxProc', () => {
  let tree: FakeTree;
  let proc: LinuxProc;

  before(() => {
    tree = buildProcTree([...testbedProcesses(), ...awkward], ['5005']);
    proc = new LinuxProc({ root: tree.root });
  });
  after(() => tree.remove());

  describe('listPids', () => {
    it('lists numeric entries in ascending order and nothing else', () => {
      assert.deepEqual(
        proc.listPids(),
        [4088, 4091, 4169, 4210, 4229, 4244, 4263, 4309, 4318, 4386].concat([
          5002, 5003, 5004, 5005,
        ]),
      );
    });

    it('throws naming the root when the root is missing', () => {
      const missing = new LinuxProc({ root: join(tree.root, 'nowhere') });
      assert.throws(() => missing.listPids(), /nowhere: ENOENT/);
    });
  });

  describe('stat', () => {
    it('reads a real stat line of the testbed', () => {
      assert.deepEqual(proc.stat(4210), {
        ok: true,
        value: {
          pid: 4210,
          comm: 'ruby',
          state: 'S',
          ppid: 4169,
          pgrp: 4091,
          startTime: 174632,
          // minflt (field 10) + majflt (field 12); rss (field 24)
          faults: 78444,
          rssPages: 81392,
        },
      });
    });

    it("splits after the last ')' when comm holds a space", () => {
      const read = proc.stat(4386);
      assert.ok(read.ok);
      assert.equal(read.value.comm, 'Passenger NodeA');
      assert.equal(read.value.startTime, 174693);
      assert.equal(read.value.ppid, 4091);
    });

    it("splits after the last ')' when comm holds parentheses", () => {
      const read = proc.stat(5002);
      assert.ok(read.ok);
      assert.equal(read.value.comm, 'x) (y z');
      assert.equal(read.value.startTime, 180001);
    });

    it('reports the state of a zombie', () => {
      const read = proc.stat(5004);
      assert.ok(read.ok);
      assert.equal(read.value.state, 'Z');
    });

    it('says gone, with the path, for a vanished pid', () => {
      const read = proc.stat(5005);
      assert.equal(read.ok, false);
      assert.ok(!read.ok);
      assert.equal(read.failure, 'gone');
      assert.match(read.detail, /5005\/stat: ENOENT$/);
    });
  });

  describe('cmdline', () => {
    it('keeps the NUL padding of a Ruby title', () => {
      const read = proc.cmdline(5002);
      assert.deepEqual(read, { ok: true, value: `${RUBY_TITLE}\0\0\0` });
    });

    it('keeps the NULs between the arguments of a Python worker', () => {
      const read = proc.cmdline(4318);
      assert.ok(read.ok);
      assert.equal(
        read.value,
        '/usr/bin/python3\0/usr/share/passenger/helper-scripts/wsgi-loader.py\0',
      );
    });
  });

  describe('memory', () => {
    it('reads Private_Dirty, Swap and Rss from smaps_rollup', () => {
      assert.deepEqual(proc.memory(5002), {
        ok: true,
        value: { privateDirtyKb: 2048, swapKb: 512, rssKb: 4096 },
      });
      assert.deepEqual(proc.memory(4210), {
        ok: true,
        value: { privateDirtyKb: 313392, swapKb: 0, rssKb: 325760 },
      });
    });

    it('sums every mapping of smaps when smaps_rollup is missing', () => {
      assert.deepEqual(proc.memory(5003), {
        ok: true,
        value: { privateDirtyKb: 128916, swapKb: 7, rssKb: 141512 },
      });
    });

    it('gives no figures, not zeros, for an empty file', () => {
      assert.deepEqual(proc.memory(5004), {
        ok: true,
        value: { privateDirtyKb: null, swapKb: null, rssKb: null },
      });
    });

    it('says gone for a vanished pid', () => {
      const read = proc.memory(5005);
      assert.ok(!read.ok);
      assert.equal(read.failure, 'gone');
      assert.match(read.detail, /5005\/smaps: ENOENT$/);
    });
  });

  describe('cwd and uid', () => {
    it('reads where a Python worker runs and who owns it', () => {
      assert.deepEqual(proc.cwd(4318), {
        ok: true,
        value: '/data/pyapp/releases/20260101000000',
      });
      assert.deepEqual(proc.uid(4318), { ok: true, value: 1001 });
      assert.deepEqual(proc.uid(4091), { ok: true, value: 0 });
    });

    it('says gone for a vanished pid', () => {
      assert.equal(proc.cwd(5005).ok, false);
      const read = proc.uid(5005);
      assert.ok(!read.ok);
      assert.equal(read.failure, 'gone');
    });
  });

  describe('bootTime', () => {
    it('reads btime once and keeps it', () => {
      assert.equal(proc.bootTime(), TESTBED_BTIME);
      writeFileSync(join(tree.root, 'stat'), 'btime 1\n');
      assert.equal(proc.bootTime(), TESTBED_BTIME);
    });

    it('throws naming the file when btime is missing', () => {
      const fresh = new LinuxProc({ root: join(tree.root, 'sys') });
      assert.throws(() => fresh.bootTime(), /sys\/stat: ENOENT/);
    });
  });

  describe('clockTicks', () => {
    it('is 100 when the auxiliary vector cannot be read', () => {
      assert.equal(proc.clockTicks, 100);
    });

    it('takes AT_CLKTCK from self/auxv on a 64-bit host', (t) => {
      if (!['x64', 'arm64'].includes(process.arch)) {
        t.skip(`auxv layout not built for ${process.arch}`);
        return;
      }
      const root = mkdtempSync(join(tmpdir(), 'fake-auxv-'));
      try {
        mkdirSync(join(root, 'self'));
        const vector = Buffer.alloc(48);
        vector.writeBigUInt64LE(6n, 0); // AT_PAGESZ
        vector.writeBigUInt64LE(4096n, 8);
        vector.writeBigUInt64LE(17n, 16); // AT_CLKTCK
        vector.writeBigUInt64LE(250n, 24);
        writeFileSync(join(root, 'self', 'auxv'), vector);
        assert.equal(new LinuxProc({ root }).clockTicks, 250);
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    });

    it('refuses a clockTicks option that is not a positive integer', () => {
      assert.throws(
        () => new LinuxProc({ root: tree.root, clockTicks: 0 }),
        /clockTicks must be a positive integer, got 0/,
      );
    });
  });
});

describe('parseStat', () => {
  it('refuses lines that are not stat lines', () => {
    assert.equal(parseStat(''), undefined);
    assert.equal(parseStat('12 (ruby'), undefined);
    assert.equal(parseStat('12 (ruby) S 1 2'), undefined);
    assert.equal(parseStat('12 (ruby) 7 1 2 3'), undefined);
  });
});

describe('failureOf', () => {
  const cases: [string, string][] = [
    ['ENOENT', 'gone'],
    ['ESRCH', 'gone'],
    ['EACCES', 'denied'],
    ['EPERM', 'denied'],
    ['EIO', 'unreadable'],
    ['EISDIR', 'unreadable'],
  ];
  for (const [code, failure] of cases) {
    it(`maps ${code} to ${failure}`, () => {
      const error = Object.assign(new Error(code), { code });
      assert.deepEqual(failureOf(error, '/proc/7/smaps_rollup'), {
        ok: false,
        failure,
        detail: `/proc/7/smaps_rollup: ${code}`,
      });
    });
  }
});

describe('collectSample on this machine', () => {
  it('finds a titled child with its start time and memory', async () => {
    const title = 'Passenger RubyApp: /data/selftest/current (production)';
    const child = await startTitledProcess({ title, initialMb: 4 });
    try {
      const sample = await collectSample({
        host: 'self',
        proc: new LinuxProc(),
        tools: new CannedTools({ missing: true }),
        now: Date.now,
        readPool: false,
      });
      const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const worker = byPid(sample).get(child.pid);
      assert.ok(worker, `pid ${child.pid} not among the workers`);
      assert.equal(worker.identity.startTime, Number(fields[22 - 3]));
      assert.equal(worker.app.group, '/data/selftest/current (production)');
      assert.equal(worker.kind, 'ruby');
      assert.equal(worker.uid, process.getuid?.());
      assert.ok((worker.memory.privateDirtyKb ?? 0) > 0);
      // started within the last minute, by the boot clock
      const age = Date.now() - (worker.startedAtMs ?? 0);
      assert.ok(age >= -1000 && age < 60_000, `age ${age} ms`);
    } finally {
      await child.stop();
    }
  });
});
