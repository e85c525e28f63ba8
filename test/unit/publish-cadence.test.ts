import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AppFigures, HostFigures } from '../../core/metric-schema.ts';
import {
  DEFAULT_CADENCE,
  INITIAL_CADENCE,
  planPublish,
  type CadenceState,
} from '../../core/publish-cadence.ts';

const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);
const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;

function app(name: string, over: string[] = [], suspects: string[] = []) {
  const figures: AppFigures = {
    app: name,
    memoryMb: [100, 200],
    overLimit: over,
    orphanSuspects: suspects,
  };
  return figures;
}

function host(at: number, apps: AppFigures[]): HostFigures {
  return { host: 'i-0123456789abcdef0', at, apps };
}

const calm = [app('shop'), app('blog')];
const shopOver = [app('shop', ['w/1/1']), app('blog')];
const shopOverTwice = [app('shop', ['w/1/1', 'w/2/2']), app('blog')];
const blogOrphan = [
  app('shop', ['w/1/1', 'w/2/2']),
  app('blog', [], ['w/9/9']),
];

/** offset, what the host looks like, then what must go out. */
type Row = [
  at: number,
  apps: AppFigures[],
  expected:
    | 'nothing'
    | {
        census?: boolean;
        heartbeat?: boolean;
        urgent?: boolean;
        detail?: string[];
      },
];

/**
 * One host through a quiet start, a worker crossing its limit soon after
 * a census, a second one within the gap, an orphan, the trouble clearing,
 * and its next heartbeat.
 */
const timeline: Row[] = [
  [0, calm, { census: true, heartbeat: true }],
  [5 * S, calm, 'nothing'],
  [1 * MIN, calm, 'nothing'],
  [4 * MIN + 59 * S, calm, 'nothing'],
  [5 * MIN, calm, { census: true }],
  [5 * MIN + 5 * S, shopOver, 'nothing'], // within the 10 s gap
  [5 * MIN + 10 * S, shopOver, { urgent: true, detail: ['shop'] }],
  [5 * MIN + 15 * S, shopOverTwice, 'nothing'], // new, but the gap holds it
  [5 * MIN + 20 * S, shopOverTwice, { urgent: true, detail: ['shop'] }],
  [5 * MIN + 40 * S, shopOverTwice, 'nothing'], // same trouble, not due yet
  [6 * MIN + 20 * S, shopOverTwice, { detail: ['shop'] }],
  [6 * MIN + 30 * S, blogOrphan, { urgent: true, detail: ['blog', 'shop'] }],
  [7 * MIN, calm, 'nothing'], // cleared, shown at the next minute
  [7 * MIN + 30 * S, calm, { detail: ['blog', 'shop'] }],
  [8 * MIN + 30 * S, calm, 'nothing'], // the clearing went out once
  [10 * MIN, calm, { census: true }],
  [3 * HOUR, calm, { census: true, heartbeat: true }],
];

describe('publish cadence', () => {
  describe('planPublish', () => {
    let state: CadenceState = INITIAL_CADENCE;
    for (const [offset, apps, expected] of timeline) {
      const label =
        expected === 'nothing'
          ? 'nothing'
          : [
              expected.census && 'census',
              expected.heartbeat && 'heartbeat',
              expected.urgent && 'urgent',
              expected.detail && `detail ${expected.detail.join('+')}`,
            ]
              .filter(Boolean)
              .join(', ');
      it(`at +${offset / S} s publishes ${label}`, () => {
        const plan = planPublish(state, host(T0 + offset, apps), T0 + offset);
        if (expected === 'nothing') {
          assert.equal(plan.publish, false, plan.reason);
          assert.equal(plan.state, state);
          return;
        }
        assert.equal(plan.publish, true, plan.reason);
        assert.deepEqual(
          {
            census: plan.census,
            heartbeat: plan.heartbeat,
            urgent: plan.urgent,
            detail: plan.detailApps,
          },
          {
            census: expected.census ?? false,
            heartbeat: expected.heartbeat ?? false,
            urgent: expected.urgent ?? false,
            detail: expected.detail ?? [],
          },
        );
        state = plan.state;
      });
    }

    it('says why it holds back a new crossing', () => {
      const justSent: CadenceState = {
        ...INITIAL_CADENCE,
        lastPublishAt: T0,
        lastCensusAt: T0,
        lastHeartbeatAt: T0,
      };
      const plan = planPublish(justSent, host(T0 + S, shopOver), T0 + S);
      assert.equal(plan.publish, false);
      assert.equal(
        plan.reason,
        'held back by the 10000 ms gap: new trouble in shop',
      );
    });

    it('publishes again at once when the clock was set back', () => {
      const ahead: CadenceState = {
        ...INITIAL_CADENCE,
        lastPublishAt: T0 + HOUR,
        lastCensusAt: T0 + HOUR,
        lastHeartbeatAt: T0 + HOUR,
      };
      const plan = planPublish(ahead, host(T0, calm), T0);
      assert.equal(plan.publish, true);
      assert.equal(plan.census, true);
    });

    it('keeps the defaults of its cost note', () => {
      assert.deepEqual(DEFAULT_CADENCE, {
        censusIntervalMs: 5 * MIN,
        troubleIntervalMs: MIN,
        heartbeatIntervalMs: 3 * HOUR,
        minGapMs: 10 * S,
      });
    });
  });
});
