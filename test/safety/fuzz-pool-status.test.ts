/**
 * Fuzzes the passenger-status XML reader (core/pool-status.ts) with pools
 * built like Passenger 6's, with hostile names and pids, elements dropped
 * or repeated, entity tricks, and documents cut or spliced. It must never
 * throw, never list a pid the document does not give as a `<pid>`, never
 * list one twice, and say what it skipped or why it refused.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parsePoolXml } from '../../core/pool-status.ts';
import { fuzz, shareOf } from './support/fuzz.ts';
import { damaged, fragment, nasty } from './support/fuzz-text.ts';
import { SafetyTally } from './support/tally.ts';

const tally = new SafetyTally(import.meta.url);

const REAL = readFileSync(
  new URL(
    '../fixtures/corpus/p6.0.17-apache-testbed-passenger-status.xml',
    import.meta.url,
  ),
  'latin1',
);

const escape = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A value as it may sit in an element: escaped text, or raw damage. */
const content = fc.oneof(
  { weight: 3, arbitrary: fragment.map(escape) },
  { weight: 1, arbitrary: nasty },
);
const pidText = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 4_194_304 }).map(String) },
  { weight: 1, arbitrary: content },
  {
    weight: 1,
    arbitrary: fc.constantFrom('0', '007', ' 42 ', '-5', '4194305', '1e3'),
  },
);
const element = (name: string, value: fc.Arbitrary<string>) =>
  fc.oneof(
    { weight: 6, arbitrary: value.map((v) => `<${name}>${v}</${name}>`) },
    { weight: 1, arbitrary: fc.constant('') },
    {
      weight: 1,
      arbitrary: value.map((v) => `<${name}>${v}</${name}>`.repeat(2)),
    },
    { weight: 1, arbitrary: fc.constant(`<${name}/>`) },
  );
const processXml = fc
  .tuple(
    element('pid', pidText),
    element('sessions', fc.nat({ max: 9 }).map(String)),
    element('life_status', fc.constantFrom('ALIVE', 'SHUTTING_DOWN')),
    element('enabled', fc.constantFrom('ENABLED', 'DETACHED')),
    element('real_memory', fc.oneof(fc.nat().map(String), content)),
    element('command', content),
  )
  .map((parts) => `<process>${parts.join('')}</process>`);
const groupXml = fc
  .tuple(
    element('name', content),
    element('app_root', content),
    fc.array(processXml, { maxLength: 4 }),
  )
  .map(
    ([name, root, processes]) =>
      `<group default="true">${name}${root}<processes>${processes.join('')}` +
      '</processes></group>',
  );
const supergroupXml = fc
  .tuple(element('name', content), fc.array(groupXml, { maxLength: 2 }))
  .map(
    ([name, groups]) => `<supergroup>${name}${groups.join('')}</supergroup>`,
  );
const documentXml = fc
  .tuple(
    fc.constantFrom(
      '',
      '<?xml version="1.0" encoding="iso-8859-1" ?>\n',
      '\ufeff',
    ),
    element('passenger_version', content),
    fc.array(supergroupXml, { maxLength: 3 }),
  )
  .map(
    ([declaration, version, supergroups]) =>
      `${declaration}<info version="3">${version}<supergroups>` +
      `${supergroups.join('')}</supergroups></info>`,
  );
/** Whole documents, sometimes cut, spliced or with a DOCTYPE in front. */
const anyDocument = damaged(
  fc.oneof(
    { weight: 30, arbitrary: documentXml },
    { weight: 1, arbitrary: fc.constant(REAL) },
    {
      weight: 1,
      arbitrary: documentXml.map(
        (xml) => `<!DOCTYPE info [<!ENTITY x "&#60;pid&#62;1">]>${xml}`,
      ),
    },
  ),
);

/** The pids the text gives as whole `<pid>` elements. */
function pidsInText(xml: string): Set<number> {
  const found = new Set<number>();
  for (const match of xml.matchAll(/<pid\s*>\s*(\d+)\s*<\/pid\s*>/g)) {
    found.add(Number(match[1]));
  }
  return found;
}

describe('fuzz: passenger-status XML reader', () => {
  it('never throws, never invents a pid, says what it skipped', () => {
    const property = fc.property(anyDocument, (xml) => {
      const parsed = parsePoolXml(xml);
      if (!parsed.ok) {
        assert.ok(parsed.reason.trim().length > 0, 'a refusal has a reason');
        return;
      }
      const given = pidsInText(xml);
      const listed = new Set<number>();
      for (const group of parsed.snapshot.groups) {
        assert.ok(group.name.length > 0, 'a group has a name');
        for (const process of group.processes) {
          assert.ok(given.has(process.pid), `pid ${process.pid} invented`);
          assert.ok(!listed.has(process.pid), `pid ${process.pid} twice`);
          listed.add(process.pid);
        }
      }
      for (const entry of parsed.skipped) {
        assert.match(entry, /process #\d+ of group|supergroup|a group/);
      }
    });
    fuzz(tally, property, shareOf(0.9));
  });

  it('refuses a tag name that is not plain ASCII (found by this fuzzer)', () => {
    // fast-xml-parser trims tag names, so this once read as pid 1000001
    for (const odd of ['\ufeff', '\u00a0', '\u2028']) {
      const xml =
        '<info version="3"><supergroups><supergroup><group><name>g</name>' +
        `<processes><process><pid>1000001</${odd}pid></process></processes>` +
        '</group></supergroup></supergroups></info>';

      const parsed = parsePoolXml(xml);

      assert.equal(parsed.ok, false, JSON.stringify(odd));
      assert.match(parsed.ok ? '' : parsed.reason, /tag name/);
      tally.tried();
    }
  });

  it('never throws on any text at all', () => {
    const property = fc.property(
      fc.string({ maxLength: 300, unit: 'binary' }),
      (text) => {
        const parsed = parsePoolXml(text);
        assert.equal(typeof parsed.ok, 'boolean');
      },
    );
    fuzz(tally, property, shareOf(0.1));
  });
});
