import type { Context } from 'aws-lambda';
import { awaitReplication, buildDatasetVersion, previewDatasetVersion } from './lineage/build-dataset-version.js';
import type { DatasetVersionEntry } from './lineage/dataset-catalog.js';
import { parseLineageCall } from './lineage/lineage-request.js';
import { holdDatasetVersion } from './lineage/legal-holds.js';
import { importFromMlflow } from './lineage/import-mlflow.js';
import { evalHistory, linksOf, registerModel, type ModelRecord } from './lineage/model-records.js';
import { retireModel } from './lineage/retire-model.js';
import { createLineage } from './lineage/runtime.js';
import { MAX_REQUEST_BYTES, RequestFileTooLargeError, RESULT_SUFFIX, requestFileOf, resultKeyOf } from './lineage/dataset-requests.js';
import { parseConfig } from './shared/config.js';
import { PayloadError } from './shared/payload.js';
import { quote } from './shared/errors.js';
import { logger, lambdaHandler } from './shared/observability.js';

const config = parseConfig(process.env);
const lineage = createLineage(config, config.AWS_LAMBDA_FUNCTION_NAME ?? 'lineage');

/** What a call answers about a dataset version: the entry without its parts' list (manifest.json has it). */
const summary = ({ parts, afterKey: _afterKey, ...entry }: DatasetVersionEntry) => ({ ...entry, parts: parts.length });

/**
 * Dataset versions and model records (docs/lineage.md, events/lineage/):
 *   {"dataset": {"asset", "prefix"?, "asOf"?, "name"?, "waitMinutes"?}}  create one (continued in further invocations when large)
 *   {"datasetVersion": {"asset", "id"}}, {"datasetVersions": {"asset"}}
 *   {"registerModel": {…}}, {"model": "<name>@<version>"}, {"modelVersions": "<name>"}, {"modelsUsing": {"asset", "id"}}
 *   {"importMlflow": {"model", "version"?, "ignoreForeignInputs"?}}: model records from MLflow's Model Registry
 *   {"retireModel": {"model", "dryRun" | "planToken"}}; {"hold" | "release": {"asset", "id"}, "continuation": true} (sent by itself)
 */
export const handler = lambdaHandler(async (event: unknown, context: Context) => {
  const holds = () => lineage.holdsFor(() => context.getRemainingTimeInMillis());
  /** One invocation's worth of a dataset version's hold or release; the rest in the next. */
  const holdOrRelease = async (asset: string, id: string, kind: 'hold' | 'release') => {
    const entry = await lineage.catalog.get(asset, id);
    if (!entry) throw new PayloadError(`${kind}.id: asset ${asset} has no dataset version ${quote(id)}`);
    const { hold, continues } = await holdDatasetVersion(entry, kind === 'hold', holds());
    if (continues) await lineage.continuation.continueLater({ [kind]: { asset, id }, continuation: true });
    return { asset, id, state: hold.state, versions: hold.versions, ...(hold.reason && { reason: hold.reason }) };
  };
  /**
   * What a model links is held for as long as it is registered (each hold continues by itself when
   * large); a retired model's (registered again, a no-op) is not held again.
   */
  const holdLinks = async (record: ModelRecord) => {
    if (record.retiredAt) return [];
    const held = [];
    for (const link of linksOf(record)) held.push(await holdOrRelease(link.asset, link.id, 'hold'));
    return held;
  };
  // A request file dropped by a training pipeline (its S3 event): read it, and answer beside it.
  const file = requestFileOf(event);
  if (file) {
    if (file.key.endsWith(RESULT_SUFFIX)) return { ignored: `${file.key} is a result file` };
    const replyTo = { bucket: file.bucket, key: resultKeyOf(file.key) };
    let payload: unknown;
    try {
      payload = JSON.parse((await lineage.requestFiles.read(file.bucket, file.key, MAX_REQUEST_BYTES)).toString('utf8'));
      if (!payload || typeof payload !== 'object' || !('dataset' in payload) || 'replyTo' in payload || 'continuation' in payload)
        throw new PayloadError('payload: a request file holds {"dataset": {"asset", "prefix"?, "asOf"?, "name"?, "waitMinutes"?}}');
      parseLineageCall(payload, lineage.policy, lineage.now());
    } catch (error) {
      if (!(error instanceof PayloadError || error instanceof SyntaxError || error instanceof RequestFileTooLargeError)) throw error;
      // One clear error, beside the request: nothing is built, and the event is not retried.
      const answer = {
        request: `s3://${file.bucket}/${file.key}`,
        error: error instanceof SyntaxError ? `not JSON: ${error.message}` : error.message,
      };
      logger.warn('dataset request refused', answer);
      await lineage.requestFiles.write(replyTo.bucket, replyTo.key, answer);
      return answer;
    }
    event = { ...(payload as object), replyTo };
  }
  const call = parseLineageCall(event, lineage.policy, lineage.now());
  switch (call.kind) {
    case 'list':
      return { asset: call.asset.name, datasetVersions: (await lineage.catalog.list(call.asset.name)).map(summary) };
    case 'get': {
      const entry = await lineage.catalog.get(call.asset.name, call.id);
      if (!entry) throw new PayloadError(`datasetVersion.id: asset ${call.asset.name} has no dataset version ${quote(call.id)}`);
      const hold = await holds().holds.get(call.asset.name, call.id);
      return { ...summary(entry), ...(hold && { hold }) };
    }
    case 'register': {
      const { record, registered } = await registerModel(call.registration, lineage);
      logger.info(registered ? 'model registered' : 'model registered already', { model: `${record.name}@${record.version}` });
      return { ...record, registered, holds: await holdLinks(record) };
    }
    case 'import-mlflow': {
      const result = await importFromMlflow(call, { ...lineage, registry: await lineage.mlflow(), hold: holdLinks });
      logger.info('MLflow import', { model: call.model, imported: result.imported.length, refused: result.refused.length });
      return result;
    }
    case 'retire':
      return retireModel(call, holds());
    case 'hold':
    case 'release':
      return holdOrRelease(call.asset.name, call.id, call.kind);
    case 'model': {
      const record = await lineage.models.get(call.name, call.version);
      if (!record) throw new PayloadError(`model: no model ${quote(`${call.name}@${call.version}`)} is registered`);
      return record;
    }
    case 'eval-history':
      return evalHistory(call.name, lineage);
    case 'model-versions':
      return { name: call.name, versions: await lineage.models.versions(call.name) };
    case 'models-using': {
      const [models, active] = [await lineage.models.usersOf(call.asset, call.id), await lineage.models.activeUsersOf(call.asset, call.id)];
      return { asset: call.asset, id: call.id, models, retired: models.filter((m) => !active.includes(m)) };
    }
    case 'create': {
      if (call.dryRun) {
        const preview = await previewDatasetVersion(
          call.asset,
          call.request,
          lineage.depsFor(call.asset, () => context.getRemainingTimeInMillis()),
        );
        if (call.replyTo) await lineage.requestFiles.write(call.replyTo.bucket, call.replyTo.key, preview);
        return preview;
      }
      const deps = lineage.depsFor(call.asset, () => context.getRemainingTimeInMillis());
      const continueLater = () =>
        lineage.continuation.continueLater({ dataset: call.request, continuation: true, ...(call.replyTo && { replyTo: call.replyTo }) });
      // A request that waits for replication (waitMinutes) waits first, in invocations of its own.
      const waiting = await awaitReplication(call.asset, call.request, deps);
      if (waiting) {
        await continueLater();
        logger.info('dataset version waiting for replication', { ...waiting });
        if (call.replyTo) await lineage.requestFiles.write(call.replyTo.bucket, call.replyTo.key, waiting);
        return waiting;
      }
      const { entry, continues } = await buildDatasetVersion(call.asset, call.request, deps);
      if (continues) await continueLater();
      logger.info(`dataset version ${entry.state}`, { ...summary(entry) });
      // A request file's result: written now, and again by the invocation that finishes the build.
      if (call.replyTo) await lineage.requestFiles.write(call.replyTo.bucket, call.replyTo.key, summary(entry));
      return summary(entry);
    }
  }
});
