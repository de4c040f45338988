import { ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { dataPlanStore } from '../../../functions/restore/dynamo-plan-store.js';
import { PlanTokenError } from '../../../functions/restore/restore-plan.js';
import { dynamoDocumentClient } from '../../../functions/shared/aws-clients.js';
import { parseVectorRestore } from '../../../functions/restore/restore-vectors-request.js';
import { restoreVectors } from '../../../functions/restore/restore-vectors.js';
import { PayloadError } from '../../../functions/shared/payload.js';
import type { SnapshotEntry } from '../../../functions/vectors/snapshot-catalog.js';
import type { VectorStore } from '../../../functions/vectors/vector-store.js';
import { loadEvent } from '../../support/fixtures.js';
import { docs, indexExists, PAYLOAD_NOW, REPLICA, restoredName, type RestoreHarness, withDocsSnapshot } from './restore-vectors-harness.js';

/**
 * The two steps of a vector restore: a dry run writes nothing anywhere, and only the token of a dry
 * run of exactly the same request runs it, once, before it expires. Anything else is one clear
 * error and nothing is written.
 */
let h: RestoreHarness;
let pg: VectorStore;
let snapshot: SnapshotEntry;
const records = docs(150, 8);

const call = async (payload: unknown, overrides = {}) =>
  restoreVectors(parseVectorRestore(payload, h.policy, PAYLOAD_NOW), h.restoreDeps(overrides).deps);
/** The samples, pointed at the test policy: a dry run of docs into pg-docs (the snapshot before 12:00), and its run. */
const dryRunInto = (index?: string): Record<string, unknown> =>
  index === undefined
    ? { ...loadEvent('restore-vectors/valid/dry-run.json'), asset: 'docs', target: { asset: 'pg-docs' } }
    : { ...loadEvent('restore-vectors/valid/dry-run-to-index.json'), asset: 'docs', target: { asset: 'pg-docs', index } };
const runOf = ({ dryRun: _dryRun, ...request }: Record<string, unknown>, planToken: string) => ({
  ...loadEvent('restore-vectors/valid/run-with-token.json'),
  ...request,
  planToken,
});
const replicaVersions = async () => {
  const page = await h.s3.send(new ListObjectVersionsCommand({ Bucket: REPLICA }));
  return [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => `${v.Key}@${v.VersionId}`).sort();
};

withDocsSnapshot(records, (fixture) => ({ h, pg, snapshot } = fixture));

describe('restore-vectors dry run and plan tokens', () => {
  it('a dry run writes nothing: no target index, the DR bucket unchanged, the plan stored and not executed', async () => {
    const before = await replicaVersions();
    const planned = await call(dryRunInto());

    const index = restoredName('docs', snapshot.snapshotId);
    expect(planned).toMatchObject({ state: 'planned', plan: { target: { engine: 'pgvector', index }, targetExists: false } });
    expect(await indexExists(pg, index)).toBe(false);
    expect(await replicaVersions()).toEqual(before);
    const stored = await h.plans.get(planned.planToken!);
    expect(stored).toMatchObject({
      kind: 'restore-vectors',
      state: 'planned',
      request: { asset: 'docs', target: { asset: 'pg-docs', index: null } },
    });
    expect(stored!.startedAt).toBeUndefined();
    expect(stored!.progress).toBeUndefined();
    // Plans are kept per kind: restore-data's store does not find a restore-vectors token, nor claim or lease it.
    const dataPlans = dataPlanStore(dynamoDocumentClient(), process.env.LEDGER_TABLE!);
    expect(await dataPlans.get(planned.planToken!)).toBeUndefined();
    expect(await dataPlans.claim(planned.planToken!, PAYLOAD_NOW)).toBe(false);
    expect(await dataPlans.lease(planned.planToken!, 'someone', new Date(PAYLOAD_NOW.getTime() + 60_000), PAYLOAD_NOW)).toBe(false);
    expect(await h.plans.get(planned.planToken!)).toEqual(stored);
  });

  it('refuses a run without a token, with an unknown token, or with the token of another request, writing nothing', async () => {
    const planned = await call(dryRunInto('planned-target'));
    const token = planned.planToken!;
    const { dryRun: _dryRun, ...withoutToken } = dryRunInto('planned-target');

    await expect(call(withoutToken)).rejects.toThrow(
      new PayloadError('planToken: a restore runs only with the planToken of its dry run; run the same payload with "dryRun": true first'),
    );
    const unknown = 'f'.repeat(32);
    await expect(call(runOf(dryRunInto('planned-target'), unknown))).rejects.toThrow(
      new PlanTokenError(`planToken: no restore-vectors plan "${unknown}"; run with "dryRun": true first`),
    );
    // The same token, another target index (and another option): refused.
    for (const other of [dryRunInto('another-target'), { ...dryRunInto('planned-target'), overwrite: true }]) {
      await expect(call(runOf(other, token))).rejects.toThrow(
        new PlanTokenError(`planToken: plan "${token}" was made for another request; run the same payload with "dryRun": true again`),
      );
    }

    expect(await indexExists(pg, 'planned-target')).toBe(false);
    expect(await indexExists(pg, 'another-target')).toBe(false);
    expect((await h.plans.get(token))!.state).toBe('planned');
  });

  it('refuses an expired token, writing nothing', async () => {
    const planned = await call(dryRunInto('expiring-target'));
    const dayAndHourLater = () => new Date(Date.now() + 25 * 3_600_000);

    await expect(call(runOf(dryRunInto('expiring-target'), planned.planToken!), { now: dayAndHourLater })).rejects.toThrow(
      new PlanTokenError(`planToken: plan "${planned.planToken}" expired at ${planned.expiresAt}; run with "dryRun": true again`),
    );
    expect(await indexExists(pg, 'expiring-target')).toBe(false);
  });

  it('runs a plan once: the right token restores, the same token again is refused and changes nothing', async () => {
    const planned = await call(dryRunInto('run-once'));
    const done = await call(runOf(dryRunInto('run-once'), planned.planToken!));
    expect(done).toMatchObject({ state: 'done', result: { ok: true, count: { actual: records.length } } });

    await pg.write('run-once', docs(3, 77)); // the restored index is in use: a second run must not touch it
    await expect(call(runOf(dryRunInto('run-once'), planned.planToken!))).rejects.toThrow(
      new PlanTokenError(
        `planToken: plan "${planned.planToken}" is done; a plan runs once (continue it with {"restoreId": "${planned.planToken}"})`,
      ),
    );
    expect((await pg.describe('run-once')).count).toBe(records.length + 3);
  });
});
