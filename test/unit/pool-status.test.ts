import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  parsePoolXml,
  poolPids,
  type PoolParse,
  type PoolSnapshot,
} from '../../core/pool-status.ts';

const TESTBED_XML = readFileSync(
  new URL(
    '../fixtures/corpus/p6.0.17-apache-testbed-passenger-status.xml',
    import.meta.url,
  ),
  // passenger-status declares iso-8859-1; the agent decodes it that way.
  'latin1',
);

/** Wraps groups in the envelope passenger-status prints. */
function poolDocument(groups: string): string {
  return (
    '<?xml version="1.0" encoding="iso-8859-1" ?>\n<info version="3">' +
    '<passenger_version>6.0.17</passenger_version>' +
    `<supergroups><supergroup><name>g</name>${groups}</supergroup>` +
    '</supergroups></info>'
  );
}

function group(processes: string, name = '/srv/a (production)'): string {
  return (
    `<group default="true"><name>${name}</name>` +
    '<app_root>/srv/a</app_root><user>deploy</user><group>deploy</group>' +
    `<processes>${processes}</processes></group>`
  );
}

function snapshotOf(parse: PoolParse): PoolSnapshot {
  assert.ok(parse.ok, parse.ok ? '' : parse.reason);
  return parse.snapshot;
}

describe('pool-status', () => {
  describe('parsePoolXml on the testbed', () => {
    const parse = parsePoolXml(TESTBED_XML);

    it('reads the version and nothing it had to skip', () => {
      assert.equal(snapshotOf(parse).passengerVersion, '6.0.17');
      assert.deepEqual(parse.ok && parse.skipped, []);
    });

    it('reads every group with its app root and pids', () => {
      const groups = snapshotOf(parse).groups.map((g) => [
        g.name,
        g.appRoot,
        g.processes.map((p) => p.pid),
      ]);

      assert.deepEqual(groups, [
        ['/data/pyapp/current (production)', '/data/pyapp/current', [4318]],
        [
          '/data/fleetapp/current (production)',
          '/data/fleetapp/current',
          [4210, 4229, 4263],
        ],
        ['/data/nodeapp/current (production)', '/data/nodeapp/current', [4386]],
        [
          '/data/otherapp/current (production)',
          '/data/otherapp/current',
          [4244, 4309],
        ],
      ]);
    });

    it('reads every process exactly', () => {
      const fleet = snapshotOf(parse).groups[1];

      assert.deepEqual(fleet?.processes[0], {
        pid: 4210,
        sessions: 0,
        lifeStatus: 'ALIVE',
        enabled: 'ENABLED',
        spawnStartTimeUs: 1796302668754206,
        realMemoryKb: 313392,
        privateDirtyKb: 313392,
        rssKb: 325760,
        command: 'Passenger RubyApp: /data/fleetapp/current (production)',
      });
      // [pid, sessions, enabled, real memory kB, rss kB]
      const figures = snapshotOf(parse).groups.flatMap((g) =>
        g.processes.map((p) => [
          p.pid,
          p.sessions,
          p.enabled,
          p.realMemoryKb,
          p.rssKb,
        ]),
      );
      assert.deepEqual(figures, [
        [4318, 0, 'ENABLED', 89404, 95876],
        [4210, 0, 'ENABLED', 313392, 325760],
        [4229, 0, 'ENABLED', 128916, 141512],
        [4263, 0, 'ENABLED', 5988, 18636],
        [4386, 0, 'ENABLED', 69728, 111848],
        [4244, 0, 'ENABLED', 218176, 223972],
        [4309, 0, 'ENABLED', 13364, 19352],
      ]);
    });

    it('decodes the escaped parentheses of commands', () => {
      const commands = snapshotOf(parse).groups.flatMap((g) =>
        g.processes.map((p) => p.command),
      );

      assert.ok(
        commands.includes(
          `Passenger RubyApp: /data/otherapp/current (production)`,
        ),
      );
      assert.ok(commands.every((command) => !command?.includes('&#')));
    });
  });

  describe('poolPids', () => {
    it('maps each pid to its group and process', () => {
      const pids = poolPids(snapshotOf(parsePoolXml(TESTBED_XML)));

      assert.deepEqual(
        [...pids.keys()].sort((a, b) => a - b),
        [4210, 4229, 4244, 4263, 4309, 4318, 4386],
      );
      assert.equal(pids.get(4318)?.group.appRoot, '/data/pyapp/current');
      assert.equal(pids.get(4263)?.process.realMemoryKb, 5988);
      assert.equal(pids.get(4242), undefined);
    });
  });

  describe('parsePoolXml on documents it must refuse', () => {
    const REFUSED: [string, string, RegExp][] = [
      ['an empty output', '', /^the output is empty$/],
      [
        'plain text',
        'ERROR: Phusion Passenger is not running',
        /^not well-formed XML: /,
      ],
      [
        'a document cut in half',
        TESTBED_XML.slice(0, 3000),
        /^not well-formed XML: /,
      ],
      [
        'a document cut at the end',
        TESTBED_XML.slice(0, -10),
        /^not well-formed XML: /,
      ],
      [
        'another root',
        '<html><body>hi</body></html>',
        /^expected one <info> root, found <html>$/,
      ],
      [
        'an element named like a prototype',
        '<info><__proto__>1</__proto__></info>',
        /^XML parser refused it: /,
      ],
      [
        'two roots',
        '<info></info><info></info>',
        /^not well-formed XML: Multiple possible root nodes/,
      ],
      [
        'a second element after the root',
        '<info><supergroups/></info><extra/>',
        /^expected one <info> root, found <info>, <extra>$/,
      ],
      ['an empty info', '<info/>', /^<info> holds no elements$/],
      [
        'an info of another shape',
        '<info><foo>1</foo></info>',
        /^<info> has no <supergroups> element$/,
      ],
      [
        'a DOCTYPE',
        '<!DOCTYPE info [<!ENTITY x "y">]><info>&x;</info>',
        /DOCTYPE/,
      ],
      ['JSON', '{"supergroups": []}', /^not well-formed XML: /],
    ];
    for (const [what, xml, reason] of REFUSED) {
      it(`refuses ${what}`, () => {
        const parse = parsePoolXml(xml);

        assert.equal(parse.ok, false);
        assert.match(parse.ok ? '' : parse.reason, reason);
      });
    }

    it('refuses input that is not text', () => {
      const parse = parsePoolXml(null as unknown as string);

      assert.deepEqual(parse, {
        ok: false,
        reason: 'expected XML text, got object',
      });
    });
  });

  describe('parsePoolXml on odd processes', () => {
    it('reads an empty pool as no groups', () => {
      const xml = '<info version="3"><supergroups/></info>';

      assert.deepEqual(parsePoolXml(xml), {
        ok: true,
        snapshot: { passengerVersion: null, groups: [] },
        skipped: [],
      });
    });

    const NO_PID = ' has no single <pid>';
    // [what is inside <process>, how the skipped line ends]
    const SKIPPED: [string, string][] = [
      ['<sessions>0</sessions>', NO_PID],
      ['<pid></pid>', NO_PID],
      ['<pid>1</pid><pid>2</pid>', NO_PID],
      ['<pid><x>1</x></pid>', NO_PID],
      ['<pid>abc</pid>', ": pid is not a positive integer: 'abc'"],
      ['<pid>-4</pid>', ": pid is not a positive integer: '-4'"],
      ['<pid>0</pid>', ": pid is out of range 1..4194304: '0'"],
      ['<pid>99999999</pid>', ": pid is out of range 1..4194304: '99999999'"],
    ];
    for (const [inside, ending] of SKIPPED) {
      it(`skips <process>${inside}</process>`, () => {
        const processes = `<process><pid>7</pid></process>`;
        const odd = `<process>${inside}</process>`;

        const parse = parsePoolXml(poolDocument(group(processes + odd)));

        const snapshot = snapshotOf(parse);
        assert.deepEqual(
          snapshot.groups[0]?.processes.map((p) => p.pid),
          [7],
        );
        assert.deepEqual(parse.ok && parse.skipped, [
          `process #2 of group '/srv/a (production)'${ending}`,
        ]);
      });
    }

    it('keeps the first listing of a repeated pid', () => {
      const xml = poolDocument(
        group('<process><pid>7</pid></process>') +
          group('<process><pid>7</pid></process>', '/srv/b'),
      );

      const parse = parsePoolXml(xml);

      const snapshot = snapshotOf(parse);
      assert.deepEqual(
        snapshot.groups.map((g) => [g.name, g.processes.length]),
        [
          ['/srv/a (production)', 1],
          ['/srv/b', 0],
        ],
      );
      assert.deepEqual(parse.ok && parse.skipped, [
        "process #1 of group '/srv/b' repeats pid 7; the first is kept",
      ]);
    });

    it('reads missing and malformed figures as null', () => {
      const process =
        '<process><pid>7</pid><sessions>many</sessions><rss>-1</rss>' +
        '<real_memory>1.5</real_memory><private_dirty>12</private_dirty>' +
        '<spawn_start_time>99999999999999999999</spawn_start_time>' +
        '<enabled></enabled></process>';

      const snapshot = snapshotOf(parsePoolXml(poolDocument(group(process))));

      assert.deepEqual(snapshot.groups[0]?.processes[0], {
        pid: 7,
        sessions: null,
        lifeStatus: null,
        enabled: null,
        spawnStartTimeUs: null,
        realMemoryKb: null,
        privateDirtyKb: 12,
        rssKb: null,
        command: null,
      });
    });

    it('names a group after its supergroup when it has no name', () => {
      const xml =
        '<info><supergroups><supergroup><name>/srv/c</name><group>' +
        '<options><app_root>/srv/c/current</app_root></options>' +
        '<processes><process><pid>9</pid></process></processes>' +
        '</group></supergroup></supergroups></info>';

      const snapshot = snapshotOf(parsePoolXml(xml));

      assert.deepEqual(
        snapshot.groups.map((g) => [g.name, g.appRoot, g.processes.length]),
        [['/srv/c', '/srv/c/current', 1]],
      );
    });

    it('names a supergroup without groups in skipped', () => {
      const xml =
        '<info><supergroups><supergroup><name>/srv/d</name></supergroup>' +
        '</supergroups></info>';

      const parse = parsePoolXml(xml);

      assert.deepEqual(parse.ok && parse.skipped, [
        'supergroup /srv/d has no <group> element',
      ]);
    });
  });

  describe('parsePoolXml on entities', () => {
    const ENTITIES: [string, string][] = [
      ['/srv/a &#40;production&#41;', '/srv/a (production)'],
      ['&lt;b&gt; &amp; &quot;q&quot; &apos;', `<b> & "q" '`],
      ['caf&#233; &#xE9; &#x1F600;', 'café é 😀'],
      ['&amp;lt; stays one level deep', '&lt; stays one level deep'],
      [
        '&unknown; &#0; &#xD800; &#x110000;',
        '&unknown; &#0; &#xD800; &#x110000;',
      ],
      ['caf\u00e9 as latin1 text', 'café as latin1 text'],
    ];
    for (const [raw, decoded] of ENTITIES) {
      it(`decodes ${JSON.stringify(raw)}`, () => {
        const xml = poolDocument(group('<process><pid>7</pid></process>', raw));

        const snapshot = snapshotOf(parsePoolXml(xml));

        assert.equal(snapshot.groups[0]?.name, decoded);
      });
    }
  });
});
