/**
 * `_bulk` answers for the fake OpenSearch of processors/opensearch/test-support (a real
 * HTTP server on 127.0.0.1: no OpenSearch server can run here), shaped like the recorded
 * responses in processors/opensearch/fixtures, for whatever documents a test sends.
 */
import {
  loadFixture,
  type ReceivedRequest,
  type RecordedResponse,
} from '../../opensearch/test-support/recorded-opensearch.js';

export {
  allCreated,
  startRecordedOpenSearch,
  type RecordedOpenSearch,
} from '../../opensearch/test-support/recorded-opensearch.js';

/**
 * Refuses every document of a `_bulk` request with the recorded mapping error
 * (`mapper_parsing_exception`, HTTP 400 item in a 200 response), as a cluster whose index
 * mapping predates the template does.
 *
 * @example const server = await startRecordedOpenSearch([refuseAllWithMappingError, allCreated]);
 */
export function refuseAllWithMappingError(request: ReceivedRequest): RecordedResponse {
  const recorded = loadFixture('bulk-mapping-errors').body as { items: { index: Record<string, unknown> }[] };
  const refusal = recorded.items[1]!.index;
  return {
    status: 200,
    body: {
      took: 3,
      errors: true,
      items: request.actions.map((action) => ({
        index: {
          ...refusal,
          _index: action._index,
          _id: action._id,
          error: { ...(refusal.error as Record<string, unknown>), index: action._index },
        },
      })),
    },
  };
}
