/**
 * `--format` templates in the style of Go's text/template as docker uses them:
 * `{{.Field}}`, `{{.A.B}}`, `{{json .}}`, `{{json .Config}}`, `{{upper .X}}`, `{{lower .X}}`,
 * `{{title .X}}`, `{{join .List ", "}}`, `{{index .Map "key"}}`, `{{len .X}}`, `{{println .X}}`,
 * `{{if .X}}…{{else}}…{{end}}`, `{{range .List}}…{{end}}`, a `table ` prefix, `\t` and `\n`.
 * Values print as Go prints them (`[a b]`, `map[k:v]`, `<no value>`).
 */
import { BerthError } from '../../common/index.ts';
import { goJson } from './table.ts';

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; expr: Expr[] }
  | { kind: 'if'; cond: Expr[]; then: Node[]; else: Node[] }
  | { kind: 'range'; list: Expr[]; body: Node[] };

type Expr = { kind: 'path'; path: string[] } | { kind: 'string'; value: string } | { kind: 'number'; value: number } | { kind: 'ident'; name: string };

export interface Template {
  /** True when the format began with `table`: print a header row and align columns. */
  isTable: boolean;
  /** Field names the template uses at the top level (for the header row). */
  fields: string[];
  render(data: unknown): string;
}

function templateError(message: string): BerthError {
  return new BerthError('INVALID_ARGUMENT', `template: ${message}`, { hint: 'see the command\'s --help for the fields it knows' });
}

function tokenize(action: string): Expr[] {
  const out: Expr[] = [];
  const re = /\s*(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`|(-?\d+(?:\.\d+)?)|(\.[A-Za-z0-9_.]*)|([A-Za-z_][A-Za-z0-9_]*))/y;
  let pos = 0;
  while (pos < action.length) {
    if (/^\s*$/.test(action.slice(pos))) break;
    re.lastIndex = pos;
    const m = re.exec(action);
    if (!m) throw templateError(`cannot parse ${JSON.stringify(action.trim())}`);
    pos = re.lastIndex;
    if (m[1] !== undefined) out.push({ kind: 'string', value: JSON.parse(`"${m[1]}"`) as string });
    else if (m[2] !== undefined) out.push({ kind: 'string', value: m[2] });
    else if (m[3] !== undefined) out.push({ kind: 'number', value: Number(m[3]) });
    else if (m[4] !== undefined) out.push({ kind: 'path', path: m[4] === '.' ? [] : m[4].slice(1).split('.') });
    else out.push({ kind: 'ident', name: m[5]! });
  }
  return out;
}

function parse(source: string): { nodes: Node[]; fields: Set<string> } {
  const fields = new Set<string>();
  const parts = source.split(/(\{\{-?.*?-?\}\})/s);
  let i = 0;
  function block(isNested: boolean): { nodes: Node[]; end: 'end' | 'else' | 'eof' } {
    const nodes: Node[] = [];
    while (i < parts.length) {
      const part = parts[i++]!;
      if (!part.startsWith('{{')) {
        if (part) nodes.push({ kind: 'text', text: part });
        continue;
      }
      const inner = part.replace(/^\{\{-?/, '').replace(/-?\}\}$/, '').trim();
      const expr = tokenize(inner);
      for (const e of expr) if (e.kind === 'path' && e.path[0]) fields.add(e.path[0]);
      const head = expr[0];
      if (head?.kind === 'ident' && (head.name === 'end' || head.name === 'else')) {
        if (!isNested) throw templateError(`unexpected {{${head.name}}}`);
        return { nodes, end: head.name };
      }
      if (head?.kind === 'ident' && (head.name === 'if' || head.name === 'range')) {
        const body = block(true);
        let elseNodes: Node[] = [];
        if (body.end === 'else') {
          const rest = block(true);
          if (rest.end !== 'end') throw templateError(`{{${head.name}}} without {{end}}`);
          elseNodes = rest.nodes;
        } else if (body.end !== 'end') throw templateError(`{{${head.name}}} without {{end}}`);
        nodes.push(head.name === 'if' ? { kind: 'if', cond: expr.slice(1), then: body.nodes, else: elseNodes } : { kind: 'range', list: expr.slice(1), body: body.nodes });
        continue;
      }
      if (expr.length === 0) throw templateError('empty action {{}}');
      nodes.push({ kind: 'action', expr });
    }
    if (isNested) throw templateError('unexpected end of template (missing {{end}})');
    return { nodes, end: 'eof' };
  }
  return { nodes: block(false).nodes, fields };
}

/** How Go's fmt prints a value with %v. */
export function goString(value: unknown): string {
  if (value === undefined) return '<no value>';
  if (value === null) return '<nil>';
  if (Array.isArray(value)) return `[${value.map(goString).join(' ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `map[${entries.map(([k, v]) => `${k}:${goString(v)}`).join(' ')}]`;
  }
  return String(value);
}

function lookup(data: unknown, path: string[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || value === undefined) return undefined;
    if (typeof value !== 'object' || Array.isArray(value)) throw templateError(`can't evaluate field ${key} in ${goString(value)}`);
    if (!Object.hasOwn(value, key)) {
      // a struct (docker's have capitalised fields) has no such field; a map just lacks the key
      if (isStruct(value)) throw templateError(`can't evaluate field ${key}`);
      return undefined;
    }
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/** Docker's structs have capitalised field names; maps (labels, ports) need not. */
function isStruct(value: object): boolean {
  const keys = Object.keys(value);
  return keys.length > 0 && keys.every((k) => /^[A-Z]/.test(k));
}

function isTruthy(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  if (value && typeof value === 'object') return Object.keys(value).length > 0;
  return Boolean(value);
}

const FUNCTIONS: Record<string, (...args: unknown[]) => unknown> = {
  json: (v) => goJson(v),
  upper: (v) => goString(v).toUpperCase(),
  lower: (v) => goString(v).toLowerCase(),
  title: (v) => goString(v).replace(/\b\w/g, (c) => c.toUpperCase()),
  join: (list, sep) => (Array.isArray(list) ? list.map(goString).join(goString(sep)) : goString(list)),
  index: (v, key) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[String(key)] : undefined),
  len: (v) => (Array.isArray(v) || typeof v === 'string' ? v.length : v && typeof v === 'object' ? Object.keys(v).length : 0),
  println: (...args) => args.map(goString).join(' ') + '\n',
  print: (...args) => args.map(goString).join(''),
  truncate: (v, n) => goString(v).slice(0, Number(n)),
  pad: (v, left, right) => ' '.repeat(Number(left)) + goString(v) + ' '.repeat(Number(right)),
};

function evaluate(expr: Expr[], dot: unknown): unknown {
  const [head, ...args] = expr;
  if (!head) return dot;
  const value = (e: Expr): unknown => {
    if (e.kind === 'path') return lookup(dot, e.path);
    if (e.kind === 'string' || e.kind === 'number') return e.value;
    if (e.name === 'nil') return null;
    if (e.name === 'true' || e.name === 'false') return e.name === 'true';
    throw templateError(`function ${JSON.stringify(e.name)} needs arguments here`);
  };
  if (head.kind === 'ident' && !['nil', 'true', 'false'].includes(head.name)) {
    const fn = FUNCTIONS[head.name];
    if (!fn) throw templateError(`function ${JSON.stringify(head.name)} not defined`);
    return fn(...args.map(value));
  }
  if (args.length) throw templateError('too many arguments');
  return value(head);
}

function run(nodes: Node[], dot: unknown): string {
  let out = '';
  for (const node of nodes) {
    if (node.kind === 'text') out += node.text;
    else if (node.kind === 'action') {
      const v = evaluate(node.expr, dot);
      out += typeof v === 'string' ? v : goString(v);
    } else if (node.kind === 'if') out += run(isTruthy(evaluate(node.cond, dot)) ? node.then : node.else, dot);
    else {
      const list = evaluate(node.list, dot);
      const items = Array.isArray(list) ? list : list && typeof list === 'object' ? Object.values(list) : [];
      for (const item of items) out += run(node.body, item);
    }
  }
  return out;
}

/** Compile a `--format` value. */
export function compileTemplate(format: string): Template {
  let source = format;
  const isTable = source.startsWith('table');
  if (isTable) source = source.slice('table'.length);
  source = source.trim().replaceAll('\\t', '\t').replaceAll('\\n', '\n');
  const { nodes, fields } = parse(source);
  return { isTable, fields: [...fields], render: (data) => run(nodes, data) };
}
