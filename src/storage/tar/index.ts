export { readTar } from './reader.ts';
export type { ReadTarOptions, TarEntry, TarEntryType } from './reader.ts';
export { TarParser } from './parser.ts';
export type { TarHandler, TarHeader, TarParserOptions } from './parser.ts';
export type { ByteChunks } from './byte-source.ts';
