/**
 * `run --explain` / `create --explain`: the whole plan of a container in words, the image and
 * storage steps first, then every syscall berth-init would make; nothing is pulled, written,
 * mounted or started.
 */
import { parseReference } from '../image/index.ts';
import type { EngineContext } from './container-context.ts';
import { planContainer, type PullPolicy } from './container-create.ts';
import { monitorOptions } from './container-lifecycle.ts';
import type { RunSpec } from './container-spec.ts';
import { overlayMountData } from '../storage/index.ts';
import { explainNetwork } from './networks.ts';

export async function explainRun(ctx: EngineContext, spec: RunSpec, opts: { pull?: PullPolicy; detach?: boolean } = {}): Promise<string> {
  const lines: string[] = [];
  const policy = opts.pull ?? 'missing';
  const image = policy === 'always' ? undefined : ctx.store.find(spec.image);
  lines.push(`berth ${opts.detach ? 'run -d' : 'run'}: plan for a container of ${spec.image}`);
  if (!image) {
    const ref = parseReference(spec.image);
    lines.push(`1. image: ${policy === 'never' ? 'not here, and --pull never: the run would fail' : `pull ${ref.canonical} from ${ref.domain} (manifest, config, then each layer: fetched, verified by digest, unpacked into the layer store)`}`);
    lines.push('   the rest of the plan depends on the image\'s config: run --explain again once it is pulled');
    return lines.join('\n') + '\n';
  }
  const plan = await planContainer(ctx, spec, image);
  const { paths } = plan;
  lines.push(`1. image: ${image.names[0] ?? image.id} = ${image.id}, here (${image.layers.length} layer${image.layers.length === 1 ? '' : 's'})`);
  lines.push(`2. record: insert container ${plan.id} (${plan.name ? `name ${plan.name}` : 'a random name'}) in ${ctx.db.path}, status created, pinning the image and its layers`);
  lines.push(`3. files: mkdir ${paths.dir} (0710) with rootfs/, diff/ (overlay upper), work/; write hostname ("${plan.hostname}"), hosts, resolv.conf, config.json`);
  lines.push(`4. root: mount("overlay", "${paths.rootfsDir}", "overlay", 0, "${overlayMountData(plan.rootMount)}")${plan.rootMount.cwd ? ` after chdir("${plan.rootMount.cwd}")` : ''}`);
  lines.push('   made by berth-init inside the container\'s own mount namespace: the host sees no mount');
  const net = explainNetwork(ctx, plan.spec, plan.network);
  lines.push(`5. ${net[0]}`, ...net.slice(1));
  const monitor = monitorOptions(ctx, spec, paths, plan.id);
  lines.push(`6. monitor: berth-init stays as the container's parent in a session of its own; it holds the container's ${spec.tty ? 'pty' : 'stdio pipes'}, writes ${monitor.logPath || 'no log'}, serves attach clients on ${paths.attachPath}, writes ${paths.exitPath} at the end and then runs: ${monitor.exitCommand.join(' ')}`);
  lines.push(`7. start: connect to the runtime's start socket; ${opts.detach ? 'print the ID' : 'attach to the monitor first, so no output is missed'}`);
  lines.push('');
  lines.push(await ctx.runtime().explain(plan.id, { bundleDir: paths.dir, config: plan.config, monitor }));
  return lines.join('\n').replace(/\n*$/, '\n');
}
