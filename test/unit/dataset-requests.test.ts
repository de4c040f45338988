import { describe, expect, it } from 'vitest';
import { requestFileOf, resultKeyOf } from '../../functions/lineage/dataset-requests.js';
import { loadEvent } from '../support/fixtures.js';

describe('dataset version request files', () => {
  it('are known by their S3 "Object Created" event (events/lineage/valid/request-file-event.json), and answered beside them', () => {
    const event = loadEvent<Record<string, unknown>>('lineage/valid/request-file-event.json');
    expect(requestFileOf(event)).toEqual({ bucket: 'acme-ml-prod-data', key: 'dataset-requests/job-42.json', size: 96 });
    expect(resultKeyOf('dataset-requests/job-42.json')).toBe('dataset-requests/job-42.result.json');
    expect(resultKeyOf('dataset-requests/job-43')).toBe('dataset-requests/job-43.result.json');
    // Anything else is not a request file: a deletion, another source, an operator's payload.
    expect(requestFileOf({ ...event, 'detail-type': 'Object Deleted' })).toBeUndefined();
    expect(requestFileOf({ dataset: { asset: 'training-data' } })).toBeUndefined();
  });
});
