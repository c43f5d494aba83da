import type { EventChannel, RequestChannel } from '../contract/ipc-contract.js';

/*
 * The channel names as plain values, for the preload. Importing them from the
 * contract would pull zod into the sandboxed preload bundle. The records below
 * are typed against the contract, so a channel added to or removed from it
 * fails the typecheck here until this list follows.
 */

const requestChannelRecord: Record<RequestChannel, true> = {
  'app:status': true,
  'library:chooseFolder': true,
  'file:showInFolder': true,
  'library:open': true,
  'library:recent': true,
  'photo:faces': true,
  'photo:preview': true,
  'photo:edits': true,
  'photo:saveEdits': true,
  'photo:export': true,
  'pairs:export': true,
  'batch:start': true,
  'job:cancel': true,
  'models:list': true,
  'models:import': true,
  'models:export': true,
  'models:activate': true,
  'models:delete': true,
  'finetune:collect': true,
  'finetune:faceSet': true,
  'finetune:relabel': true,
  'finetune:presets': true,
  'finetune:start': true,
  'finetune:pause': true,
  'finetune:resume': true,
  'finetune:discard': true,
  'finetune:unfinished': true,
  'settings:get': true,
  'settings:set': true,
};

const eventChannelRecord: Record<EventChannel, true> = {
  'job:progress': true,
  'job:end': true,
  'finetune:progress': true,
  'finetune:preview': true,
  'app:status': true,
};

export const requestChannelNames: readonly RequestChannel[] = Object.freeze(
  Object.keys(requestChannelRecord) as RequestChannel[],
);
export const eventChannelNames: readonly EventChannel[] = Object.freeze(
  Object.keys(eventChannelRecord) as EventChannel[],
);

/** Own-property lookup, so names such as `__proto__` or `toString` never pass. */
export function isRequestChannel(name: unknown): name is RequestChannel {
  return typeof name === 'string' && Object.hasOwn(requestChannelRecord, name);
}

export function isEventChannel(name: unknown): name is EventChannel {
  return typeof name === 'string' && Object.hasOwn(eventChannelRecord, name);
}
