import { z } from 'zod';
import { quote } from '../shared/errors.js';
import { formatPath } from '../shared/field-path.js';
import { MAX_LINKS, type ModelRegistration } from './model-records.js';

/**
 * The MLflow importer (docs/lineage.md#model-records): model versions of MLflow's Model Registry
 * turned into model records. A version's run names the datasets it used as dataset inputs; those
 * whose source is the manifest.json of a dataset version in a replica bucket
 * (`s3://<bucket>/<lineage prefix>datasets/<asset>/<id>/manifest.json`) are linked, by context:
 * training (or none) to `trainedOn`, evaluation to `evaluatedOn`.
 *
 *   ModelRegistrySource   the port: what the importer reads from a registry
 *   MlflowRestRegistry    the adapter: MLflow's REST API (https://mlflow.org/docs/latest/rest-api.html)
 *   mapModelVersion       pure: one version and its run to a registration, or the reason it is refused
 *   importModelVersions   a model's versions (or one), each mapped
 *
 * MLflow keeps a dataset digest of at most 36 characters (3.x refuses a longer one): record the
 * first 36 hex digits of the dataset version's SHA-256. The mapping returns each link's recorded
 * digest; the caller compares it with the catalog's SHA-256 (digestMismatch).
 */

/** A model version, as the importer uses it. */
export interface MlflowModelVersion {
  name: string;
  version: string;
  /** Where the model's files are (`runs:/<run>/model`, `s3://…`, `models:/…`). */
  source: string;
  /** The run that made it; none for a version registered from files alone. */
  runId?: string;
  /** READY, PENDING_REGISTRATION or FAILED_REGISTRATION. */
  status: string;
}

/** A dataset input of a run. `source` is as MLflow keeps it: a JSON text such as `{"uri": "s3://…"}`. */
export interface MlflowDatasetInput {
  name: string;
  digest: string;
  sourceType: string;
  source: string;
  /** The input's `mlflow.data.context` tag (training, eval, …), when it has one. */
  context?: string;
}

export interface MlflowRun {
  runId: string;
  datasetInputs: MlflowDatasetInput[];
  tags: Record<string, string>;
  params: Record<string, string>;
}

/** What the importer reads from a model registry. */
export interface ModelRegistrySource {
  /** The registry's address; a record's `registry` metadata is `<trackingUri>/#/models/<name>/versions/<version>`. */
  readonly trackingUri: string;
  /** Every version of the model (all pages), in version order; none for an unknown model. */
  modelVersions(name: string): Promise<MlflowModelVersion[]>;
  /** One version; an MlflowError (errorCode RESOURCE_DOES_NOT_EXIST) when there is none. */
  modelVersion(name: string, version: string): Promise<MlflowModelVersion>;
  run(runId: string): Promise<MlflowRun>;
}

/** A call to MLflow that failed: which call, and what MLflow answered (HTTP status, error_code, message). */
export class MlflowError extends Error {
  override readonly name = 'MlflowError';
  constructor(
    message: string,
    readonly call: string,
    readonly status?: number,
    readonly errorCode?: string,
  ) {
    super(message);
  }
}

// --- The adapter --------------------------------------------------------------------------------

export interface MlflowRestOptions {
  /** The tracking server (`https://mlflow.example.com`, a Databricks workspace URL); its API is under /api/2.0/mlflow/. */
  trackingUri: string;
  /** Sent as `Authorization: Bearer` (Databricks, managed MLflow). */
  token?: string;
  /** HTTP basic auth (a self-hosted server with `--app-name basic-auth`). */
  username?: string;
  password?: string;
  /** Per request, answer included. Default 10 s. */
  timeoutMs?: number;
  /** Versions per model-versions/search page. Default 1000. */
  pageSize?: number;
}

const tagList = z.array(z.object({ key: z.string(), value: z.string().default('') })).default([]);
const versionSchema = z.object({
  name: z.string(),
  version: z.string(),
  source: z.string().default(''),
  // A version without a run has run_id "" (MLflow 3.17); older servers omit it.
  run_id: z.string().optional(),
  status: z.string().default('READY'),
});
// MLflow omits a list that is empty: no model_versions for no match, no next_page_token on the last page.
const searchSchema = z.object({ model_versions: z.array(versionSchema).default([]), next_page_token: z.string().optional() });
const getVersionSchema = z.object({ model_version: versionSchema });
const runSchema = z.object({
  run: z.object({
    info: z.object({ run_id: z.string() }),
    data: z.object({ tags: tagList, params: tagList }).prefault({}),
    inputs: z
      .object({
        dataset_inputs: z
          .array(
            z.object({
              tags: tagList,
              dataset: z.object({ name: z.string(), digest: z.string(), source_type: z.string(), source: z.string() }),
            }),
          )
          .default([]),
      })
      .prefault({}),
  }),
});

const toVersion = (v: z.infer<typeof versionSchema>): MlflowModelVersion => ({
  name: v.name,
  version: v.version,
  source: v.source,
  ...(v.run_id ? { runId: v.run_id } : {}),
  status: v.status,
});
const byVersion = (a: MlflowModelVersion, b: MlflowModelVersion) =>
  Number(a.version) - Number(b.version) || (a.version < b.version ? -1 : a.version > b.version ? 1 : 0);

/** MLflow's REST API, with global fetch. Each call is one GET, answered within the timeout. */
export class MlflowRestRegistry implements ModelRegistrySource {
  readonly trackingUri: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly pageSize: number;

  constructor(options: MlflowRestOptions) {
    let url: URL;
    try {
      url = new URL(options.trackingUri);
    } catch {
      throw new Error(`MLflow trackingUri ${quote(options.trackingUri)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new Error(`MLflow trackingUri ${quote(options.trackingUri)} is not http(s)`);
    if (url.username || url.password)
      throw new Error('MLflow trackingUri: give the credentials as token or username/password, not in the URL');
    if (options.token !== undefined && (options.username !== undefined || options.password !== undefined))
      throw new Error('MLflow credentials: a token or a username and password, not both');
    if ((options.username === undefined) !== (options.password === undefined))
      throw new Error('MLflow credentials: basic auth needs both username and password');
    this.trackingUri = `${url.origin}${url.pathname}`.replace(/\/+$/, '');
    this.headers = { accept: 'application/json' };
    if (options.token !== undefined) this.headers.authorization = `Bearer ${options.token}`;
    if (options.username !== undefined)
      this.headers.authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`, 'utf8').toString('base64')}`;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.pageSize = options.pageSize ?? 1000;
  }

  async modelVersions(name: string): Promise<MlflowModelVersion[]> {
    // The filter's string is in single quotes, which MLflow's filter syntax cannot escape.
    if (name.includes("'")) throw new Error(`MLflow model name ${quote(name)}: a name with a single quote cannot be searched for`);
    const versions = new Map<string, MlflowModelVersion>();
    const tokens = new Set<string>();
    let pageToken: string | undefined;
    do {
      const query: Record<string, string> = {
        filter: `name='${name}'`,
        max_results: String(this.pageSize),
        order_by: 'version_number ASC',
      };
      if (pageToken) query.page_token = pageToken;
      const page = await this.get('model-versions/search', query, searchSchema, `model-versions/search of ${quote(name)}`);
      for (const v of page.model_versions) if (v.name === name) versions.set(v.version, toVersion(v));
      pageToken = page.next_page_token || undefined;
      if (pageToken && tokens.has(pageToken))
        throw new MlflowError(
          `MLflow model-versions/search of ${quote(name)}: the same page token came back twice`,
          'model-versions/search',
        );
      if (pageToken) tokens.add(pageToken);
    } while (pageToken);
    return [...versions.values()].sort(byVersion);
  }

  async modelVersion(name: string, version: string): Promise<MlflowModelVersion> {
    const answer = await this.get(
      'model-versions/get',
      { name, version },
      getVersionSchema,
      `model-versions/get of ${quote(`${name}@${version}`)}`,
    );
    return toVersion(answer.model_version);
  }

  async run(runId: string): Promise<MlflowRun> {
    const { run } = await this.get('runs/get', { run_id: runId }, runSchema, `runs/get of run ${quote(runId)}`);
    const record = (list: { key: string; value: string }[]) => Object.fromEntries(list.map((t) => [t.key, t.value]));
    return {
      runId: run.info.run_id,
      tags: record(run.data.tags),
      params: record(run.data.params),
      datasetInputs: run.inputs.dataset_inputs.map(({ tags, dataset }) => {
        const context = tags.find((t) => t.key === 'mlflow.data.context')?.value;
        return {
          name: dataset.name,
          digest: dataset.digest,
          sourceType: dataset.source_type,
          source: dataset.source,
          ...(context !== undefined ? { context } : {}),
        };
      }),
    };
  }

  /** One GET of the API, its JSON answer parsed by `schema`; an MlflowError naming the call otherwise. */
  private async get<S extends z.ZodType>(endpoint: string, query: Record<string, string>, schema: S, what: string): Promise<z.infer<S>> {
    const url = `${this.trackingUri}/api/2.0/mlflow/${endpoint}?${new URLSearchParams(query)}`;
    const fail = (problem: string, status?: number, errorCode?: string) =>
      new MlflowError(`MLflow ${what} (GET ${url}): ${problem}`, endpoint, status, errorCode);
    let status: number;
    let text: string;
    try {
      const response = await fetch(url, { headers: this.headers, signal: AbortSignal.timeout(this.timeoutMs) });
      status = response.status;
      text = await response.text();
    } catch (error) {
      if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError'))
        throw fail(`no answer within ${this.timeoutMs} ms`);
      const cause = error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
      throw fail(`no answer: ${cause}`);
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw fail(`HTTP ${status}, and the answer is not JSON: ${quote(text)}`, status);
    }
    if (status < 200 || status > 299) {
      const error = z.object({ error_code: z.string(), message: z.string().default('') }).safeParse(body);
      if (error.success) throw fail(`HTTP ${status} ${error.data.error_code}: ${error.data.message}`, status, error.data.error_code);
      throw fail(`HTTP ${status}: ${quote(text)}`, status);
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw fail(`the answer is not what MLflow's API describes: ${formatPath(issue.path) || 'answer'}: ${issue.message}`, status);
    }
    return parsed.data;
  }
}

// --- The mapping --------------------------------------------------------------------------------

export interface MlflowImportOptions {
  /** The policy's lineage prefix (policy/assets.ts lineagePrefix), such as `_dr-lineage/`. */
  lineagePrefix: string;
  /** The replica buckets of the policy's object assets: a manifest anywhere else is not a dataset version. */
  replicaBuckets: ReadonlySet<string>;
  /** Link a run's dataset versions and leave out its other inputs. Default: such a version is refused. */
  ignoreForeignInputs?: boolean;
}

/** A run input that is not a dataset version of the replica. */
export interface ForeignInput {
  name: string;
  /** The URI its source names, or its source as MLflow keeps it when it names none. */
  source: string;
  context?: string;
}

export type MlflowImport =
  | {
      kind: 'registration';
      registration: ModelRegistration;
      /** The digest MLflow recorded for each linked dataset version, by `<asset>/<id>`: compare with its SHA-256 (digestMismatch). */
      expectedDigests: Map<string, string>;
      /** The inputs left out (ignoreForeignInputs). */
      ignored: ForeignInput[];
    }
  | { kind: 'refused'; name: string; version: string; reason: string };

/** Contexts (`mlflow.data.context`) of inputs a model was evaluated on; training, or none, is trained on. */
const EVAL_CONTEXTS = new Set(['eval', 'evaluation', 'test', 'testing', 'validation']);
const TRAINING_CONTEXTS = new Set(['training', 'train']);
/** MLflow keeps at most 36 characters of a digest: at least that much of the SHA-256 pins the bytes. */
export const MIN_DIGEST_HEX = 36;
const DIGEST = new RegExp(`^[0-9a-f]{${MIN_DIGEST_HEX},64}$`);

/** The URI a dataset source names: MLflow keeps it as JSON (`{"uri": "s3://…"}`); a bare URI is taken as it is. */
function sourceUri(source: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(source);
    const uri = parsed !== null && typeof parsed === 'object' ? (parsed as { uri?: unknown }).uri : undefined;
    return typeof uri === 'string' ? uri : undefined;
  } catch {
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(source) ? source : undefined;
  }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * One model version and its run, as a registration: the run's dataset inputs that are dataset
 * versions of the replica linked by context, metadata naming the run, the model's source, where it
 * is in the registry and the code commit (`mlflow.source.git.commit`). Refused, with the reason, when
 * there is nothing to link or the link would be wrong: no run, a version not READY, an input not of
 * ours (unless ignoreForeignInputs), one that points into the lineage prefix but at no manifest, a
 * digest that cannot be a SHA-256 of ours, an unknown context, no training data, too many links.
 */
export function mapModelVersion(
  version: MlflowModelVersion,
  run: MlflowRun | undefined,
  options: MlflowImportOptions & { trackingUri: string },
): MlflowImport {
  const label = `${version.name}@${version.version}`;
  const refused = (reason: string): MlflowImport => ({
    kind: 'refused',
    name: version.name,
    version: version.version,
    reason: `${label}: ${reason}`,
  });
  if (version.status !== 'READY') return refused(`its status is ${version.status}; only READY versions are imported`);
  if (!version.runId) return refused(`it has no run (its source is ${quote(version.source)}): nothing links it to dataset versions`);
  if (!run || run.runId !== version.runId) return refused(`run ${quote(version.runId)} was not read`);

  const datasets = new RegExp(`^s3://([^/]+)/${escapeRegExp(options.lineagePrefix)}datasets/`);
  const manifest = new RegExp(`^s3://[^/]+/${escapeRegExp(options.lineagePrefix)}datasets/([^/]+)/([^/]+)/manifest\\.json$`);
  const lists = { trainedOn: [] as { asset: string; id: string }[], evaluatedOn: [] as { asset: string; id: string }[] };
  const expectedDigests = new Map<string, string>();
  const foreign: ForeignInput[] = [];
  const wrong: string[] = [];
  for (const input of run.datasetInputs) {
    const uri = sourceUri(input.source);
    const what = `input ${quote(input.name)} (${quote(uri ?? input.source)})`;
    const inReplica = uri?.match(datasets);
    if (!uri || !inReplica || !options.replicaBuckets.has(inReplica[1]!)) {
      foreign.push({ name: input.name, source: uri ?? input.source, ...(input.context !== undefined ? { context: input.context } : {}) });
      continue;
    }
    const named = uri.match(manifest);
    if (!named) {
      wrong.push(`${what} is under the lineage prefix but is not a dataset version's manifest.json`);
      continue;
    }
    const [, asset, id] = named as unknown as [string, string, string];
    const context = input.context?.trim().toLowerCase();
    const list =
      context === undefined || TRAINING_CONTEXTS.has(context) ? 'trainedOn' : EVAL_CONTEXTS.has(context) ? 'evaluatedOn' : undefined;
    if (!list) {
      wrong.push(`${what} has context ${quote(input.context)}, neither training nor evaluation (eval, evaluation, test, validation)`);
      continue;
    }
    const digest = input.digest.toLowerCase();
    if (!DIGEST.test(digest)) {
      wrong.push(
        `${what} has digest ${quote(input.digest)}: record the dataset version's SHA-256 (its first ${MIN_DIGEST_HEX} hex digits or more)`,
      );
      continue;
    }
    const key = `${asset}/${id}`;
    const earlier = expectedDigests.get(key);
    if (earlier !== undefined && earlier !== digest) {
      wrong.push(`${what} names dataset version ${key} with digest ${digest}, another input with ${earlier}`);
      continue;
    }
    expectedDigests.set(key, digest);
    if (!lists[list].some((l) => l.asset === asset && l.id === id)) lists[list].push({ asset, id });
  }
  if (wrong.length) return refused(`run ${version.runId}: ${wrong.join('; ')}`);
  if (foreign.length && !options.ignoreForeignInputs) {
    const named = foreign.map((f) => `${quote(f.name)} (${f.source}${f.context !== undefined ? `, ${f.context}` : ''})`);
    return refused(
      `run ${version.runId} has inputs that are not dataset versions of the DR replica: ${named.slice(0, 5).join(', ')}${named.length > 5 ? ` and ${named.length - 5} more` : ''}; make them dataset versions, or import with ignoreForeignInputs`,
    );
  }
  if (!lists.trainedOn.length) return refused(`run ${version.runId} names no training dataset version of the DR replica`);
  const links = lists.trainedOn.length + lists.evaluatedOn.length;
  if (links > MAX_LINKS) return refused(`run ${version.runId} names ${links} dataset versions; a model record links at most ${MAX_LINKS}`);

  const commit = run.tags['mlflow.source.git.commit'];
  return {
    kind: 'registration',
    registration: {
      name: version.name,
      version: version.version,
      trainedOn: lists.trainedOn,
      evaluatedOn: lists.evaluatedOn,
      artifacts: [],
      evalResults: [],
      metadata: {
        'mlflow.run_id': version.runId,
        'mlflow.source': version.source,
        registry: `${options.trackingUri.replace(/\/+$/, '')}/#/models/${encodeURIComponent(version.name)}/versions/${encodeURIComponent(version.version)}`,
        ...(commit ? { commit } : {}),
      },
    },
    expectedDigests,
    ignored: foreign,
  };
}

/** Why the digest MLflow recorded does not name a dataset version's SHA-256, or undefined when it does (it is its start). */
export function digestMismatch(recorded: string, sha256: string): string | undefined {
  if (DIGEST.test(recorded) && sha256.toLowerCase().startsWith(recorded)) return undefined;
  return `MLflow recorded digest ${quote(recorded)}, but the dataset version's SHA-256 is ${quote(sha256)}`;
}

/**
 * A model's versions (or the one named), each mapped: read from the registry, with each version's
 * run (read once however many versions share it). A run MLflow no longer has refuses its version;
 * any other failure of the registry is thrown (MlflowError).
 */
export async function importModelVersions(
  registry: ModelRegistrySource,
  name: string,
  options: MlflowImportOptions & { version?: string },
): Promise<MlflowImport[]> {
  const versions =
    options.version !== undefined ? [await registry.modelVersion(name, options.version)] : await registry.modelVersions(name);
  const runs = new Map<string, Promise<MlflowRun | MlflowError>>();
  const results: MlflowImport[] = [];
  for (const version of versions) {
    let run: MlflowRun | undefined;
    if (version.runId && version.status === 'READY') {
      if (!runs.has(version.runId))
        runs.set(
          version.runId,
          registry.run(version.runId).catch((error: unknown) => {
            if (error instanceof MlflowError && error.errorCode === 'RESOURCE_DOES_NOT_EXIST') return error;
            throw error;
          }),
        );
      const got = await runs.get(version.runId)!;
      if (got instanceof MlflowError) {
        results.push({
          kind: 'refused',
          name,
          version: version.version,
          reason: `${name}@${version.version}: its run is gone: ${got.message}`,
        });
        continue;
      }
      run = got;
    }
    results.push(mapModelVersion(version, run, { ...options, trackingUri: registry.trackingUri }));
  }
  return results;
}
