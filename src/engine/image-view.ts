/**
 * Images in the shapes docker's API gives them (and so `berth image inspect`, `images` and
 * `history` print): ImageInspect, ImageSummary, HistoryResponseItem.
 */
import type { ContainerConfig } from '../image/index.ts';
import { familiarReference } from './image-remove.ts';
import type { ImageRecord } from './image-store.ts';

const ZERO_TIME = '0001-01-01T00:00:00Z';

export interface DockerContainerConfig {
  Hostname: string;
  Domainname: string;
  User: string;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts?: Record<string, object>;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: string[] | null;
  Cmd: string[] | null;
  Healthcheck?: ContainerConfig['Healthcheck'];
  ArgsEscaped?: boolean;
  Image: string;
  Volumes: Record<string, object> | null;
  WorkingDir: string;
  Entrypoint: string[] | null;
  OnBuild: string[] | null;
  Labels: Record<string, string> | null;
  StopSignal?: string;
  Shell?: string[];
}

export interface ImageInspect {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Parent: string;
  Comment: string;
  Created: string;
  DockerVersion: string;
  Author: string;
  Config: DockerContainerConfig;
  Architecture: string;
  Variant?: string;
  Os: string;
  OsVersion?: string;
  Size: number;
  GraphDriver: { Data: Record<string, string> | null; Name: string };
  RootFS: { Type: string; Layers: string[] };
  Metadata: { LastTagTime: string };
}

export interface ImageSummary {
  Containers: number;
  Created: number;
  Id: string;
  Labels: Record<string, string> | null;
  ParentId: string;
  RepoDigests: string[];
  RepoTags: string[];
  SharedSize: number;
  Size: number;
}

export interface HistoryItem {
  Id: string;
  Created: number;
  CreatedBy: string;
  Tags: string[] | null;
  Size: number;
  Comment: string;
}

function dockerConfig(config: ContainerConfig | undefined): DockerContainerConfig {
  const c = config ?? {};
  const out: DockerContainerConfig = {
    Hostname: '',
    Domainname: '',
    User: c.User ?? '',
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    StdinOnce: false,
    Env: c.Env?.length ? c.Env : null,
    Cmd: c.Cmd?.length ? c.Cmd : null,
    Image: '',
    Volumes: c.Volumes && Object.keys(c.Volumes).length ? c.Volumes : null,
    WorkingDir: c.WorkingDir ?? '',
    Entrypoint: c.Entrypoint?.length ? c.Entrypoint : null,
    OnBuild: c.OnBuild?.length ? c.OnBuild : null,
    Labels: c.Labels && Object.keys(c.Labels).length ? c.Labels : null,
  };
  // docker's field order, with its omitempty fields only when set
  const ordered: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(out)) {
    ordered[key] = value;
    if (key === 'AttachStderr' && c.ExposedPorts && Object.keys(c.ExposedPorts).length) ordered.ExposedPorts = c.ExposedPorts;
    if (key === 'Cmd') {
      if (c.Healthcheck) ordered.Healthcheck = c.Healthcheck;
      if (c.ArgsEscaped) ordered.ArgsEscaped = true;
    }
  }
  if (c.StopSignal) ordered.StopSignal = c.StopSignal;
  if (c.Shell?.length) ordered.Shell = c.Shell;
  return ordered as unknown as DockerContainerConfig;
}

function unixSeconds(time: string | undefined): number {
  const ms = time ? Date.parse(time) : NaN;
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
}

/** docker `image inspect` of one image; `diffDirs` are the unpacked layers, base first. */
export function inspectImage(image: ImageRecord, opts: { diffDirs?: string[] } = {}): ImageInspect {
  const config = image.config;
  const dirs = opts.diffDirs ?? [];
  const out: ImageInspect = {
    Id: image.id,
    RepoTags: image.names.map(familiarReference),
    RepoDigests: image.repoDigests.map(familiarReference),
    Parent: '',
    Comment: typeof config.comment === 'string' ? config.comment : (config.history?.at(-1)?.comment ?? ''),
    Created: config.created ?? ZERO_TIME,
    DockerVersion: typeof config.docker_version === 'string' ? config.docker_version : '',
    Author: config.author ?? '',
    Config: dockerConfig(config.config),
    Architecture: config.architecture,
    Os: config.os,
    Size: image.size,
    GraphDriver: {
      Data: dirs.length ? { LowerDir: [...dirs].reverse().join(':') } : null,
      Name: 'overlay',
    },
    RootFS: { Type: 'layers', Layers: config.rootfs.diff_ids },
    Metadata: { LastTagTime: image.lastTagTime ? new Date(image.lastTagTime).toISOString() : ZERO_TIME },
  };
  if (config.variant) out.Variant = config.variant;
  if (config['os.version']) out.OsVersion = config['os.version'];
  // docker puts Variant right after Architecture
  const ordered: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(out)) {
    if (key === 'Variant' || key === 'OsVersion') continue;
    ordered[key] = value;
    if (key === 'Architecture' && out.Variant) ordered.Variant = out.Variant;
    if (key === 'Os' && out.OsVersion) ordered.OsVersion = out.OsVersion;
  }
  return ordered as unknown as ImageInspect;
}

/** docker `GET /images/json` entry. */
export function imageSummary(image: ImageRecord, containers = -1): ImageSummary {
  const labels = image.config.config?.Labels;
  return {
    Containers: containers,
    Created: unixSeconds(image.created),
    Id: image.id,
    Labels: labels && Object.keys(labels).length ? labels : null,
    ParentId: '',
    RepoDigests: image.repoDigests.map(familiarReference),
    RepoTags: image.names.map(familiarReference),
    SharedSize: -1,
    Size: image.size,
  };
}

/** docker `history`: newest first; the top entry carries the image ID and tags, older ones `<missing>`. */
export function imageHistory(image: ImageRecord): HistoryItem[] {
  const items: HistoryItem[] = [];
  const history = image.config.history ?? [];
  let layer = 0;
  if (history.length === 0) {
    for (const l of image.layers) {
      items.unshift({ Id: '<missing>', Created: unixSeconds(image.created), CreatedBy: '', Tags: null, Size: l.diffSize ?? l.size, Comment: '' });
    }
  }
  for (const entry of history) {
    let size = 0;
    if (!entry.empty_layer) {
      const l = image.layers[layer++];
      size = l ? (l.diffSize ?? l.size) : 0;
    }
    items.unshift({ Id: '<missing>', Created: unixSeconds(entry.created), CreatedBy: entry.created_by ?? '', Tags: null, Size: size, Comment: entry.comment ?? '' });
  }
  if (items[0]) {
    items[0].Id = image.id;
    items[0].Tags = image.names.length ? image.names.map(familiarReference) : null;
  }
  return items;
}
