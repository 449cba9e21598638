/**
 * Tables as docker prints them (Go's tabwriter with minwidth 10, padding 3): every column
 * but the last is padded to its widest cell plus three spaces, and at least ten.
 */

const MIN_WIDTH = 10;
const PADDING = 3;

export function renderTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      if (i < row.length - 1) widths[i] = Math.max(widths[i] ?? 0, Math.max(MIN_WIDTH, [...cell].length + PADDING));
    });
  }
  return rows.map((row) => row.map((cell, i) => (i < row.length - 1 ? cell + ' '.repeat(widths[i]! - [...cell].length) : cell)).join('') + '\n').join('');
}

/** Go's `json.Marshal`: like JSON.stringify, but `<`, `>` and `&` escaped as docker's output has them. */
export function goJson(value: unknown, indent?: string): string {
  const text = JSON.stringify(value, null, indent) ?? 'null';
  return text.replace(/[<>&\u2028\u2029]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
