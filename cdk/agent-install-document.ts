/**
 * The Command document the State Manager association runs on every
 * instance with the fleet's tag: it downloads the agent bundle and the
 * systemd unit (two S3 assets), installs them, points the unit at the
 * fleet with a drop-in, and (re)starts the service only when something
 * changed, so the association can run again and again without
 * restarting a healthy agent (which would lose its pending deadlines).
 *
 *   clearStaging ─> downloadAgent ─> downloadUnit ─> install
 *   (empty dirs)    (aws:downloadContent, S3)        (compare, copy, start)
 *
 * Each download gets its own empty directory, because the file keeps its
 * S3 name (the asset hash): the install step takes the one file it finds.
 * The fleet name reaches the script only as $SSM_fleet (ENV_VAR), and the
 * script checks it again before writing it into the drop-in.
 */
import { DEFAULT_AGENT_PATH } from '../lambdas/ssm/order-document.ts';

export const AGENT_SERVICE = 'passenger-fleet-agent.service';
export const STAGING_DIRECTORY = '/var/lib/passenger-fleet/install';
/** Same rule as core/parameter-tree.ts applies to fleet names. */
export const FLEET_NAME_PATTERN = '^[A-Za-z0-9_.-]{1,64}$';
/**
 * Prefixes every path the install step touches. SSM never sets it; the
 * tests set it to install into a scratch directory.
 */
export const INSTALL_ROOT_VARIABLE = 'PASSENGER_FLEET_INSTALL_ROOT';

export interface InstallSources {
  /** HTTPS URL of the agent bundle in S3. */
  readonly agentUrl: string;
  /** HTTPS URL of the systemd unit in S3. */
  readonly unitUrl: string;
}

const LINUX_ONLY = { StringEquals: ['platformType', 'Linux'] };

/** The install step's shell script, one line per entry. */
export const INSTALL_SCRIPT_LINES: readonly string[] = [
  '#!/bin/sh',
  '# The fleet name comes only as $SSM_fleet (interpolationType ENV_VAR).',
  'set -eu',
  `root="\${${INSTALL_ROOT_VARIABLE}:-}"`,
  `staging="$root${STAGING_DIRECTORY}"`,
  `agent="$root${DEFAULT_AGENT_PATH}"`,
  `units="$root/etc/systemd/system"`,
  `service=${AGENT_SERVICE}`,
  'fail() { echo "passenger-fleet install: $2" >&2; exit "$1"; }',
  'case "${SSM_fleet:-}" in',
  "  ''|*[!A-Za-z0-9_.-]*) fail 64 'the fleet parameter must be letters, digits, _ . or -' ;;",
  'esac',
  '[ "${#SSM_fleet}" -le 64 ] || fail 64 "the fleet parameter must be at most 64 characters"',
  'node=$(command -v node) || fail 69 "node is not in the PATH (${PATH:-unset}); install Node.js 20 or later"',
  '"$node" -e "process.exit(Number(process.versions.node.split(\'.\')[0]) >= 20 ? 0 : 1)" ||',
  '  fail 69 "$node is older than Node.js 20, which the agent needs"',
  'command -v systemctl >/dev/null 2>&1 || fail 69 "systemctl is missing: the agent runs as a systemd service"',
  '# The one file a download step left in its own directory.',
  'only_file() {',
  '  set -- "$1"/*',
  '  [ "$#" -eq 1 ] && [ -f "$1" ] || fail 66 "expected exactly one downloaded file, found: $*"',
  '  printf "%s\\n" "$1"',
  '}',
  'new_agent=$(only_file "$staging/agent")',
  'new_unit=$(only_file "$staging/unit")',
  'mkdir -p "$(dirname "$agent")" "$units/$service.d"',
  'changed=0',
  'if ! cmp -s "$new_agent" "$agent"; then',
  '  # A rename is atomic: a running agent keeps its open file.',
  '  cp "$new_agent" "$agent.new" && chmod 0644 "$agent.new" && mv -f "$agent.new" "$agent"',
  '  changed=1',
  'fi',
  'if ! cmp -s "$new_unit" "$units/$service"; then',
  '  cp "$new_unit" "$units/$service" && chmod 0644 "$units/$service"',
  '  changed=1',
  'fi',
  '# The drop-in names the fleet, whatever the unit file says.',
  `dropin=$(printf '[Service]\\nExecStart=\\nExecStart=%s %s agent --fleet %s' "$node" "${DEFAULT_AGENT_PATH}" "$SSM_fleet")`,
  'if [ "$dropin" != "$(cat "$units/$service.d/fleet.conf" 2>/dev/null)" ]; then',
  '  printf "%s\\n" "$dropin" > "$units/$service.d/fleet.conf"',
  '  changed=1',
  'fi',
  'systemctl enable --quiet "$service"',
  'if [ "$changed" -eq 1 ]; then',
  '  systemctl daemon-reload',
  '  systemctl restart "$service"',
  'elif ! systemctl is-active --quiet "$service"; then',
  '  systemctl start "$service"',
  'fi',
  'systemctl is-active --quiet "$service" ||',
  '  fail 1 "$service is not running; see journalctl -u $service"',
  'echo "passenger-fleet install: agent for fleet $SSM_fleet in place (changed=$changed)"',
];

/** The document content, with the assets' URLs (tokens at synth). */
export function agentInstallDocument(
  sources: InstallSources,
): Record<string, unknown> {
  const download = (name: string, url: string, directory: string) => ({
    action: 'aws:downloadContent',
    name,
    precondition: LINUX_ONLY,
    inputs: {
      sourceType: 'S3',
      sourceInfo: `{"path":"${url}"}`,
      destinationPath: `${STAGING_DIRECTORY}/${directory}`,
    },
  });
  return {
    schemaVersion: '2.2',
    description:
      'passenger-fleet: install or update the agent bundle and its systemd ' +
      'unit, and keep the service running for one fleet.',
    parameters: {
      fleet: {
        type: 'String',
        description: 'The fleet whose configuration the agent reads.',
        allowedPattern: FLEET_NAME_PATTERN,
        interpolationType: 'ENV_VAR',
      },
    },
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: 'clearStaging',
        precondition: LINUX_ONLY,
        inputs: {
          timeoutSeconds: '60',
          runCommand: [
            `rm -rf ${STAGING_DIRECTORY}`,
            `mkdir -p ${STAGING_DIRECTORY}/agent ${STAGING_DIRECTORY}/unit`,
          ],
        },
      },
      download('downloadAgent', sources.agentUrl, 'agent'),
      download('downloadUnit', sources.unitUrl, 'unit'),
      {
        action: 'aws:runShellScript',
        name: 'install',
        precondition: LINUX_ONLY,
        inputs: { timeoutSeconds: '300', runCommand: INSTALL_SCRIPT_LINES },
      },
    ],
  };
}
