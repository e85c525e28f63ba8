/**
 * What every RecordStore accepts as audit input, checked before anything
 * is written so that both stores refuse the same entries.
 */
import { MarkRuleError } from './errors.ts';
import { checkTime } from './mark-transitions.ts';
import type { AuditEntry } from './record-store.ts';

/** recentAudit reads at most this many entries per call. */
export const MAX_AUDIT_READ = 1000;

export function checkAuditEntries(entries: readonly AuditEntry[]): void {
  entries.forEach((entry, index) => {
    checkTime('appendAudit', `entries[${index}].at`, entry.at);
    if (typeof entry.host !== 'string' || entry.host === '') {
      throw new MarkRuleError(
        'appendAudit',
        `entries[${index}].host must be a non-empty string, got ` +
          JSON.stringify(entry.host),
      );
    }
  });
}

export function checkAuditLimit(limit: number): void {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_READ) {
    throw new MarkRuleError(
      'recentAudit',
      `limit must be a whole number from 1 to ${MAX_AUDIT_READ}, got ` +
        String(limit),
    );
  }
}
