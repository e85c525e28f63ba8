/**
 * Brings a fresh test bed's pool up to strength. Passenger spawns an
 * app's minimum of workers only after its first request, so each app gets
 * as many concurrent requests as its minimum; then we wait until the pool
 * lists them all, asking again for apps that fell behind.
 */
import type { AppName, Testbed } from '../testbed.ts';
import { readPool, serving } from './pool.ts';
import { sleep, waitFor } from './wait.ts';

export async function warmUp(
  testbed: Testbed,
  minInstances: Partial<Record<AppName, number>>,
  timeoutMs: number,
): Promise<void> {
  const names = Object.keys(testbed.apps) as AppName[];
  const lastReplies = new Map<AppName, string>();
  const nudge = (name: AppName, count: number) =>
    Promise.all(
      Array.from({ length: count }, () =>
        testbed
          .request('/', { app: name, timeoutMs: 30_000 })
          .then((reply) => `${reply.status} ${reply.body.slice(0, 200)}`)
          .catch((error: Error) => error.message)
          .then((text) => lastReplies.set(name, text)),
      ),
    );
  await Promise.all(names.map((name) => nudge(name, minInstances[name] ?? 1)));

  let polls = 0;
  const counts = new Map<AppName, number>();
  await waitFor(
    'every app to reach its minimum of workers',
    async () => {
      polls++;
      const processes = serving(await readPool().catch(() => []));
      const behind: AppName[] = [];
      for (const name of names) {
        const root = testbed.apps[name]?.root;
        const count = processes.filter((p) => p.appRoot === root).length;
        counts.set(name, count);
        if (count < (minInstances[name] ?? 1)) behind.push(name);
      }
      if (behind.length === 0) return true;
      if (polls % 10 === 0) await Promise.all(behind.map((n) => nudge(n, 1)));
      return undefined;
    },
    { timeoutMs, intervalMs: 500 },
    () =>
      names
        .map(
          (name) =>
            `${name} ${counts.get(name) ?? 0}/${minInstances[name]} ` +
            `(last reply: ${lastReplies.get(name) ?? 'none'})`,
        )
        .join('; '),
  );
  // Let spawning settle so that the first sample sees a quiet pool.
  await sleep(500);
}
