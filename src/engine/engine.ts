/**
 * The engine as one object: images and containers over one state root and one database.
 *
 *   const engine = new Engine({ root: '/var/lib/berth' });
 *   const { exitCode } = await engine.containers.run({ image: 'busybox', command: ['echo', 'hi'], autoRemove: true },
 *     { streams: { stdout: process.stdout, stderr: process.stderr, tty: false } });
 *   engine.close();
 */
import { openEngineContext, type EngineContext, type EngineOptions } from './container-context.ts';
import { Containers } from './containers.ts';
import { Images } from './images.ts';
import { Networks } from './network-api.ts';
import { Volumes } from './volume-api.ts';

export class Engine {
  readonly ctx: EngineContext;
  readonly images: Images;
  readonly containers: Containers;
  readonly networks: Networks;
  readonly volumes: Volumes;

  constructor(opts: EngineOptions = {}) {
    this.ctx = openEngineContext(opts);
    this.images = new Images({ context: this.ctx, onEvent: (action, id, attributes) => this.ctx.containers.event('image', action, id, attributes) });
    this.containers = new Containers(this.ctx);
    this.networks = new Networks(this.ctx);
    this.volumes = new Volumes(this.ctx);
  }

  close(): void {
    this.ctx.db.close();
  }
}
