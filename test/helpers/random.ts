import { mulberry } from '../../src-main/core/util/random.js';

/** Deterministic random numbers, so random test cases repeat. */
export const seededRandom = mulberry;
