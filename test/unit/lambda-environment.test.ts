import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  requiredVariable,
  TABLE_NAME_VARIABLE,
} from '../../lambdas/environment.ts';

describe('requiredVariable', () => {
  it('returns the value trimmed', () => {
    const environment = { [TABLE_NAME_VARIABLE]: '  fleet-table \n' };

    assert.equal(
      requiredVariable(environment, TABLE_NAME_VARIABLE),
      'fleet-table',
    );
  });

  for (const [title, value] of [
    ['unset', undefined],
    ['blank', '   '],
  ] as const) {
    it(`names the variable when it is ${title}`, () => {
      const environment = { [TABLE_NAME_VARIABLE]: value };

      assert.throws(
        () => requiredVariable(environment, TABLE_NAME_VARIABLE),
        /environment variable PASSENGER_FLEET_TABLE_NAME must be set/,
      );
    });
  }
});
