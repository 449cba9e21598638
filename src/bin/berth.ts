#!/usr/bin/env node
// node:sqlite may announce itself as experimental (Node < 24): that one warning is noise for
// berth's users; every other warning still prints.
const emitWarning = process.emitWarning.bind(process);
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const type = typeof rest[0] === 'string' ? rest[0] : (rest[0] as { type?: string } | undefined)?.type;
  const name = typeof warning === 'string' ? type : warning.name;
  const text = typeof warning === 'string' ? warning : warning.message;
  if (name === 'ExperimentalWarning' && /sqlite/i.test(text)) return;
  (emitWarning as (...args: unknown[]) => void)(warning, ...rest);
}) as typeof process.emitWarning;

// no top-level await: the bundle is CommonJS (see scripts/build.mjs)
void import('../cli/berth-main.ts')
  .then(({ berthMain }) => berthMain(process.argv.slice(2)))
  .then(async (code) => {
    // the command awaited all it started; what Node still queues for a full pipe (a reader
    // slower than berth: once the pipe is full, Node's writes to it wait in a queue that
    // process.exit drops) goes first; then exit at once, without tearing down V8's heap (~2 ms)
    await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
    process.exit(code);
  });

/** Resolves once everything written to `stream` so far is written (or never can be: EPIPE). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (!stream.writableLength || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('error', () => resolve());
    stream.once('close', () => resolve());
    stream.write('', () => resolve());
  });
}
