/**
 * What image archives add to the OCI / Docker documents of ../manifest.ts: the names in
 * index.json annotations and docker-archive's manifest.json.
 */
import type { Descriptor } from '../manifest.ts';

/** Annotation with the full image name, as containerd and docker ≥ 25 write it in index.json. */
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';
/** Annotation with the tag (OCI image layout). */
export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';

/** An entry of a docker-archive `manifest.json`. */
export interface DockerArchiveManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
  LayerSources?: Record<string, Descriptor>;
}

/** The `oci-layout` file. */
export const OCI_LAYOUT = { imageLayoutVersion: '1.0.0' } as const;
