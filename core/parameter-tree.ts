/**
 * The fleet configuration as a tree of SSM parameters, one setting per
 * parameter, under one root per fleet:
 *
 *   /passenger-fleet/<fleet>/defaults/limitMb            300
 *   /passenger-fleet/<fleet>/defaults/gracefulAction     detach
 *   /passenger-fleet/<fleet>/apps/shop/limitMb           400
 *   /passenger-fleet/<fleet>/apps/shop/dryRun            true
 *   /passenger-fleet/<fleet>/orphans/graceSeconds        60
 *   /passenger-fleet/<fleet>/unlistedApps                ignore
 *
 * The path below the root is the path in the config schema
 * (core/config.ts). A value is read as JSON when it parses as JSON
 * (`300`, `true`, `{"type":"signal","signal":"TERM"}`), else as text
 * (`detach`); write `"300"` to pass the text 300. A branch may also be
 * one parameter holding a JSON object (`apps/shop` = `{"limitMb":400}`)
 * and mixes with deeper parameters as long as no setting is given twice.
 * App names in paths are limited to what SSM allows in a name (letters,
 * digits, `_.-`), so apps are named by their short name here.
 *
 * The agent and the controller both read the tree through this module,
 * so a parameter means the same to both.
 */
import { describeProblem, parseConfig, type FleetConfig } from './config.ts';

export const PARAMETER_PREFIX = '/passenger-fleet';
const FLEET_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

export interface Parameter {
  /** The full name, e.g. `/passenger-fleet/prod/defaults/limitMb`. */
  readonly name: string;
  readonly value: string;
}

/** A parameter that could not be used, or a setting it broke. */
export interface ParameterProblem {
  /** The parameter(s) to change; empty when a setting is missing. */
  readonly parameters: readonly string[];
  /** Dotted setting, as in core/config.ts problems; `(root)` for the tree. */
  readonly field: string;
  readonly rule: string;
  readonly value: unknown;
}

export type TreeParse =
  | { readonly ok: true; readonly config: FleetConfig }
  | { readonly ok: false; readonly problems: readonly ParameterProblem[] };

/** `/passenger-fleet/prod` for `prod`; the fleet name is checked. */
export function parameterRoot(fleet: string): string {
  if (!FLEET_NAME.test(fleet)) {
    throw new RangeError(
      `fleet must be 1 to 64 letters, digits, "_", "." or "-" ` +
        `(got ${JSON.stringify(fleet)})`,
    );
  }
  return `${PARAMETER_PREFIX}/${fleet}`;
}

/** JSON when it parses, else the text itself. */
export function parameterValue(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/**
 * Builds the config from every parameter under `root` and validates it.
 * Every problem names the parameter(s) to change and the rule broken.
 */
export function configFromParameters(
  root: string,
  parameters: readonly Parameter[],
): TreeParse {
  const base = root.replace(/\/+$/, '');
  const tree: Tree = { node: blank(), owners: new Map() };
  const problems: ParameterProblem[] = [];
  const sorted = [...parameters].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  for (const parameter of sorted) {
    const path = settingPath(base, parameter.name);
    if (path === undefined) {
      problems.push({
        parameters: [parameter.name],
        field: '(root)',
        rule: `is not under ${base}/ or has an empty part`,
        value: parameter.value,
      });
      continue;
    }
    problems.push(
      ...place(tree, path, parameterValue(parameter.value), parameter.name),
    );
  }
  if (problems.length > 0) return { ok: false, problems };

  const parsed = parseConfig(tree.node);
  if (parsed.ok) return parsed;
  return {
    ok: false,
    problems: parsed.problems.map((problem) => ({
      ...problem,
      parameters: ownersOf(tree, problem.field),
    })),
  };
}

/** `/passenger-fleet/prod/apps/shop/limitMb: apps.shop.limitMb must ...` */
export function describeParameterProblem(problem: ParameterProblem): string {
  const where =
    problem.parameters.length > 0
      ? problem.parameters.join(', ')
      : 'no parameter';
  return `${where}: ${describeProblem(problem)}`;
}

type Node = Record<string, unknown>;

interface Tree {
  readonly node: Node;
  /** Path of each value set (joined by NUL) → the parameter that set it. */
  readonly owners: Map<string, string>;
}

function settingPath(base: string, name: string): string[] | undefined {
  if (!name.startsWith(`${base}/`)) return undefined;
  const parts = name.slice(base.length + 1).split('/');
  return parts.every((part) => part !== '') ? parts : undefined;
}

/**
 * Object machinery that a parser may drop without a word (zod skips a
 * `__proto__` record key): refused here so that no setting is silently
 * lost.
 */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * Puts one value at its path. Objects are walked key by key so that a
 * JSON branch and deeper parameters merge; a setting given twice, or a
 * value where a branch goes on, is a conflict naming both parameters.
 * Nodes have no prototype, and reserved keys are refused before they
 * reach one.
 */
function place(
  tree: Tree,
  path: readonly string[],
  value: unknown,
  owner: string,
): ParameterProblem[] {
  const reserved = path.find((key) => RESERVED_KEYS.has(key));
  if (reserved !== undefined) {
    return [
      {
        parameters: [owner],
        field: path.join('.'),
        rule: `uses ${reserved}, which cannot name a setting or an app`,
        value,
      },
    ];
  }
  if (isPlainObject(value) && Object.keys(value).length > 0) {
    return Object.entries(value).flatMap(([key, inner]) =>
      place(tree, [...path, key], inner, owner),
    );
  }
  let node = tree.node;
  for (const [depth, key] of path.slice(0, -1).entries()) {
    const next = node[key];
    if (next === undefined) {
      const child = blank();
      node[key] = child;
      node = child;
    } else if (isPlainObject(next)) {
      node = next;
    } else {
      return [conflict(tree, path.slice(0, depth + 1), owner, value)];
    }
  }
  const leaf = path.at(-1) ?? '';
  if (node[leaf] !== undefined) return [conflict(tree, path, owner, value)];
  node[leaf] = isPlainObject(value) ? blank() : value;
  tree.owners.set(path.join('\0'), owner);
  return [];
}

function conflict(
  tree: Tree,
  path: readonly string[],
  owner: string,
  value: unknown,
): ParameterProblem {
  const earlier = ownersOf(tree, path.join('.'));
  return {
    parameters: [...new Set([...earlier, owner])],
    field: path.join('.'),
    rule: 'is given twice, or both as a value and as a branch',
    value,
  };
}

/**
 * The parameters behind a setting: the one that set it or a value above
 * it, else every parameter under it.
 */
function ownersOf(tree: Tree, field: string): string[] {
  let best: { depth: number; owner: string } | undefined;
  const below = new Set<string>();
  for (const [key, owner] of tree.owners) {
    const dotted = key.split('\0').join('.');
    if (field === dotted || field.startsWith(`${dotted}.`)) {
      const depth = dotted.length;
      if (best === undefined || depth > best.depth) best = { depth, owner };
    } else if (field === '(root)' || dotted.startsWith(`${field}.`)) {
      below.add(owner);
    }
  }
  return best !== undefined ? [best.owner] : [...below].sort();
}

function blank(): Node {
  return Object.create(null) as Node;
}

function isPlainObject(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
