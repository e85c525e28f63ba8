/**
 * The safety suite's last word: adds up the counts every safety test file
 * wrote (see support/tally.ts), prints one line per file and, last,
 *
 *   safety: <N> cases tried, 0 wrong kills, 0 missed deadlines, 0 double actions
 *
 * It exits 1 when any of the last three is not 0, or when no case ran at
 * all (a suite that tried nothing proves nothing). The counts are removed
 * once read, so that the next run starts from nothing.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  DEFAULT_TALLY_DIR,
  TALLY_DIR_VARIABLE,
  type TallyCounts,
} from './support/tally.ts';

const given = process.env[TALLY_DIR_VARIABLE];
const dir = given || DEFAULT_TALLY_DIR;

const counts = readCounts(dir);
for (const file of counts) {
  console.log(
    `  ${file.file}: ${file.cases} cases, ${file.wrongKills} wrong kills, ` +
      `${file.missedDeadlines} missed deadlines, ` +
      `${file.doubleActions} double actions`,
  );
  for (const breach of file.breaches) console.log(`    ${breach}`);
}
const sum = (key: keyof Omit<TallyCounts, 'file' | 'breaches'>) =>
  counts.reduce((total, file) => total + file[key], 0);
const cases = sum('cases');
const wrongKills = sum('wrongKills');
const missedDeadlines = sum('missedDeadlines');
const doubleActions = sum('doubleActions');

rmSync(dir, { recursive: true, force: true });
if (cases === 0) {
  console.log(`  no safety case ran (no counts in ${dir})`);
}
console.log(
  `safety: ${cases} cases tried, ${wrongKills} wrong kills, ` +
    `${missedDeadlines} missed deadlines, ${doubleActions} double actions`,
);
const failed =
  cases === 0 || wrongKills > 0 || missedDeadlines > 0 || doubleActions > 0;
process.exitCode = failed ? 1 : 0;

function readCounts(from: string): TallyCounts[] {
  let names: string[];
  try {
    names = readdirSync(from).filter((name) => name.endsWith('.json'));
  } catch {
    return [];
  }
  return names.sort().map((name) => {
    const text = readFileSync(join(from, name), 'utf8');
    try {
      return JSON.parse(text) as TallyCounts;
    } catch {
      throw new Error(`${join(from, name)}: not the JSON a tally writes`);
    }
  });
}
