import type { Context } from 'aws-lambda';
import { buildDatasetVersion } from './lineage/build-dataset-version.js';
import type { DatasetVersionEntry } from './lineage/dataset-catalog.js';
import { parseLineageCall } from './lineage/lineage-request.js';
import { registerModel } from './lineage/model-records.js';
import { createLineage } from './lineage/runtime.js';
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
 *   {"dataset": {"asset", "prefix"?, "asOf"?, "name"?}}  create one (continued in further invocations when large)
 *   {"datasetVersion": {"asset", "id"}}, {"datasetVersions": {"asset"}}
 *   {"registerModel": {…}}, {"model": "<name>@<version>"}, {"modelVersions": "<name>"}, {"modelsUsing": {"asset", "id"}}
 */
export const handler = lambdaHandler(async (event: unknown, context: Context) => {
  const call = parseLineageCall(event, lineage.policy, lineage.now());
  switch (call.kind) {
    case 'list':
      return { asset: call.asset.name, datasetVersions: (await lineage.catalog.list(call.asset.name)).map(summary) };
    case 'get': {
      const entry = await lineage.catalog.get(call.asset.name, call.id);
      if (!entry) throw new PayloadError(`datasetVersion.id: asset ${call.asset.name} has no dataset version ${quote(call.id)}`);
      return summary(entry);
    }
    case 'register': {
      const { record, registered } = await registerModel(call.registration, lineage);
      logger.info(registered ? 'model registered' : 'model registered already', { model: `${record.name}@${record.version}` });
      return { ...record, registered };
    }
    case 'model': {
      const record = await lineage.models.get(call.name, call.version);
      if (!record) throw new PayloadError(`model: no model ${quote(`${call.name}@${call.version}`)} is registered`);
      return record;
    }
    case 'model-versions':
      return { name: call.name, versions: await lineage.models.versions(call.name) };
    case 'models-using':
      return { asset: call.asset, id: call.id, models: await lineage.models.usersOf(call.asset, call.id) };
    case 'create': {
      const { entry, continues } = await buildDatasetVersion(
        call.asset,
        call.request,
        lineage.depsFor(call.asset, () => context.getRemainingTimeInMillis()),
      );
      if (continues) await lineage.continuation.continueLater({ dataset: call.request, continuation: true });
      logger.info(`dataset version ${entry.state}`, { ...summary(entry) });
      return summary(entry);
    }
  }
});
