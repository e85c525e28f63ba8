import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  appMatches,
  deployDirOf,
  rootOfGroup,
  sameApp,
  shortNameOf,
} from '../../core/app.ts';
import type { AppRef } from '../../core/worker.ts';

const FLEET: AppRef = { group: '/data/fleetapp/current (production)' };
const PUBLIC: AppRef = { group: '/var/www/x/public' };
const BILLING: AppRef = { group: 'billing' };
const BILLING_ROOTED: AppRef = {
  group: 'billing',
  root: '/srv/billing/current',
};
// A Python worker shows no group in its title; only its cwd names the app.
const PY_WORKER: AppRef = {
  group: '/data/pyapp/releases/20260101000000',
  root: '/data/pyapp/releases/20260101000000',
};

describe('app', () => {
  describe('rootOfGroup', () => {
    const CASES: [string, string | undefined][] = [
      ['/data/fleetapp/current (production)', '/data/fleetapp/current'],
      ['/data/fleetapp/current', '/data/fleetapp/current'],
      ['/home/p/Secondhand (development)', '/home/p/Secondhand'],
      ['/srv/my app (1) (staging)', '/srv/my app (1)'],
      ['/var/www/x/public', '/var/www/x/public'],
      ['billing', undefined],
      ['billing (production)', undefined],
    ];
    for (const [group, root] of CASES) {
      it(`gives ${root} for ${group}`, () => {
        assert.equal(rootOfGroup(group), root);
      });
    }
  });

  describe('deployDirOf', () => {
    const CASES: [string, string][] = [
      ['/data/fleetapp/current', '/data/fleetapp'],
      ['/data/fleetapp/current/', '/data/fleetapp'],
      ['/data/fleetapp/current/public', '/data/fleetapp'],
      ['/data/fleetapp/releases/20260101000000', '/data/fleetapp'],
      ['/var/www/x/public', '/var/www/x'],
      ['/srv/app', '/srv/app'],
      ['/current', '/current'],
    ];
    for (const [path, dir] of CASES) {
      it(`gives ${dir} for ${path}`, () => {
        assert.equal(deployDirOf(path), dir);
      });
    }
  });

  describe('shortNameOf', () => {
    const CASES: [AppRef, string][] = [
      [FLEET, 'fleetapp'],
      [PUBLIC, 'x'],
      [BILLING, 'billing'],
      [{ group: 'billing', root: '/srv/billing-v2/current' }, 'billing-v2'],
      [PY_WORKER, 'pyapp'],
      [{ group: '/data/app/current (staging)' }, 'app'],
    ];
    for (const [app, name] of CASES) {
      it(`names ${JSON.stringify(app)} ${name}`, () => {
        assert.equal(shortNameOf(app), name);
      });
    }
  });

  describe('appMatches', () => {
    const CASES: [string, AppRef, boolean][] = [
      ['fleetapp', FLEET, true],
      ['/data/fleetapp', FLEET, true],
      ['/data/fleetapp/current', FLEET, true],
      ['/data/fleetapp/current (production)', FLEET, true],
      ['fleet', FLEET, false],
      ['otherapp', FLEET, false],
      ['fleetapp2', FLEET, false],
      ['/data/fleetapp2', FLEET, false],
      ['FleetApp', FLEET, false],
      ['current', FLEET, false],
      ['data', FLEET, false],
      ['', FLEET, false],
      ['x', PUBLIC, true],
      ['/var/www/x', PUBLIC, true],
      ['/var/www/x/public', PUBLIC, true],
      ['public', PUBLIC, false],
      ['www', PUBLIC, false],
      ['billing', BILLING, true],
      ['bill', BILLING, false],
      ['/srv/billing', BILLING, false],
      ['billing', BILLING_ROOTED, true],
      ['/srv/billing', BILLING_ROOTED, true],
      ['/srv/billing/current', BILLING_ROOTED, true],
      ['pyapp', PY_WORKER, true],
      ['/data/pyapp', PY_WORKER, true],
      ['pyap', PY_WORKER, false],
    ];
    for (const [selector, app, matches] of CASES) {
      const verb = matches ? 'matches' : 'does not match';
      it(`${verb} ${JSON.stringify(selector)} to ${app.group}`, () => {
        assert.equal(appMatches(selector, app), matches);
      });
    }
  });

  describe('sameApp', () => {
    const CASES: [AppRef, AppRef, boolean][] = [
      [FLEET, { group: '/data/fleetapp/current (production)' }, true],
      [{ group: '/data/pyapp/current (production)' }, PY_WORKER, true],
      [FLEET, { group: '/data/fleetapp/releases/20260101000000' }, true],
      [FLEET, { group: '/data/otherapp/current (production)' }, false],
      [FLEET, { group: '/data/fleetapp2/current (production)' }, false],
      [FLEET, PY_WORKER, false],
      [PUBLIC, { group: '/var/www/x' }, true],
      [PUBLIC, { group: '/var/www/y/public' }, false],
      [BILLING, { group: 'billing' }, true],
      [BILLING, { group: '/srv/billing/current' }, false],
      [BILLING_ROOTED, { group: '/srv/billing/current (production)' }, true],
      [BILLING, { group: 'shipping' }, false],
    ];
    for (const [a, b, same] of CASES) {
      const names = `${a.root ?? a.group} and ${b.root ?? b.group}`;
      it(`says ${same} for ${names}`, () => {
        assert.equal(sameApp(a, b), same);
        assert.equal(sameApp(b, a), same);
      });
    }
  });
});
