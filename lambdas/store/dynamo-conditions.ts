/**
 * The guards of mark-transitions.ts and order-records.ts as DynamoDB
 * condition expressions, for the DynamoDB record store.
 */
import type { MarkGuard } from './mark-transitions.ts';
import type { OrderGuard } from './order-records.ts';
import { DEADLINE_ATTRIBUTE, PARTITION_KEY } from './table-design.ts';

/**
 * The guard as a condition expression. For the forced kill:
 *
 *   claimedAt                                 deadline
 *   |------------------ grace ------------------|
 *   `#deadline <= :now` false: nothing written   true: the first claim
 *                                                 moves the state on, so
 *                                                 `#state = :state` fails
 *                                                 for every later one
 */
export function conditionOf(guard: MarkGuard): {
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
} {
  if (guard.kind === 'no-open-mark') {
    return {
      ConditionExpression:
        'attribute_not_exists(#pk) OR ' +
        '(#state = :closed AND #orderId <> :orderId)',
      ExpressionAttributeNames: {
        '#pk': PARTITION_KEY,
        '#state': 'state',
        '#orderId': 'orderId',
      },
      ExpressionAttributeValues: {
        ':closed': 'closed',
        ':orderId': guard.orderId,
      },
    };
  }
  const due = guard.dueBy !== undefined;
  return {
    ConditionExpression:
      '#state = :state AND #orderId = :orderId' +
      (due ? ' AND #deadline <= :now' : ''),
    ExpressionAttributeNames: {
      '#state': 'state',
      '#orderId': 'orderId',
      ...(due ? { '#deadline': DEADLINE_ATTRIBUTE } : {}),
    },
    ExpressionAttributeValues: {
      ':state': guard.state,
      ':orderId': guard.orderId,
      ...(due ? { ':now': guard.dueBy } : {}),
    },
  };
}

/** As conditionOf, for orders: the attempt number stands for the version. */
export function orderConditionOf(guard: OrderGuard): {
  ConditionExpression: string;
  ExpressionAttributeNames: Record<string, string>;
  ExpressionAttributeValues: Record<string, unknown>;
} {
  if (guard.kind === 'no-open-order') {
    return {
      ConditionExpression: 'attribute_not_exists(#pk) OR #state = :done',
      ExpressionAttributeNames: { '#pk': PARTITION_KEY, '#state': 'state' },
      ExpressionAttributeValues: { ':done': 'done' },
    };
  }
  return {
    ConditionExpression:
      '#state = :state AND #orderId = :orderId AND #attempt = :attempt',
    ExpressionAttributeNames: {
      '#state': 'state',
      '#orderId': 'orderId',
      '#attempt': 'attempt',
    },
    ExpressionAttributeValues: {
      ':state': guard.state,
      ':orderId': guard.orderId,
      ':attempt': guard.attempt,
    },
  };
}

export function isConditionFailure(error: unknown): boolean {
  return (
    error instanceof Error && error.name === 'ConditionalCheckFailedException'
  );
}
