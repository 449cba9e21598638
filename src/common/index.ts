export * from './errors.ts';
export * from './fs-atomic.ts';
export * from './duration.ts';
export * from './random.ts';
export * from './signal.ts';
