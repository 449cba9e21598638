/**
 * Docker-style per-layer progress for pull (and load): on a terminal one line per layer,
 * redrawn in place with a bar; otherwise one plain line each time a layer's status changes.
 */
import type { PullEvent } from '../../engine/index.ts';
import { humanSize } from './units.ts';

export interface ProgressOutput {
  write(text: string): void;
  isTty: boolean;
  /** Terminal width (bars are drawn when it is over 110 columns, as docker does). */
  columns?: number;
}

type LayerEvent = Extract<PullEvent, { type: 'layer' }>;

const STATUS_TEXT: Record<LayerEvent['status'], string> = {
  waiting: 'Waiting',
  downloading: 'Downloading',
  verifying: 'Verifying Checksum',
  extracting: 'Extracting',
  done: 'Pull complete',
  exists: 'Already exists',
};

export function shortDigest(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}

/** `[=====>      ]  1.049MB/2.181MB` as docker's JSONProgress draws it. */
export function progressBar(current: number, total: number | undefined, columns: number): string {
  if (!total || total <= 0) return current > 0 ? humanSize(current, 4) : '';
  let bar = '';
  if (columns > 110) {
    const filled = Math.min(50, Math.floor(Math.floor((current / total) * 100) / 2));
    bar = `[${'='.repeat(filled)}>${' '.repeat(50 - filled)}] `;
  }
  return `${bar}${humanSize(current, 4).padStart(8)}/${humanSize(total, 4)}`;
}

export class LayerProgress {
  private readonly out: ProgressOutput;
  private readonly ids: string[] = [];
  private readonly lines = new Map<string, string>();
  private readonly statuses = new Map<string, string>();

  constructor(out: ProgressOutput) {
    this.out = out;
  }

  onEvent(event: PullEvent): void {
    if (event.type !== 'layer') return;
    const id = shortDigest(event.digest);
    const status = STATUS_TEXT[event.status];
    const showsBar = event.status === 'downloading' || event.status === 'extracting';
    if (!this.out.isTty) {
      const previous = this.statuses.get(id);
      if (previous === status) return;
      this.statuses.set(id, status);
      if (event.status === 'waiting') return this.out.write(`${id}: Pulling fs layer\n`);
      if (event.status === 'extracting' && (previous === STATUS_TEXT.downloading || previous === STATUS_TEXT.verifying)) this.out.write(`${id}: Download complete\n`);
      this.out.write(`${id}: ${status}\n`);
      return;
    }
    const bar = showsBar ? progressBar(event.current ?? 0, event.total, this.out.columns ?? 80) : '';
    this.draw(id, bar ? `${id}: ${status} ${bar}` : `${id}: ${status}`);
  }

  private draw(id: string, line: string): void {
    if (this.lines.get(id) === line) return;
    const index = this.ids.indexOf(id);
    this.lines.set(id, line);
    if (index < 0) {
      this.ids.push(id);
      this.out.write(`${line}\n`);
      return;
    }
    const up = this.ids.length - index;
    this.out.write(`\x1b[${up}A\r\x1b[2K${line}\x1b[${up}B\r`);
  }
}
