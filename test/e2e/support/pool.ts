/**
 * What Passenger itself says its pool holds, from
 * `passenger-status --show=xml`. The test bed reads it on its own, without
 * the agent's parser, so that tests judge the agent against Passenger.
 */
import { XMLParser } from 'fast-xml-parser';

import { runCommand } from './command.ts';

export interface PoolProcess {
  readonly pid: number;
  readonly appRoot: string;
  readonly sessions: number;
  /** ALIVE, SHUTTING_DOWN, SHUT_DOWN... */
  readonly lifeStatus: string;
  /** ENABLED, DISABLING, DISABLED or DETACHED. */
  readonly enabled: string;
  readonly privateDirtyKb: number;
}

const STATUS_TIMEOUT_MS = 15_000;

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  isArray: (name) => ['supergroup', 'group', 'process'].includes(name),
});

interface XmlProcess {
  pid?: string;
  sessions?: string;
  life_status?: string;
  enabled?: string;
  private_dirty?: string;
}

interface XmlGroup {
  app_root?: string;
  processes?: { process?: XmlProcess[] } | '';
}

interface XmlInfo {
  info?: { supergroups?: { supergroup?: { group?: XmlGroup[] }[] } | '' };
}

/** Every process of every app group; throws if Passenger does not answer. */
export async function readPool(): Promise<PoolProcess[]> {
  const result = await runCommand('passenger-status', ['--show=xml'], {
    timeoutMs: STATUS_TIMEOUT_MS,
  });
  if (result.missing) throw new Error('passenger-status is not installed');
  if (result.timedOut) {
    throw new Error(`passenger-status took over ${STATUS_TIMEOUT_MS} ms`);
  }
  if (result.exitCode !== 0) {
    throw new Error(
      `passenger-status --show=xml exited with ${result.exitCode}: ` +
        (result.stderr || result.stdout).trim().slice(0, 300),
    );
  }
  return parsePoolXml(result.stdout);
}

export function parsePoolXml(xml: string): PoolProcess[] {
  const document = parser.parse(xml) as XmlInfo;
  const supergroups = document.info?.supergroups;
  if (document.info === undefined) {
    throw new Error('passenger-status XML has no <info> element');
  }
  const processes: PoolProcess[] = [];
  if (supergroups === undefined || supergroups === '') return processes;
  for (const supergroup of supergroups.supergroup ?? []) {
    for (const group of supergroup.group ?? []) {
      const list = group.processes === '' ? [] : group.processes?.process;
      for (const entry of list ?? []) {
        processes.push({
          pid: Number(entry.pid),
          appRoot: group.app_root ?? '',
          sessions: Number(entry.sessions ?? 0),
          lifeStatus: entry.life_status ?? '',
          enabled: entry.enabled ?? '',
          privateDirtyKb: Number(entry.private_dirty ?? 0),
        });
      }
    }
  }
  return processes;
}

/** The pool's processes that serve requests: alive and enabled. */
export function serving(processes: readonly PoolProcess[]): PoolProcess[] {
  return processes.filter(
    (p) => p.lifeStatus === 'ALIVE' && p.enabled === 'ENABLED',
  );
}
