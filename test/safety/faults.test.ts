/**
 * Faults: for 1,000 simulated controller ticks, 30 % of every AWS call
 * (agents' PutMetricData, the controller's Parameter Store, CloudWatch,
 * SSM and DynamoDB calls) fails by throttling, a server error or a
 * timeout whose change went through; a DynamoDB failure kills the tick
 * part-way, as it would kill the Lambda invocation. Besides, SSM delivers
 * commands late (after their notAfter) or never, agents restart, some
 * inside a grace time (ending the commands waiting for deadlines, whose
 * promises the agent adopts from the deadline spool when it is back), and
 * instances vanish. The sim's Ledger judges.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { realController } from '../../sim/real-controller.ts';
import { runSimulation, type RunOptions } from '../../sim/run.ts';
import { SafetyTally } from './support/tally.ts';

const tally = new SafetyTally(import.meta.url);
const TICKS = 1_000;

function faultyFleet(seed: number, hosts: number, died: number[]): RunOptions {
  return {
    seed,
    hosts,
    apps: [{ name: 'shop', limitMb: 300, workersPerHost: 4 }],
    durationMs: (TICKS + 1) * 60_000,
    controller: realController(),
    config: {
      defaults: { limitMb: 300, graceSeconds: 30, gracefulAction: 'detach' },
      // The breaker would rightly stop this much trouble at once; this
      // run is about the actions themselves.
      fleet: { breakerPercent: 100 },
    },
    world: { leakShare: 0.3, leakHours: [0.5, 4], frozenShare: 0.3 },
    faultShare: 0.3,
    restartsPerHostDay: 12,
    restartInGraceShare: 0.3,
    // A restart as systemd makes it (RestartSec=10 in
    // deploy/passenger-fleet-agent.service, then Node's start-up). An
    // agent down for minutes while its command died too leaves the
    // controller as the only backup, and with 30 % of its calls failing
    // that can take several ticks.
    agentDownMs: [10_000, 20_000],
    vanishingHosts: 2,
    delivery: { lateShare: 0.1, lostShare: 0.05 },
    onTickDied: (at) => void died.push(at),
  };
}

describe('safety: 1,000 ticks with 30 % of AWS calls failing', () => {
  for (const [seed, hosts] of [
    [31, 16],
    [2024, 32],
  ] as const) {
    it(`no wrong kill, one action, every deadline: seed ${seed}, ${hosts} hosts`, async () => {
      const died: number[] = [];
      const report = await runSimulation(faultyFleet(seed, hosts, died));

      tally.recordSimulation(report, `faults, seed ${seed}, ${hosts} hosts`);
      // The faults must have bitten, or the zeros above prove nothing.
      assert.ok(report.ticks >= TICKS, `${report.ticks} ticks`);
      assert.ok(died.length >= 20, `${died.length} ticks died`);
      const { sendCommandCalls, listInvocationCalls } = report.usage.commands;
      assert.ok(sendCommandCalls >= 20, `${sendCommandCalls} commands sent`);
      // Sends whose answer was lost were looked up by order id.
      assert.ok(listInvocationCalls >= 5, `${listInvocationCalls} lookups`);
      assert.ok(report.usage.agentRestarts >= 10);
      // Restarts ended commands that were waiting for deadlines, and the
      // agents kept those deadlines from the spool.
      const adopted = report.usage.adoptedDeadlines;
      assert.ok(adopted >= 3, `${adopted} deadlines adopted`);
      assert.ok(report.frozenMarked >= 3, `${report.frozenMarked} frozen`);
      assert.deepEqual(report.overdue, []);
      assert.equal(report.earlyKills, 0, JSON.stringify(report.violations));
    });
  }
});
