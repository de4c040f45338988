import { z } from 'zod';
import { quoteList } from '../shared/errors.js';
import { parsePayload, PayloadError } from '../shared/payload.js';
import { assetNameRef, type Policy } from '../policy/schema.js';
import { describeRetention, type ReplicaBucketProtection } from '../storage/object-lock.js';
import type { StatusReport } from './monitor.js';

/** The status function's payload: `{}`, `{"format":"table"}`, `{"assets":["eval-sets"]}`. */
const requestSchema = z.strictObject({
  format: z.enum(['json', 'table']).default('json'),
  assets: z.array(assetNameRef).min(1).optional(),
});
export type StatusRequest = z.infer<typeof requestSchema>;

export function parseStatusRequest(payload: unknown, policy: Policy): StatusRequest {
  const request = parsePayload(requestSchema, payload, '{"format": "json" | "table", "assets": ["<asset name>", ...]}');
  const known = policy.assets.map((a) => a.name);
  const unknown = (request.assets ?? []).filter((a) => !known.includes(a));
  if (unknown.length > 0) throw new PayloadError(`assets: unknown asset ${quoteList(unknown)}; the policy has ${known.join(', ')}`);
  return request;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null) return 'unknown';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

/** A plain-text table for people (`jq -r .table out.json`). */
export function renderStatusTable(report: StatusReport): string {
  const rows = report.assets.map((a) => ({
    ASSET: a.asset,
    TIER: a.tier,
    STATUS: a.status === 'missed' ? 'MISSED' : a.status,
    RPO: formatDuration(a.rpoSeconds),
    TARGET: formatDuration(a.rpoTargetSeconds),
    PENDING: String(a.pendingObjects),
    FAILED: String(a.failedObjects),
    'OLDEST PENDING': a.oldestChange ? `${a.oldestChange.key} (${a.oldestChange.sourceLastModified})` : '-',
    'LAST REPLICATED': a.lastReplicatedAt ?? (a.newestSnapshotAt ? `snapshot ${a.newestSnapshotAt}` : '-'),
    'LAST ALERT': a.lastAlert ? `${a.lastAlert.type} ${a.lastAlert.at}` : '-',
  }));
  const columns = Object.keys(rows[0] ?? { ASSET: '' }) as (keyof (typeof rows)[number])[];
  const width = (c: (typeof columns)[number]) => Math.max(c.length, ...rows.map((r) => r[c].length));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => cell.padEnd(width(columns[i]!)))
      .join('  ')
      .trimEnd();
  return [
    `DR status at ${report.generatedAt}; dead-letter queue: ${report.deadLetterDepth} message(s)`,
    line(columns as string[]),
    ...rows.map((r) => line(columns.map((c) => r[c]))),
    ...report.replicaBuckets.map(protectionLine),
  ].join('\n');
}

/** One replica bucket's Object Lock, for people: what it protects, or what it leaves open. */
function protectionLine({ bucket, objectLock, lockedAssets, unprotected }: ReplicaBucketProtection): string {
  if (unprotected.length > 0) {
    return `replica bucket ${bucket}: OBJECT LOCK OFF, so ${unprotected.join(', ')} can be deleted by anyone allowed to (docs/object-lock.md#a-bucket-without-object-lock)`;
  }
  if (!objectLock.enabled) return `replica bucket ${bucket}: Object Lock off (the policy asks for none)`;
  const retention = objectLock.defaultRetention;
  return `replica bucket ${bucket}: Object Lock on${retention ? `, default ${describeRetention(retention)}` : ''}; locked: ${lockedAssets.join(', ') || 'none'}`;
}
