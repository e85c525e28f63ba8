/**
 * The Parameter Store tree the stack writes for a fleet: the defaults the
 * construct's props set, one setting per parameter (core/parameter-tree.ts
 * explains the tree). The whole tree is checked at synth with the same
 * parser the agents and the controller use, so a deploy can never write a
 * configuration they would reject.
 *
 * Settings the props leave out are not written: the schema's own default
 * applies, and an operator may add the parameter later without fighting
 * the stack over it.
 */
import {
  configFromParameters,
  describeParameterProblem,
  parameterRoot,
  type Parameter,
} from '../core/parameter-tree.ts';

/** Per-app overrides, written under `apps/<name>/`. */
export interface AppSettings {
  /** Memory limit per worker, MB. */
  readonly limitMb?: number;
  /** Seconds between the graceful action and the forced kill. */
  readonly graceSeconds?: number;
  /** Decide and log, act on nothing, for this app only. */
  readonly dryRun?: boolean;
}

export interface FleetSettings {
  readonly defaultLimitMb?: number;
  readonly defaultGraceSeconds?: number;
  readonly dryRun?: boolean;
  /** Keyed by the app's short name (`shop` for `/data/shop/current`). */
  readonly apps?: Readonly<Record<string, AppSettings>>;
  readonly maxInGrace?: number;
  readonly maxInGracePercent?: number;
  readonly breakerPercent?: number;
  readonly minHostsForBreaker?: number;
  readonly silentAfterSeconds?: number;
}

/** What SSM allows in one level of a parameter name. */
const PATH_PART = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * The parameters for `fleet`, sorted by name. Throws, naming the prop and
 * the rule, when an app name cannot be a parameter path or a value would
 * be rejected by the fleet's configuration schema.
 */
export function fleetParameters(
  fleet: string,
  settings: FleetSettings,
): Parameter[] {
  const root = parameterRoot(fleet);
  const parameters: Parameter[] = [];
  const add = (path: string, value: number | boolean | undefined) => {
    if (value === undefined) return;
    parameters.push({ name: `${root}/${path}`, value: JSON.stringify(value) });
  };

  add('defaults/limitMb', settings.defaultLimitMb);
  add('defaults/graceSeconds', settings.defaultGraceSeconds);
  add('dryRun', settings.dryRun);
  add('fleet/maxInGrace', settings.maxInGrace);
  add('fleet/maxInGracePercent', settings.maxInGracePercent);
  add('fleet/breakerPercent', settings.breakerPercent);
  add('fleet/minHostsForBreaker', settings.minHostsForBreaker);
  add('fleet/silentAfterSeconds', settings.silentAfterSeconds);
  for (const [app, overrides] of Object.entries(settings.apps ?? {})) {
    if (!PATH_PART.test(app)) {
      throw new Error(
        `PassengerFleetMonitor prop apps: the app name ${JSON.stringify(app)} ` +
          'must be 1 to 128 letters, digits, "_", "." or "-" (its short name), ' +
          'because it becomes a level of a parameter name',
      );
    }
    add(`apps/${app}/limitMb`, overrides.limitMb);
    add(`apps/${app}/graceSeconds`, overrides.graceSeconds);
    add(`apps/${app}/dryRun`, overrides.dryRun);
  }

  const parsed = configFromParameters(root, parameters);
  if (!parsed.ok) {
    const problems = parsed.problems.map(describeParameterProblem);
    throw new Error(
      'PassengerFleetMonitor props would write a fleet configuration the ' +
        `agents and the controller reject: ${problems.join('; ')}`,
    );
  }
  return parameters.sort((a, b) => (a.name < b.name ? -1 : 1));
}
