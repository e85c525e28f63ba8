/**
 * `npm run bench`: what the collector saves over passenger-memory-stats,
 * and how much memory the enforcer daemon keeps, on a real Passenger.
 *
 * Starts the e2e test bed with 7 workers (two of them holding 100-150 MB,
 * as in a real pool), then measures the collector's CPU per sample
 * against passenger-memory-stats's per run, checks both give the same
 * Private figure per pid, and watches the built enforcer daemon's VmRSS
 * for about 20 s. Without a Passenger it says so in one line and still
 * measures the daemon (which then finds nothing to do).
 */
import {
  passengerAvailable,
  startTestbed,
  type AppName,
  type Testbed,
} from '../test/e2e/testbed.ts';
import { bloatIdleWorker } from '../test/e2e/support/workers.ts';
import { benchCollectorCpu } from './collector-cpu.ts';
import { benchEnforcerRss, ensureBuilt } from './enforcer-rss.ts';
import { benchFleet, fleetReportLines, fleetResultKeys } from './fleet.ts';
import {
  mergeResults,
  printReport,
  RESULTS_FILE,
  writeResults,
  type BenchReport,
} from './results.ts';

async function main(): Promise<void> {
  const report: { -readonly [K in keyof BenchReport]: BenchReport[K] } = {};
  const availability = passengerAvailable();
  let testbed: Testbed | undefined;
  try {
    if (availability.ok) {
      testbed = await startTestbed({
        apps: { fleetapp: 3, otherapp: 2, nodeapp: 1, pyapp: 1 },
      });
      await bloatIdleWorker(testbed, 150, 'fleetapp');
      await bloatIdleWorker(testbed, 100, 'otherapp');
      const pids: number[] = [];
      for (const app of Object.keys(testbed.apps) as AppName[]) {
        pids.push(...(await testbed.workers(app)));
      }
      report.collector = await benchCollectorCpu(pids);
    } else {
      report.collectorSkipped = `no real Passenger: ${availability.reason}`;
      process.stdout.write(
        `bench: skipping the collector comparison: ${availability.reason}\n`,
      );
    }
    const build = await ensureBuilt();
    if (build !== 'fresh') {
      process.stdout.write(
        build === 'built'
          ? 'bench: built dist/ for the enforcer daemon\n'
          : 'bench: could not rebuild dist/; measuring the older build\n',
      );
    }
    report.enforcer = await benchEnforcerRss();
  } finally {
    await testbed?.stop();
    await writeResults(report);
  }
  printReport(report);

  const fleet = await benchFleet((line) =>
    process.stdout.write(`bench: ${line}\n`),
  );
  await mergeResults(fleetResultKeys(fleet));
  process.stdout.write(`${fleetReportLines(fleet).join('\n')}\n`);
  process.stdout.write(`bench: results merged into ${RESULTS_FILE}\n`);
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench: ${(error as Error).stack ?? error}\n`);
  process.exitCode = 1;
}
