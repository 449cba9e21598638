export {
  DEFAULT_DOMAIN,
  DEFAULT_TAG,
  familiarName,
  formatReference,
  isValidDigest,
  parseReference,
} from './reference.ts';
export type { ImageReference, ParseReferenceOptions } from './reference.ts';
