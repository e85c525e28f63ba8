/**
 * Parameters in memory, with the number of reads counted (Parameter
 * Store's throughput is shared by every Get call in the account) and a
 * switch to make reads fail.
 */
import type { Parameter } from '../../core/parameter-tree.ts';
import type { ParameterSource } from './parameter-source.ts';

export class InMemoryParameterSource implements ParameterSource {
  readonly #values = new Map<string, string>();
  #failure: Error | undefined;
  #reads = 0;

  constructor(parameters: Readonly<Record<string, string>> = {}) {
    for (const [name, value] of Object.entries(parameters)) {
      this.#values.set(name, value);
    }
  }

  set(name: string, value: string): void {
    this.#values.set(name, value);
  }

  delete(name: string): void {
    this.#values.delete(name);
  }

  /** Every read throws this until called again with undefined. */
  failWith(error: Error | undefined): void {
    this.#failure = error;
  }

  get reads(): number {
    return this.#reads;
  }

  async parametersUnder(path: string): Promise<readonly Parameter[]> {
    this.#reads++;
    if (this.#failure !== undefined) throw this.#failure;
    const prefix = `${path.replace(/\/+$/, '')}/`;
    return [...this.#values]
      .filter(([name]) => name.startsWith(prefix))
      .map(([name, value]) => ({ name, value }));
  }
}
