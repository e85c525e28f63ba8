/**
 * Finding the command sent for an order, by the order id SendCommand
 * carried in its Comment: ListCommandInvocations for the instance and the
 * order document within a time window, page by page. "Not found" means
 * the whole window was read; a window too full to read within the page
 * cap is doubtful, never "not found".
 *
 * SSM may leave out an invocation still Pending on the instance; the
 * controller asks again until the order's notAfter plus its delivery
 * timeout have passed, and by then an invocation that can still run has
 * been delivered.
 */
import {
  ListCommandInvocationsCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { SentCommand } from '../ports/commands.ts';
import { DoubtfulDataError, withinBudget } from './aws-errors.ts';

/** SendCommand's Comment is at most this long. */
const MAX_COMMENT_LENGTH = 100;
const COMMENT_PREFIX = 'passenger-fleet order ';
/** ListCommandInvocations answers at most 50 a page. */
const LIST_PAGE_SIZE = 50;

export interface LookupSettings {
  readonly client: SSMClient;
  readonly documentName: string;
  /** One call, its retries included, gives up after this. */
  readonly callBudgetMs: number;
  readonly maxPages: number;
}

/** The Comment that names an order. */
export function orderComment(orderId: string): string {
  return `${COMMENT_PREFIX}${orderId}`;
}

/** An order id must fit the Comment whole, or it could not be found. */
export function checkOrderId(orderId: string): void {
  const room = MAX_COMMENT_LENGTH - COMMENT_PREFIX.length;
  if (typeof orderId !== 'string' || !/^[A-Za-z0-9_.:-]+$/.test(orderId)) {
    throw new RangeError(
      'orderId must be letters, digits or _.:- ' +
        `(got ${JSON.stringify(orderId)})`,
    );
  }
  if (orderId.length > room) {
    throw new RangeError(
      `orderId must be at most ${room} characters to fit the command's ` +
        `Comment (got ${orderId.length})`,
    );
  }
}

export async function findOrderCommand(
  settings: LookupSettings,
  host: string,
  orderId: string,
  sentBetween: readonly [number, number],
): Promise<SentCommand | undefined> {
  checkOrderId(orderId);
  const [from, to] = sentBetween;
  if (!(Number.isFinite(from) && Number.isFinite(to) && from <= to)) {
    throw new RangeError(
      'sentBetween must be two epoch ms times, the first not after the ' +
        `second (got ${JSON.stringify(sentBetween)})`,
    );
  }
  const comment = orderComment(orderId);
  let nextToken: string | undefined;
  for (let page = 0; page < settings.maxPages; page++) {
    const output = await withinBudget(
      'SSM',
      'ListCommandInvocations',
      settings.callBudgetMs,
      (abortSignal) =>
        settings.client.send(
          new ListCommandInvocationsCommand({
            InstanceId: host,
            Filters: [
              { key: 'DocumentName', value: settings.documentName },
              { key: 'InvokedAfter', value: isoSeconds(from, 'floor') },
              { key: 'InvokedBefore', value: isoSeconds(to, 'ceil') },
            ],
            MaxResults: LIST_PAGE_SIZE,
            NextToken: nextToken,
          }),
          { abortSignal },
        ),
    );
    const match = (output.CommandInvocations ?? []).find(
      (invocation) =>
        invocation.Comment === comment && invocation.InstanceId === host,
    );
    if (match?.CommandId) {
      return {
        commandId: match.CommandId,
        host,
        sentAt: match.RequestedDateTime?.getTime() ?? from,
      };
    }
    nextToken = output.NextToken;
    if (!nextToken) return undefined;
  }
  throw new DoubtfulDataError(
    'SSM',
    'ListCommandInvocations',
    `more than ${settings.maxPages} pages of commands between ` +
      `${new Date(from).toISOString()} and ${new Date(to).toISOString()}; ` +
      `order ${orderId} on ${host} is neither found nor ruled out`,
  );
}

/** SSM's filters take whole seconds; round outward to keep the window. */
function isoSeconds(ms: number, round: 'floor' | 'ceil'): string {
  const seconds =
    round === 'floor' ? Math.floor(ms / 1000) : Math.ceil(ms / 1000);
  return new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
}
