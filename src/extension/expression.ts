/**
 * The C expression under the mouse, for the editor hover during a debug session. Pure: tested
 * without vscode.
 */

/**
 * The member chain that ends at the identifier under `column` (0-based): in `mm->pgd->pgd`,
 * hovering the middle `pgd` gives `mm->pgd`. Undefined off an identifier, on a keyword, or on a
 * number.
 */
export function expressionAt(line: string, column: number): string | undefined {
  let start = column;
  while (start > 0 && /\w/.test(line[start - 1])) start--;
  let end = column;
  while (end < line.length && /\w/.test(line[end])) end++;
  if (start === end || !/[A-Za-z_]/.test(line[start])) return undefined;
  const word = line.slice(start, end);
  if (keywords.has(word)) return undefined;
  // Walk left over `.` / `->` links to the identifiers they join.
  let from = start;
  for (;;) {
    const before = line.slice(0, from);
    const m = /([A-Za-z_]\w*)\s*(->|\.)\s*$/.exec(before);
    if (!m) break;
    from = before.length - m[0].length;
  }
  return line.slice(from, end).replace(/\s+/g, '');
}

const keywords = new Set([
  'auto', 'break', 'case', 'char', 'const', 'continue', 'default', 'do', 'double', 'else', 'enum', 'extern', 'float', 'for',
  'goto', 'if', 'inline', 'int', 'long', 'register', 'restrict', 'return', 'short', 'signed', 'sizeof', 'static', 'struct',
  'switch', 'typedef', 'union', 'unsigned', 'void', 'volatile', 'while', 'bool', 'true', 'false',
]);

/** The address of a pointer hover the adapter walked (`0x… <sym>  ·  → phys …`), else undefined. */
export function walkedPointer(result: string): string | undefined {
  const m = /^(?:\([^)]*\)\s*)?(0x[0-9a-f]+)\b.*  ·  → /i.exec(result);
  return m ? m[1] : undefined;
}
