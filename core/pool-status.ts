/**
 * Reads Passenger's pool from `passenger-status --show=xml`.
 *
 * The document is `<info version="3">` (Passenger 4.0 to 6) on one line,
 * declared iso-8859-1: decode the tool's bytes as latin1 before calling.
 * Apps sit three deep: `supergroups/supergroup/group/processes/process`.
 * A group also holds a `<group>` of its own (the Unix group it runs as),
 * so elements are only ever read at the place they are expected.
 *
 * Every value is read as a string and numbers are parsed here. Only the
 * five predefined entities and character references such as `&#40;` are
 * decoded; a document with a DOCTYPE is refused, so that no entity can
 * be defined or expanded.
 *
 * The pool decides which workers are orphans, so a doubtful document
 * must never read as a smaller pool: anything not understood is either
 * `ok: false` or listed in `skipped`, and a caller should not call a
 * process an orphan while `skipped` is not empty.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { quote, readPid, readWholeNumber } from './text.ts';

export interface PoolProcess {
  pid: number;
  sessions: number | null;
  /** e.g. ALIVE, SHUTTING_DOWN */
  lifeStatus: string | null;
  /** ENABLED, DISABLING, DISABLED, DETACHED */
  enabled: string | null;
  /** Epoch µs. */
  spawnStartTimeUs: number | null;
  /** Private dirty plus swap, which Passenger calls real memory. */
  realMemoryKb: number | null;
  privateDirtyKb: number | null;
  rssKb: number | null;
  command: string | null;
}

export interface PoolGroup {
  /** The app group name, e.g. `/data/app/current (production)`. */
  name: string;
  appRoot: string | null;
  processes: PoolProcess[];
}

export interface PoolSnapshot {
  passengerVersion: string | null;
  groups: PoolGroup[];
}

export type PoolParse =
  | { ok: true; snapshot: PoolSnapshot; skipped: string[] }
  | { ok: false; reason: string };

type XmlNode = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: true,
  ignoreDeclaration: true,
  ignorePiTags: true,
  parseTagValue: false,
  processEntities: false,
  htmlEntities: false,
  trimValues: true,
});

const DOCTYPE = /<!DOCTYPE/i;
/**
 * A tag whose name is not plain ASCII. fast-xml-parser trims tag names,
 * so it would take `</\uFEFFpid>` as the end of `<pid>`; passenger-status
 * only ever prints names such as `real_memory`.
 */
const ODD_TAG_NAME = /<(?!\/?[A-Za-z_][\w.-]*(?:[\s/>]|$))(?![?!])/;
const REFERENCE =
  /&(?:#(\d{1,7})|#x([0-9a-fA-F]{1,6})|(lt|gt|amp|quot|apos));/g;
const NAMED_CHARACTERS: Readonly<Record<string, string>> = {
  lt: '<',
  gt: '>',
  amp: '&',
  quot: '"',
  apos: "'",
};

export function parsePoolXml(xml: string): PoolParse {
  if (typeof xml !== 'string') {
    return { ok: false, reason: `expected XML text, got ${typeof xml}` };
  }
  const text = xml.replace(/^\uFEFF/, '').trim();
  if (text === '') return { ok: false, reason: 'the output is empty' };
  if (DOCTYPE.test(text)) {
    return {
      ok: false,
      reason: 'the document has a DOCTYPE, which passenger-status never prints',
    };
  }
  const oddTag = ODD_TAG_NAME.exec(text);
  if (oddTag !== null) {
    return {
      ok: false,
      reason:
        'a tag name holds characters passenger-status never prints, at ' +
        `${quote(text.slice(oddTag.index, oddTag.index + 20))}`,
    };
  }
  const valid = XMLValidator.validate(text);
  if (valid !== true) {
    const { msg, line, col } = valid.err;
    return {
      ok: false,
      reason: `not well-formed XML: ${msg} (line ${line}, column ${col})`,
    };
  }
  let document: unknown;
  try {
    document = parser.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ok: false, reason: `XML parser refused it: ${message}` };
  }
  return readInfo(document);
}

/** Every pid in the pool, with the group and process entry that list it. */
export function poolPids(
  snapshot: PoolSnapshot,
): Map<number, { group: PoolGroup; process: PoolProcess }> {
  const pids = new Map<number, { group: PoolGroup; process: PoolProcess }>();
  for (const group of snapshot.groups) {
    for (const process of group.processes) {
      if (!pids.has(process.pid)) pids.set(process.pid, { group, process });
    }
  }
  return pids;
}

function readInfo(document: unknown): PoolParse {
  const roots = isNode(document) ? Object.entries(document) : [];
  const [root] = roots;
  if (roots.length !== 1 || root === undefined || root[0] !== 'info') {
    const found = roots.map(([name]) => `<${name}>`).join(', ') || 'nothing';
    return { ok: false, reason: `expected one <info> root, found ${found}` };
  }
  const info = root[1];
  if (!isNode(info)) {
    return { ok: false, reason: '<info> holds no elements' };
  }
  const passengerVersion = textOf(info.passenger_version);
  // `<supergroups/>`, an empty pool, reads as an empty string.
  if (info.supergroups === '') {
    return {
      ok: true,
      snapshot: { passengerVersion, groups: [] },
      skipped: [],
    };
  }
  if (!isNode(info.supergroups)) {
    return { ok: false, reason: '<info> has no <supergroups> element' };
  }

  const skipped: string[] = [];
  const groups: PoolGroup[] = [];
  const seen = new Set<number>();
  const supergroups = nodesOf(info.supergroups.supergroup);
  for (const [index, supergroup] of supergroups.entries()) {
    const superName = textOf(supergroup.name);
    const members = nodesOf(supergroup.group);
    if (members.length === 0) {
      skipped.push(
        `supergroup ${superName ?? `#${index + 1}`} has no <group> element`,
      );
    }
    for (const member of members) {
      const group = readGroup(member, superName, skipped, seen);
      if (group !== undefined) groups.push(group);
    }
  }
  return { ok: true, snapshot: { passengerVersion, groups }, skipped };
}

function readGroup(
  node: XmlNode,
  superName: string | null,
  skipped: string[],
  seen: Set<number>,
): PoolGroup | undefined {
  const name = textOf(node.name) ?? superName;
  if (name === null) {
    skipped.push('a group has no <name>, so its processes are not listed');
    return undefined;
  }
  const options = isNode(node.options) ? node.options : {};
  const appRoot = textOf(node.app_root) ?? textOf(options.app_root);
  const processes: PoolProcess[] = [];
  const entries = isNode(node.processes) ? node.processes.process : undefined;
  for (const [index, entry] of nodesOf(entries).entries()) {
    const where = `process #${index + 1} of group ${quote(name)}`;
    const pidText = textOf(entry.pid);
    if (pidText === null) {
      skipped.push(`${where} has no single <pid>`);
      continue;
    }
    const pid = readPid('pid', pidText);
    if (!pid.ok) {
      skipped.push(`${where}: ${pid.reason}`);
      continue;
    }
    if (seen.has(pid.value)) {
      skipped.push(`${where} repeats pid ${pid.value}; the first is kept`);
      continue;
    }
    seen.add(pid.value);
    processes.push(readProcess(pid.value, entry));
  }
  return { name, appRoot, processes };
}

function readProcess(pid: number, node: XmlNode): PoolProcess {
  const number = (value: unknown) => {
    const text = textOf(value);
    return text === null ? null : readWholeNumber(text);
  };
  return {
    pid,
    sessions: number(node.sessions),
    lifeStatus: textOf(node.life_status),
    enabled: textOf(node.enabled),
    spawnStartTimeUs: number(node.spawn_start_time),
    realMemoryKb: number(node.real_memory),
    privateDirtyKb: number(node.private_dirty),
    rssKb: number(node.rss),
    command: textOf(node.command),
  };
}

function isNode(value: unknown): value is XmlNode {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One element or several of the same name, as a list of elements. */
function nodesOf(value: unknown): XmlNode[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter(isNode);
}

/**
 * The decoded text of an element that appears once and holds only text;
 * null when it is absent, empty, repeated or has children.
 */
function textOf(value: unknown): string | null {
  if (typeof value !== 'string' || value === '') return null;
  return value.replace(REFERENCE, decodeReference);
}

function decodeReference(
  reference: string,
  decimal: string | undefined,
  hex: string | undefined,
  named: string | undefined,
): string {
  if (named !== undefined) return NAMED_CHARACTERS[named] ?? reference;
  const code =
    decimal !== undefined ? Number(decimal) : parseInt(hex ?? '', 16);
  // Code 0, surrogates and values past Unicode are no characters at all.
  const isCharacter =
    code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
  return isCharacter ? String.fromCodePoint(code) : reference;
}
