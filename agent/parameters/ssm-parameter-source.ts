/**
 * Parameters from SSM Parameter Store: GetParametersByPath, recursive,
 * ten to a page, every page followed. Each request is bounded in time,
 * and so is the number of pages (the account holds at most 10,000
 * standard parameters), so a misbehaving token cannot loop forever.
 */
import {
  GetParametersByPathCommand,
  type SSMClient,
} from '@aws-sdk/client-ssm';
import type { Parameter } from '../../core/parameter-tree.ts';
import type { ParameterSource } from './parameter-source.ts';

/** GetParametersByPath returns at most 10 per page. */
const PAGE_SIZE = 10;

export interface SsmParameterSourceOptions {
  readonly client: SSMClient;
  /** Default 1,000 pages: the 10,000 parameters an account may hold. */
  readonly maxPages?: number;
  /** Default 5 s per request. */
  readonly requestTimeoutMs?: number;
}

export class SsmParameterSource implements ParameterSource {
  readonly #client: SSMClient;
  readonly #maxPages: number;
  readonly #requestTimeoutMs: number;

  constructor(options: SsmParameterSourceOptions) {
    this.#client = options.client;
    this.#maxPages = options.maxPages ?? 1_000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 5_000;
  }

  async parametersUnder(path: string): Promise<readonly Parameter[]> {
    const parameters: Parameter[] = [];
    const seenTokens = new Set<string>();
    let token: string | undefined;
    for (let page = 1; page <= this.#maxPages; page++) {
      const answer = await this.#client.send(
        new GetParametersByPathCommand({
          Path: path.replace(/\/+$/, ''),
          Recursive: true,
          WithDecryption: false,
          MaxResults: PAGE_SIZE,
          ...(token === undefined ? {} : { NextToken: token }),
        }),
        { abortSignal: AbortSignal.timeout(this.#requestTimeoutMs) },
      );
      for (const { Name, Value } of answer.Parameters ?? []) {
        if (Name !== undefined && Value !== undefined) {
          parameters.push({ name: Name, value: Value });
        }
      }
      token = answer.NextToken;
      if (token === undefined || token === '') return parameters;
      if (seenTokens.has(token)) {
        throw new Error(
          `GetParametersByPath under ${path} returned the same NextToken ` +
            `twice (page ${page}); stopped`,
        );
      }
      seenTokens.add(token);
    }
    throw new Error(
      `GetParametersByPath under ${path} still had more after ` +
        `${this.#maxPages} pages (maxPages); stopped`,
    );
  }
}
