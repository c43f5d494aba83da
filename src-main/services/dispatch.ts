import type { z } from 'zod';
import {
  requests,
  type Envelope,
  type ParsedRequestOf,
  type ReplyOf,
  type RequestChannel,
} from '../contract/ipc-contract.js';

/** One handler per request channel, receiving the validated payload. */
export type Handlers = { [C in RequestChannel]: (request: ParsedRequestOf<C>) => Promise<ReplyOf<C>> };

/**
 * Validates a payload against the contract, runs its handler and wraps the
 * outcome: the renderer always gets an envelope, and a bad payload a message
 * that names the channel and the field, before any handler runs.
 */
export async function dispatch(handlers: Handlers, channel: string, payload: unknown): Promise<Envelope<unknown>> {
  if (!Object.hasOwn(requests, channel)) {
    return failure('unknown-channel', `unknown request channel "${channel}"`);
  }
  const name = channel as RequestChannel;
  const parsed = (requests[name].request as z.ZodType).safeParse(payload ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
    return failure('invalid-payload', `${name}: ${where}${issue?.message ?? 'invalid payload'}`);
  }
  try {
    const handler = handlers[name] as (request: unknown) => Promise<unknown>;
    return { ok: true, value: await handler(parsed.data) };
  } catch (error) {
    const failed = error instanceof Error ? error : new Error(String(error));
    return failure(failed.name === 'Error' ? 'failed' : failed.name, failed.message);
  }
}

function failure(code: string, message: string): Envelope<never> {
  return { ok: false, error: { code, message } };
}
