import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Validations } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { AwsSolutionsChecks } from 'cdk-nag';
import { testApp, testStack } from './cdk-support.ts';

const scratch = mkdtempSync(join(tmpdir(), 'pf-cdk-nag-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Report {
  pluginReports: { violations: { ruleName: string }[] }[];
}

function checkedApp(name: string) {
  const outdir = join(scratch, name);
  const app = testApp(outdir);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const report = (): Report =>
    JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
  return { app, report };
}

describe('cdk-nag AwsSolutions on the stack', () => {
  it('leaves no finding unacknowledged in an environment-agnostic stack', () => {
    const { app, report } = checkedApp('agnostic');
    testStack(app);

    app.synth();

    assert.deepEqual(report().pluginReports, []);
  });

  it('leaves none in a stack bound to an account and region', () => {
    const { app, report } = checkedApp('bound');
    testStack(app, {
      env: { account: '123456789012', region: 'eu-west-1' },
      fleetName: 'eu.web-1',
    });

    app.synth();

    assert.deepEqual(report().pluginReports, []);
  });

  it('still fails on a wildcard nobody acknowledged', () => {
    const { app, report } = checkedApp('widened');
    const stack = testStack(app);
    stack.monitor.controller.addToRolePolicy(
      new PolicyStatement({
        actions: ['s3:GetObject'],
        resources: ['arn:aws:s3:::some-bucket/*'],
      }),
    );

    assert.throws(() => app.synth(), /Validation failed/);
    const rules = report().pluginReports.flatMap((plugin) =>
      plugin.violations.map((violation) => violation.ruleName),
    );
    assert.deepEqual(rules, [
      'AwsSolutions-IAM5[Resource::arn:aws:s3:::some-bucket/*]',
    ]);
  });
});
