import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FLEET_NAME_VARIABLE,
  ORDER_DOCUMENT_VARIABLE,
  TABLE_NAME_VARIABLE,
} from '../../lambdas/environment.ts';
import { readEnvironment } from '../../lambdas/controller/handler.ts';

const complete: Record<string, string> = {
  [TABLE_NAME_VARIABLE]: 'fleet-table',
  [FLEET_NAME_VARIABLE]: ' prod ',
  [ORDER_DOCUMENT_VARIABLE]: 'passenger-fleet-orders',
};

describe('controller handler environment', () => {
  it('reads every variable once into a frozen object', () => {
    const environment = readEnvironment(complete);

    assert.deepEqual(environment, {
      tableName: 'fleet-table',
      fleetName: 'prod',
      orderDocument: 'passenger-fleet-orders',
    });
    assert.ok(Object.isFrozen(environment));
  });

  for (const name of [
    TABLE_NAME_VARIABLE,
    FLEET_NAME_VARIABLE,
    ORDER_DOCUMENT_VARIABLE,
  ]) {
    it(`fails naming ${name} when it is missing`, () => {
      const { [name]: _left, ...rest } = complete;

      assert.throws(
        () => readEnvironment(rest),
        new RegExp(`environment variable ${name} must be set`),
      );
    });
  }
});
