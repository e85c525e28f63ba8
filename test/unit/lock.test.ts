import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { acquireLock } from '../../agent/lock.ts';
import { LinuxProc } from '../../agent/proc.ts';

const dir = mkdtempSync(join(tmpdir(), 'pf-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const proc = new LinuxProc();

describe('lock', () => {
  it('is taken once, refused while held, and free after release', () => {
    const path = join(dir, 'a.lock');
    const first = acquireLock(path, proc);
    assert.equal(first.ok, true);
    // The same process asking again is a second run of the same holder
    // only in tests; what matters is that a live holder is respected.
    const second = acquireLock(path, proc);
    assert.equal(second.ok, false);
    if (!second.ok)
      assert.match(
        second.reason,
        /another run \(pid \d+ since .*\) holds the lock/,
      );
    if (first.ok) first.release();
    assert.equal(existsSync(path), false);
    const third = acquireLock(path, proc);
    assert.equal(third.ok, true);
    if (third.ok) third.release();
  });

  it('takes over a lock whose holder has exited', async () => {
    const path = join(dir, 'stale.lock');
    const child = spawn('true');
    const pid = child.pid ?? 0;
    await new Promise((resolve) => child.once('exit', resolve));
    writeFileSync(path, JSON.stringify({ pid, startTime: 1, since: 'then' }));
    const attempt = acquireLock(path, proc);
    assert.equal(attempt.ok, true);
    if (!attempt.ok) return;
    assert.match(
      attempt.tookOver ?? '',
      /stale lock .* of pid \d+, which has exited/,
    );
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid);
    attempt.release();
  });

  it('takes over a lock whose pid now belongs to another process', () => {
    const path = join(dir, 'reused.lock');
    writeFileSync(
      path,
      JSON.stringify({ pid: 1, startTime: -5, since: 'then' }),
    );
    const attempt = acquireLock(path, proc);
    assert.equal(attempt.ok, true);
    if (attempt.ok) attempt.release();
  });

  it('takes over an unreadable lock file', () => {
    const path = join(dir, 'garbage.lock');
    writeFileSync(path, 'not json');
    const attempt = acquireLock(path, proc);
    assert.equal(attempt.ok, true);
    if (attempt.ok) attempt.release();
  });

  it('says why when the lock cannot be created', () => {
    const attempt = acquireLock(join(dir, 'missing-dir', 'x.lock'), proc);
    assert.equal(attempt.ok, false);
    if (!attempt.ok)
      assert.match(attempt.reason, /cannot create lock .*ENOENT/);
  });
});
