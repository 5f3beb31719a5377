/**
 * Kernel per-CPU accessors in watch, hover and console expressions, rewritten into C that gdb
 * evaluates (include/linux/percpu-defs.h has them as macros, which a vmlinux's DWARF lacks):
 *
 *   per_cpu(var, cpu)        CPU cpu's copy of a per-CPU variable (an lvalue: members, &, =)
 *   per_cpu_ptr(ptr, cpu)    CPU cpu's copy of the per-CPU object ptr points at
 *   this_cpu(var), this_cpu_read(var), this_cpu_ptr(ptr)   the same for the selected CPU
 *
 * CPU n's copy lives at the variable's address plus `__per_cpu_offset[n]` (src/kernel/percpu.ts).
 * gdb 13 parses `typeof(expr)` only as a complete type name: `(typeof(x) *)` is a syntax error,
 * but `(typeof(&x))` is the same pointer type and parses, so that is the form used.
 */

export class ExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpressionError';
  }
}

interface Accessor {
  /** Arguments besides the implied CPU of the this_cpu forms. */
  readonly args: readonly string[];
  readonly thisCpu: boolean;
  build(arg: string, cpu: string): string;
}

const perCpu = (v: string, cpu: string) => `(*(typeof(&(${v})))((char *)&(${v}) + __per_cpu_offset[${cpu}]))`;
const perCpuPtr = (p: string, cpu: string) => `((typeof(${p}))((char *)(${p}) + __per_cpu_offset[${cpu}]))`;

const ACCESSORS: Readonly<Record<string, Accessor>> = {
  per_cpu: { args: ['var', 'cpu'], thisCpu: false, build: perCpu },
  per_cpu_ptr: { args: ['ptr', 'cpu'], thisCpu: false, build: perCpuPtr },
  this_cpu: { args: ['var'], thisCpu: true, build: perCpu },
  this_cpu_read: { args: ['var'], thisCpu: true, build: perCpu },
  this_cpu_ptr: { args: ['ptr'], thisCpu: true, build: perCpuPtr },
};

// Not a member (`s.per_cpu(`, `p->per_cpu(`) nor the tail of another name (`my_per_cpu(`).
const NAMES = new RegExp(`(?<![\\w$.])(?<!->)(${Object.keys(ACCESSORS).join('|')})\\s*\\(`, 'y');

/** Whether the expression uses one of the accessors outside string and character literals. */
export function hasPerCpu(expression: string): boolean {
  let found = false;
  scan(expression, (i) => {
    NAMES.lastIndex = i;
    if (NAMES.test(expression)) found = true;
    return found;
  });
  return found;
}

/**
 * The expression with every accessor rewritten, innermost first; unchanged when it has none.
 * `thisCpu` is asked (once) only when a this_cpu form appears, and may say it does not know.
 * Throws ExpressionError for a wrong number of arguments or an unclosed parenthesis.
 */
export async function rewritePerCpu(expression: string, thisCpu: () => Promise<number | undefined> | number | undefined): Promise<string> {
  if (!hasPerCpu(expression)) return expression;
  let cpu: Promise<number | undefined> | undefined;
  const selected = async (name: string): Promise<string> => {
    cpu ??= Promise.resolve(thisCpu());
    const n = await cpu;
    if (n === undefined || n < 0) throw new ExpressionError(`${name}() needs the CPU of the selected thread; select a CPU thread, or use per_cpu(…, N)`);
    return String(n);
  };
  return rewrite(expression, selected);
}

async function rewrite(text: string, selected: (name: string) => Promise<string>): Promise<string> {
  let out = '';
  let copied = 0;
  const calls: Array<{ start: number; name: string; open: number }> = [];
  scan(text, (i) => {
    NAMES.lastIndex = i;
    const m = NAMES.exec(text);
    if (m) calls.push({ start: i, name: m[1], open: i + m[0].length - 1 });
    return false;
  });
  for (const call of calls) {
    if (call.start < copied) continue; // inside an earlier call's arguments: rewritten with them
    const close = matching(text, call.open);
    const args = splitArgs(text.slice(call.open + 1, close));
    const accessor = ACCESSORS[call.name];
    if (args.length !== accessor.args.length || args.some((a) => a.trim() === '')) {
      throw new ExpressionError(`${call.name}(${accessor.args.join(', ')}) takes ${accessor.args.length} argument${accessor.args.length === 1 ? '' : 's'}, not ${JSON.stringify(text.slice(call.open, close + 1))}`);
    }
    const rewritten = await Promise.all(args.map((a) => rewrite(a.trim(), selected)));
    const cpu = accessor.thisCpu ? await selected(call.name) : `(${rewritten[1]})`;
    out += text.slice(copied, call.start) + accessor.build(rewritten[0], cpu);
    copied = close + 1;
  }
  return out + text.slice(copied);
}

/**
 * Calls `at(i)` for each index outside string and character literals, until it returns true.
 * Literals are skipped with their escapes, so `"per_cpu(x, 1)"` and `','` stay what they are.
 */
function scan(text: string, at: (i: number) => boolean): void {
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"' || c === "'") {
      i = literalEnd(text, i);
      continue;
    }
    if (at(i)) return;
  }
}

/** Index of the quote that closes the literal opened at `start` (or the end of the text). */
function literalEnd(text: string, start: number): number {
  const quote = text[start];
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === quote) return i;
  }
  return text.length;
}

/** Index of the `)` that closes the `(` at `open`, over nested brackets and literals. */
function matching(text: string, open: number): number {
  const stack: string[] = [];
  const pairs: Record<string, string> = { '(': ')', '[': ']', '{': '}' };
  let found = -1;
  scan(text.slice(open), (j) => {
    const c = text[open + j];
    if (pairs[c]) stack.push(pairs[c]);
    else if (c === ')' || c === ']' || c === '}') {
      if (stack.pop() !== c) throw new ExpressionError(`unbalanced '${c}' in ${JSON.stringify(text)}`);
      if (stack.length === 0) found = open + j;
    }
    return found >= 0;
  });
  if (found < 0) throw new ExpressionError(`missing ')' in ${JSON.stringify(text)}`);
  return found;
}

/** Top-level comma-separated arguments (a comma inside brackets or literals does not split). */
function splitArgs(text: string): string[] {
  const args: string[] = [];
  let depth = 0;
  let from = 0;
  scan(text, (i) => {
    const c = text[i];
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      args.push(text.slice(from, i));
      from = i + 1;
    }
    return false;
  });
  args.push(text.slice(from));
  return args.length === 1 && args[0].trim() === '' ? [] : args;
}
