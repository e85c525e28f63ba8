/**
 * Where the fleet configuration's parameters come from: SSM Parameter
 * Store on a host, memory in tests and in the fleet simulator.
 */
import type { Parameter } from '../../core/parameter-tree.ts';

export interface ParameterSource {
  /** Every parameter under `path`, at any depth; throws when unreadable. */
  parametersUnder(path: string): Promise<readonly Parameter[]>;
}
