/**
 * The real /proc, narrowed to the simulated host's own children.
 *
 * The demo runs on whatever machine `npm start` is typed on, which may
 * run a real Passenger, other test suites' titled processes, or a second
 * demo. The enforcer must police only the processes this demo started, so
 * every other pid looks as if it had already exited: it is never listed,
 * and a re-check before an action finds it gone and does nothing.
 */
import type { MemoryFigures } from '../../core/worker.ts';
import type { ProcRead, ProcSource, ProcStat } from '../host.ts';

export class ScopedProc implements ProcSource {
  readonly #inner: ProcSource;
  readonly #isOurs: (pid: number) => boolean;

  /** `isOurs` says whether a pid is one of the demo's live children. */
  constructor(inner: ProcSource, isOurs: (pid: number) => boolean) {
    this.#inner = inner;
    this.#isOurs = isOurs;
  }

  get clockTicks(): number {
    return this.#inner.clockTicks;
  }

  listPids(): number[] {
    return this.#inner.listPids().filter((pid) => this.#isOurs(pid));
  }

  stat(pid: number): ProcRead<ProcStat> {
    return this.#scoped(pid, () => this.#inner.stat(pid));
  }

  cmdline(pid: number): ProcRead<string> {
    return this.#scoped(pid, () => this.#inner.cmdline(pid));
  }

  memory(pid: number): ProcRead<MemoryFigures> {
    return this.#scoped(pid, () => this.#inner.memory(pid));
  }

  cwd(pid: number): ProcRead<string> {
    return this.#scoped(pid, () => this.#inner.cwd(pid));
  }

  uid(pid: number): ProcRead<number> {
    return this.#scoped(pid, () => this.#inner.uid(pid));
  }

  bootTime(): number {
    return this.#inner.bootTime();
  }

  #scoped<T>(pid: number, read: () => ProcRead<T>): ProcRead<T> {
    if (this.#isOurs(pid)) return read();
    return {
      ok: false,
      failure: 'gone',
      detail: `pid ${pid} is not a live process of the simulated host`,
    };
  }
}
