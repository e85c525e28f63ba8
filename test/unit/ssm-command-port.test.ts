import assert from 'node:assert/strict';
import { beforeEach, describe, it } from 'node:test';
import {
  GetCommandInvocationCommand,
  InvalidCommandId,
  ListCommandInvocationsCommand,
  InvalidInstanceId,
  InvocationDoesNotExist,
  SendCommandCommand,
  SSMClient,
  SSMServiceException,
} from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import type { OrderParameters } from '../../core/order-codec.ts';
import {
  CommandNotSentError,
  type SentCommand,
} from '../../lambdas/ports/commands.ts';
import {
  CommandOutcomeUnknownError,
  CommandRejectedError,
  DoubtfulDataError,
  ThrottledError,
} from '../../lambdas/aws/aws-errors.ts';
import { commandStatusOf } from '../../lambdas/aws/command-status.ts';
import {
  SsmCommandPort,
  type SsmCommandPortOptions,
} from '../../lambdas/aws/ssm-command-port.ts';
import {
  answeringHandler,
  instantRetries,
  OFFLINE_CLIENT,
} from './sdk-wire-stand-ins.ts';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 30);
const HOST = 'i-0123456789abcdef0';
const OTHER = 'i-0fedcba9876543210';
const DOCUMENT = 'PassengerFleet-Orders';
const ORDER = '6c1f8d2e-4b7a-4f00-9a55-0d3e2c1b7a90';

const client = new SSMClient({ ...OFFLINE_CLIENT, maxAttempts: 1 });
const ssm = mockClient(client);

const parameters: OrderParameters = {
  instanceId: HOST,
  app: '/data/shop/current',
  measure: 'private',
  notAfter: String(Math.floor(NOW / 1000) + 120),
  orders: 'pick:2:detach:60:524288:-',
};

function port(options: Partial<SsmCommandPortOptions> = {}) {
  return new SsmCommandPort({
    client,
    documentName: DOCUMENT,
    now: () => NOW,
    ...options,
  });
}

function sent(commandId: string, host = HOST): SentCommand {
  return { commandId, host, sentAt: NOW - 30_000 };
}

function ssmError(name: string, status: number): SSMServiceException {
  return new SSMServiceException({
    name,
    message: `${name} happened`,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status, attempts: 3 },
  });
}

describe('SsmCommandPort', () => {
  beforeEach(() => {
    ssm.reset();
  });

  describe('send', () => {
    it('sends one command to one host, every parameter a one-element list', async () => {
      ssm.on(SendCommandCommand).resolves({ Command: { CommandId: 'cmd-1' } });

      const command = await port({ documentVersion: '7' }).send(
        HOST,
        parameters,
        45,
        ORDER,
      );

      assert.deepEqual(command, {
        commandId: 'cmd-1',
        host: HOST,
        sentAt: NOW,
      });
      assert.deepEqual(ssm.commandCalls(SendCommandCommand)[0]?.args[0].input, {
        DocumentName: DOCUMENT,
        DocumentVersion: '7',
        InstanceIds: [HOST],
        Parameters: {
          instanceId: [HOST],
          app: ['/data/shop/current'],
          measure: ['private'],
          notAfter: [parameters.notAfter],
          orders: ['pick:2:detach:60:524288:-'],
        },
        TimeoutSeconds: 45,
        Comment: `passenger-fleet order ${ORDER}`,
        CloudWatchOutputConfig: { CloudWatchOutputEnabled: false },
      });
    });

    for (const [orderId, rule] of [
      ['', /orderId must be letters, digits or _.:- \(got ""\)/],
      ['a b', /orderId must be letters, digits or _.:- \(got "a b"\)/],
      ['x'.repeat(79), /orderId must be at most 78 characters .* \(got 79\)/],
    ] as const) {
      it(`refuses order id ${JSON.stringify(orderId.slice(0, 8))}, no call`, async () => {
        await assert.rejects(port().send(HOST, parameters, 30, orderId), rule);
        assert.equal(ssm.calls().length, 0);
      });
    }

    it('refuses orders meant for another instance without calling', async () => {
      await assert.rejects(
        port().send(OTHER, parameters, 45, ORDER),
        /parameters.instanceId must be the host the command goes to \(i-0fedcba9876543210\), got "i-0123456789abcdef0"/,
      );
      assert.equal(ssm.calls().length, 0);
    });

    for (const timeout of [29, 45.5, 2_592_001]) {
      it(`refuses a delivery timeout of ${timeout} s`, async () => {
        await assert.rejects(
          port().send(HOST, parameters, timeout, ORDER),
          new RegExp(
            `deliveryTimeoutSeconds must be whole seconds from 30 to 2592000 \\(got ${timeout}\\)`,
          ),
        );
        assert.equal(ssm.calls().length, 0);
      });
    }

    it('turns an instance SSM does not know into CommandRejectedError', async () => {
      ssm
        .on(SendCommandCommand)
        .rejects(new InvalidInstanceId({ message: 'gone', $metadata: {} }));

      await assert.rejects(
        port().send(HOST, parameters, 45, ORDER),
        (error) => {
          assert.ok(error instanceof CommandRejectedError);
          assert.ok(error instanceof CommandNotSentError);
          assert.equal(error.code, 'InvalidInstanceId');
          assert.equal(error.host, HOST);
          assert.match(
            error.message,
            /refused the command for i-0123456789abcdef0.*nothing was sent/,
          );
          return true;
        },
      );
    });

    it('turns throttling into CommandNotSentError: SSM took nothing', async () => {
      ssm.on(SendCommandCommand).rejects(ssmError('ThrottlingException', 400));

      await assert.rejects(
        port().send(HOST, parameters, 45, ORDER),
        (error) => {
          assert.ok(error instanceof CommandNotSentError, String(error));
          assert.ok(error.cause instanceof ThrottledError);
          assert.equal(error.host, HOST);
          assert.match(error.message, /throttled .*; nothing was sent$/);
          return true;
        },
      );
    });

    it('calls an answer without a CommandId doubtful', async () => {
      ssm.on(SendCommandCommand).resolves({ Command: {} });

      await assert.rejects(
        port().send(HOST, parameters, 45, ORDER),
        DoubtfulDataError,
      );
    });

    describe('through the real SDK retry loop', () => {
      function wireClient(status: number, type: string) {
        const wire = answeringHandler([
          { status, body: JSON.stringify({ __type: type, message: type }) },
        ]);
        const ssmClient = new SSMClient({
          ...OFFLINE_CLIENT,
          requestHandler: wire.handler as never,
          retryStrategy: instantRetries(3) as never,
        });
        return { targets: wire.targets, ssmClient };
      }

      it('retries a throttled SendCommand, which SSM refused', async () => {
        const { targets, ssmClient } = wireClient(400, 'ThrottlingException');

        await assert.rejects(
          port({ client: ssmClient }).send(HOST, parameters, 45, ORDER),
          (error) => {
            assert.ok(error instanceof CommandNotSentError, String(error));
            assert.ok(error.cause instanceof ThrottledError);
            assert.equal(error.cause.attempts, 3);
            return true;
          },
        );
        assert.equal(targets.length, 3);
      });

      it('never sends again after a 5xx: the first copy may have been taken', async () => {
        const { targets, ssmClient } = wireClient(500, 'InternalServerError');

        await assert.rejects(
          port({ client: ssmClient }).send(HOST, parameters, 45, ORDER),
          (error) => {
            assert.ok(
              error instanceof CommandOutcomeUnknownError,
              String(error),
            );
            assert.match(error.message, /it is not sent again/);
            return true;
          },
        );
        assert.deepEqual(targets, ['AmazonSSM.SendCommand']);
      });
    });
  });

  describe('find', () => {
    const COMMENT = `passenger-fleet order ${ORDER}`;
    // 12:00:30.250 to 12:20:29.500: the filters round outward.
    const WINDOW: [number, number] = [NOW + 250, NOW + 20 * 60_000 - 500];

    function invocation(commandId: string, comment: string, host = HOST) {
      return {
        CommandId: commandId,
        InstanceId: host,
        Comment: comment,
        RequestedDateTime: new Date(NOW + 2_000),
      };
    }

    it("finds the order by its comment among the host's commands", async () => {
      ssm.on(ListCommandInvocationsCommand).resolves({
        CommandInvocations: [
          invocation('cmd-other', 'passenger-fleet order another'),
          invocation('cmd-ours', COMMENT),
        ],
      });

      const found = await port().find(HOST, ORDER, WINDOW);

      assert.deepEqual(found, {
        commandId: 'cmd-ours',
        host: HOST,
        sentAt: NOW + 2_000,
      });
      const calls = ssm.commandCalls(ListCommandInvocationsCommand);
      assert.deepEqual(calls[0]?.args[0].input, {
        InstanceId: HOST,
        Filters: [
          { key: 'DocumentName', value: DOCUMENT },
          { key: 'InvokedAfter', value: '2026-12-03T12:00:30Z' },
          { key: 'InvokedBefore', value: '2026-12-03T12:20:30Z' },
        ],
        MaxResults: 50,
        NextToken: undefined,
      });
    });

    it('reads on through the pages, and answers none once all are read', async () => {
      ssm
        .on(ListCommandInvocationsCommand)
        .resolvesOnce({
          CommandInvocations: [invocation('cmd-1', 'passenger-fleet order x')],
          NextToken: 'page-2',
        })
        .resolvesOnce({ CommandInvocations: [] });

      const found = await port().find(HOST, ORDER, WINDOW);

      assert.equal(found, undefined);
      const calls = ssm.commandCalls(ListCommandInvocationsCommand);
      assert.deepEqual(
        calls.map((call) => call.args[0].input.NextToken),
        [undefined, 'page-2'],
      );
    });

    it('ignores a command with our comment for another instance', async () => {
      ssm.on(ListCommandInvocationsCommand).resolves({
        CommandInvocations: [invocation('cmd-9', COMMENT, OTHER)],
      });

      assert.equal(await port().find(HOST, ORDER, WINDOW), undefined);
    });

    it('calls an unfinished search doubtful, never "none"', async () => {
      ssm
        .on(ListCommandInvocationsCommand)
        .resolves({ CommandInvocations: [], NextToken: 'more' });

      await assert.rejects(
        port({ maxFindPages: 3 }).find(HOST, ORDER, WINDOW),
        (error) => {
          assert.ok(error instanceof DoubtfulDataError, String(error));
          assert.match(error.message, /more than 3 pages .* neither found/);
          return true;
        },
      );
      assert.equal(ssm.commandCalls(ListCommandInvocationsCommand).length, 3);
    });

    it('turns throttling into ThrottledError', async () => {
      ssm
        .on(ListCommandInvocationsCommand)
        .rejects(ssmError('ThrottlingException', 400));

      await assert.rejects(port().find(HOST, ORDER, WINDOW), ThrottledError);
    });

    it('refuses a window that ends before it starts, without calling', async () => {
      await assert.rejects(
        port().find(HOST, ORDER, [NOW, NOW - 1]),
        /sentBetween must be two epoch ms times, the first not after the second/,
      );
      assert.equal(ssm.calls().length, 0);
    });
  });

  describe('results', () => {
    it('reads each invocation by command and host and maps its status', async () => {
      ssm
        .on(GetCommandInvocationCommand, {
          CommandId: 'cmd-1',
          InstanceId: HOST,
        })
        .resolves({
          Status: 'Success',
          StatusDetails: 'Success',
          StandardOutputContent: 'PF-OUTCOME v1 detached\n',
        })
        .on(GetCommandInvocationCommand, {
          CommandId: 'cmd-2',
          InstanceId: OTHER,
        })
        .rejects(
          new InvocationDoesNotExist({ message: 'not yet', $metadata: {} }),
        );

      const results = await port().results([
        sent('cmd-1'),
        sent('cmd-2', OTHER),
      ]);

      assert.deepEqual(results, [
        {
          commandId: 'cmd-1',
          host: HOST,
          status: 'Success',
          stdout: 'PF-OUTCOME v1 detached\n',
        },
        { commandId: 'cmd-2', host: OTHER, status: 'Pending', stdout: '' },
      ]);
      assert.deepEqual(
        ssm
          .commandCalls(GetCommandInvocationCommand)
          .map((c) => c.args[0].input),
        [
          { CommandId: 'cmd-1', InstanceId: HOST },
          { CommandId: 'cmd-2', InstanceId: OTHER },
        ],
      );
    });

    it('reads at most maxReadsPerCall, the longest-waiting first next time', async () => {
      ssm.on(GetCommandInvocationCommand).resolves({ Status: 'InProgress' });
      const commands = ['a', 'b', 'c'].map((id) => sent(id));
      const paced = port({ maxReadsPerCall: 2 });

      const first = await paced.results(commands);
      assert.deepEqual(
        first.map((r) => r.commandId),
        ['a', 'b'],
      );
      assert.equal(paced.lastRound?.leftForNextTick, 1);

      const second = await paced.results(commands);
      assert.deepEqual(
        second.map((r) => r.commandId),
        ['a', 'c'],
      );
      const order = ssm
        .commandCalls(GetCommandInvocationCommand)
        .map((c) => c.args[0].input.CommandId);
      assert.deepEqual(order, ['a', 'b', 'c', 'a']);
    });

    it('stops the round at throttling and keeps what it read', async () => {
      ssm
        .on(GetCommandInvocationCommand)
        .resolvesOnce({ Status: 'Success', StandardOutputContent: 'done' })
        .rejects(ssmError('ThrottlingException', 400));
      const paced = port();

      const results = await paced.results([sent('a'), sent('b'), sent('c')]);

      assert.deepEqual(
        results.map((r) => r.commandId),
        ['a'],
      );
      assert.deepEqual(paced.lastRound, {
        asked: 3,
        read: 1,
        leftForNextTick: 2,
        throttled: true,
        failures: [],
        unknownStatuses: [],
      });
      assert.equal(ssm.commandCalls(GetCommandInvocationCommand).length, 2);
    });

    it('records a failed read and goes on with the others', async () => {
      ssm
        .on(GetCommandInvocationCommand, { CommandId: 'bad' })
        .rejects(new InvalidCommandId({ message: 'no such', $metadata: {} }))
        .on(GetCommandInvocationCommand, { CommandId: 'good' })
        .resolves({ Status: 'Failed', StatusDetails: 'Failed' });
      const paced = port();

      const results = await paced.results([sent('bad'), sent('good')]);

      assert.deepEqual(
        results.map((r) => [r.commandId, r.status]),
        [['good', 'Failed']],
      );
      assert.deepEqual(paced.lastRound?.failures, [
        { commandId: 'bad', host: HOST, error: 'InvalidCommandId: no such' },
      ]);
      assert.equal(paced.lastRound?.leftForNextTick, 0);
    });

    it('stops when the round has used its time budget', async () => {
      let clock = NOW;
      ssm.on(GetCommandInvocationCommand).callsFake(() => {
        clock += 8_000;
        return { Status: 'InProgress' };
      });
      const paced = port({ now: () => clock, readBudgetMs: 20_000 });

      const results = await paced.results(
        ['a', 'b', 'c', 'd'].map((id) => sent(id)),
      );

      assert.equal(results.length, 3);
      assert.equal(paced.lastRound?.leftForNextTick, 1);
    });

    it('reads a status it does not know as InProgress and says so', async () => {
      ssm.on(GetCommandInvocationCommand).resolves({
        Status: 'Sleeping' as never,
        StatusDetails: 'Dreaming',
      });
      const paced = port();

      const results = await paced.results([sent('a')]);

      assert.equal(results[0]?.status, 'InProgress');
      assert.deepEqual(paced.lastRound?.unknownStatuses, ['Sleeping/Dreaming']);
    });
  });
});

describe('commandStatusOf', () => {
  const cases: [string | undefined, string | undefined, boolean, string][] = [
    ['Pending', 'Pending', false, 'Pending'],
    ['InProgress', 'InProgress', true, 'InProgress'],
    ['Delayed', 'Delayed', false, 'Delayed'],
    ['Success', 'Success', true, 'Success'],
    ['Failed', 'Failed', true, 'Failed'],
    ['TimedOut', 'DeliveryTimedOut', false, 'DeliveryTimedOut'],
    ['TimedOut', 'ExecutionTimedOut', true, 'ExecutionTimedOut'],
    ['TimedOut', undefined, false, 'DeliveryTimedOut'],
    ['TimedOut', undefined, true, 'ExecutionTimedOut'],
    ['Cancelled', 'Canceled', false, 'Cancelled'],
    ['Cancelling', 'Cancelling', true, 'InProgress'],
    ['Failed', 'Undeliverable', false, 'Undeliverable'],
    ['Failed', 'Terminated', true, 'Terminated'],
    ['Failed', 'InvalidPlatform', false, 'Undeliverable'],
    ['Failed', 'AccessDenied', false, 'Failed'],
    ['Success', undefined, true, 'Success'],
  ];
  for (const [status, details, started, expected] of cases) {
    it(`${status}/${details}${started ? ' (started)' : ''} → ${expected}`, () => {
      assert.deepEqual(commandStatusOf(status, details, started), {
        status: expected,
        known: true,
      });
    });
  }

  it('reads nothing known as InProgress, flagged unknown', () => {
    assert.deepEqual(commandStatusOf(undefined, undefined, false), {
      status: 'InProgress',
      known: false,
    });
  });
});
