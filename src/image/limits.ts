/**
 * Size limits of the documents berth reads into memory from registries and archives, so that a
 * hostile or broken source cannot make it allocate without bound. Each is checked before the
 * bytes are read (the descriptor's size, the tar header's size, Content-Length) and again while
 * they stream in, in case the header lies.
 *
 * - Manifests and indexes: 4 MiB, the limit of docker distribution (the registry refuses a
 *   larger manifest PUT), of containerd's resolver and of containers/image (podman, skopeo,
 *   CRI-O); OCI's distribution spec asks registries to accept at least that much.
 * - Image configs: 8 MiB. containers/image caps them at 4 MiB (CVE-2020-1702) and docker has no
 *   cap; a config grows with its history (one entry per build step), so berth allows twice
 *   podman's: any image podman, skopeo or CRI-O can pull, berth can.
 * - An archive's metadata kept in memory while it is read (index.json, manifest.json, the
 *   `<id>.json` configs of docker-archives): 32 MiB in all, room for the configs of hundreds of
 *   images; containers/image caps a docker-archive's manifest.json at 1 MiB. Entries berth does
 *   not read (repositories, oci-layout, VERSION, legacy `<id>/json`) are skipped unread.
 * - JSON nesting: 64 levels. Image documents nest 5 deep at most; V8's JSON.stringify recurses
 *   and overflows its stack around 10,000 levels, when the config is written to the database.
 */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
export const MAX_ARCHIVE_METADATA_BYTES = 32 * 1024 * 1024;
export const MAX_JSON_DEPTH = 64;

/** `4 MiB`, `512 KiB`, `100 bytes`. */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
