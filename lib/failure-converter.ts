/**
 * The failure converter workers, clients and the workflow bundle share (DataConverter.failureConverterPath): a
 * failure's message and stack trace travel as an encoded payload, so the payload codec encrypts them like any
 * other payload and the history shows "Encoded failure" instead of an error that may name a site. Pure: it is
 * bundled into the workflow sandbox.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
