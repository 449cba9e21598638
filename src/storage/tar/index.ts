export { readTar } from './reader.ts';
export type { ReadTarOptions, TarEntry, TarEntryType } from './reader.ts';
export type { ByteChunks } from './byte-source.ts';
