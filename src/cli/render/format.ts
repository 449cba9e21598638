/**
 * Rows printed per `--format`: `json` (one JSON object per line, as docker), a Go-style
 * template (one line per row), or `table <template>` (a header row and aligned columns).
 */
import { compileTemplate } from './template.ts';
import { goJson, renderTable } from './table.ts';

/** Render `rows` with a user's `--format`; `headers` names the columns of `table` formats. */
export function renderFormatted(rows: object[], format: string, headers: Record<string, string>): string {
  if (format === 'json') return rows.map((row) => goJson(row) + '\n').join('');
  const template = compileTemplate(format);
  if (!template.isTable) return rows.map((row) => template.render(row) + '\n').join('');
  const headerContext = Object.fromEntries(template.fields.map((f) => [f, headers[f] ?? f.toUpperCase()]));
  const lines = [template.render(headerContext), ...rows.map((row) => template.render(row))];
  return renderTable(lines.map((line) => line.split('\t')));
}

/** Go's path.Match for reference filters: `*` and `?` stop at `/`, `[…]` classes. */
export function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) out += '\\[';
      else {
        out += `[${pattern.slice(i + 1, end).replace(/^\^/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else if (ch === '\\' && i + 1 < pattern.length) out += '\\' + pattern[++i];
    else out += ch.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}
