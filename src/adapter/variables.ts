/**
 * Scopes and variables. Locals come from one `-stack-list-variables`; structs are expanded
 * lazily through gdb variable objects (task_struct has ~250 members: never fetch them all
 * up front). Registers are grouped, and system registers are decoded into named bit fields.
 */
import type { DebugProtocol } from '@vscode/debugprotocol';
import type { GdbBackend } from '../gdb/backend';
import * as data from '../gdb/mi/data';
import * as stack from '../gdb/mi/stack';
import * as vars from '../gdb/mi/vars';
import { archOps } from '../kernel/arch';
import { BitField, decodeFields, setFlags } from '../kernel/sysregs';
import type { Arch } from '../kernel/target';
import { Handles } from './handles';
import { bestEffort, ignore } from '../engine/errors';

type Container =
  | { kind: 'locals'; thread: number; frame: number }
  | { kind: 'registers'; thread: number; frame: number; group: 'general' | 'system' }
  | { kind: 'expression'; expression: string; thread: number; frame: number }
  | { kind: 'varobj'; name: string; thread: number; frame: number }
  | { kind: 'bits'; value: bigint; fields: readonly BitField[] };

export class Variables {
  private readonly containers = new Handles<Container>();
  /** "reference:name" → the gdb varobj holding that child, for setVariable. */
  private readonly childVarobjs = new Map<string, string>();
  private varobjs: string[] = [];
  private registerNames: string[] | undefined;
  /** Locals read at the stop before the client asked, for its first request (a write forgets them). */
  private localsAhead: { thread: number; frame: number; list: Promise<stack.Variable[]> } | undefined;

  constructor(private readonly gdb: GdbBackend, private readonly arch: Arch) {}

  private ref(c: Container): number {
    return this.containers.create(c);
  }

  /** Called on every resume: references and variable objects belong to one stop. */
  async reset(): Promise<void> {
    this.localsAhead = undefined;
    this.containers.reset();
    this.childVarobjs.clear();
    const names = this.varobjs;
    this.varobjs = [];
    for (const name of names) await bestEffort(vars.remove(this.gdb, name), 'deleting a variable object');
  }

  /** At a stop the user sees: the top frame's locals, which the client shows expanded, read now. */
  readAheadLocals(thread: number, frame: number): void {
    const list = stack.listVariables(this.gdb, thread, frame);
    list.catch(() => undefined); // the request asks again, and reports the error
    this.localsAhead = { thread, frame, list };
  }

  scopes(thread: number, frame: number): DebugProtocol.Scope[] {
    return [
      { name: 'Locals', variablesReference: this.ref({ kind: 'locals', thread, frame }), expensive: false, presentationHint: 'locals' },
      { name: 'Registers', variablesReference: this.ref({ kind: 'registers', thread, frame, group: 'general' }), expensive: false, presentationHint: 'registers' },
      { name: 'System Registers', variablesReference: this.ref({ kind: 'registers', thread, frame, group: 'system' }), expensive: true, presentationHint: 'registers' },
    ];
  }

  async variables(reference: number, start?: number, count?: number): Promise<DebugProtocol.Variable[]> {
    const c = this.containers.get(reference);
    if (!c) return [];
    switch (c.kind) {
      case 'locals':
        return this.locals(c.thread, c.frame);
      case 'registers':
        return this.registers(c.thread, c.frame, c.group);
      case 'expression': {
        const v = await this.createVarobj(c.expression, c.thread, c.frame);
        return this.children(reference, v.name, c.thread, c.frame, start, count);
      }
      case 'varobj':
        return this.children(reference, c.name, c.thread, c.frame, start, count);
      case 'bits':
        return decodeFields(c.value, c.fields).map((f) => ({ name: f.name, value: f.text, variablesReference: 0 }));
    }
  }

  /** Evaluates for hover, watch and the console: a value, and children if it has any. */
  async evaluate(expression: string, thread: number | undefined, frame: number | undefined): Promise<DebugProtocol.EvaluateResponse['body']> {
    const v = await this.createVarobj(expression, thread, frame);
    let result = v.value ?? '';
    // gdb answers a varobj whose memory it cannot read with an empty value, not an error (arm64:
    // a vCPU at EL0 and a kernel variable). Print it to get the error, which callers can act on;
    // a void call is empty by right, and printing it would call it again.
    if (result === '' && v.numchild === 0 && !v.dynamic && v.type !== 'void') result = await data.evaluate(this.gdb, expression, { thread, frame });
    // A varobj shows an array as "[16]"; gdb's own print is what a user wants (char arrays as strings).
    if (/^\[\d+\]$/.test(result)) {
      result = await bestEffort(data.evaluate(this.gdb, expression, { thread, frame }), 'printing an array', result);
      if (result.length > 400) result = result.slice(0, 400) + '…';
    }
    return {
      result,
      type: v.type,
      variablesReference: v.numchild > 0 || v.dynamic ? this.ref({ kind: 'varobj', name: v.name, thread: thread ?? 1, frame: frame ?? 0 }) : 0,
      indexedVariables: v.numchild > 100 ? v.numchild : undefined,
      memoryReference: pointerValue(v.value),
    };
  }

  async setVariable(expression: string, value: string, thread: number, frame: number): Promise<string> {
    this.localsAhead = undefined;
    const v = await this.createVarobj(expression, thread, frame);
    return vars.assign(this.gdb, v.name, value);
  }

  /** Assigns to a variable shown under `reference` (a local, or a member of an expanded struct). */
  async setChild(reference: number, name: string, value: string): Promise<string> {
    this.localsAhead = undefined;
    const c = this.containers.get(reference);
    if (!c) throw new Error('that variable is no longer valid (the target ran since)');
    if (c.kind === 'locals') return this.setVariable(name, value, c.thread, c.frame);
    const varobj = this.childVarobjs.get(`${reference}:${name}`);
    if (!varobj) throw new Error(`'${name}' cannot be assigned here`);
    return vars.assign(this.gdb, varobj, value);
  }

  private async createVarobj(expression: string, thread: number | undefined, frame: number | undefined): Promise<vars.VarObject> {
    const v = await vars.create(this.gdb, expression, { thread, frame });
    this.varobjs.push(v.name);
    return v;
  }

  private async locals(thread: number, frame: number): Promise<DebugProtocol.Variable[]> {
    const ahead = this.localsAhead?.thread === thread && this.localsAhead.frame === frame ? this.localsAhead.list : undefined;
    this.localsAhead = undefined;
    const list = await (ahead?.catch(() => stack.listVariables(this.gdb, thread, frame)) ?? stack.listVariables(this.gdb, thread, frame));
    // Arguments first, as in the function's signature.
    list.sort((a, b) => Number(b.arg) - Number(a.arg));
    return list.map((v) => {
      const compound = v.value === undefined;
      return {
        name: v.name,
        value: v.value ?? `{…}`,
        type: v.type,
        evaluateName: v.name,
        variablesReference: compound ? this.ref({ kind: 'expression', expression: v.name, thread, frame }) : 0,
        memoryReference: pointerValue(v.value),
        presentationHint: v.arg ? { kind: 'property', attributes: [] } : undefined,
      };
    });
  }

  private async children(reference: number, name: string, thread: number, frame: number, start?: number, count?: number): Promise<DebugProtocol.Variable[]> {
    const to = start !== undefined && count !== undefined ? start + count : undefined;
    const kids = await vars.listChildren(this.gdb, name, start ?? 0, to);
    const out: DebugProtocol.Variable[] = [];
    for (const k of kids) {
      // Children go away with their root (-var-delete deletes the tree): do not track them.
      const expandable = k.numchild > 0 || k.dynamic;
      // Simple values omit arrays; a char array (comm, name) is worth one more query: it is a string.
      const value = (k.value === undefined || /^\[\d+\]$/.test(k.value)) && k.type && /char \[\d+\]$/.test(k.type) ? await this.printed(k.name, thread, frame) ?? k.value : k.value;
      this.childVarobjs.set(`${reference}:${k.exp ?? k.name}`, k.name);
      out.push({
        name: k.exp ?? k.name,
        value: value ?? (expandable ? '{…}' : ''),
        type: k.type,
        variablesReference: expandable ? this.ref({ kind: 'varobj', name: k.name, thread, frame }) : 0,
        indexedVariables: k.numchild > 100 ? k.numchild : undefined,
        memoryReference: pointerValue(k.value),
      });
    }
    return out;
  }

  /** gdb's print of a varobj's expression (a varobj only says "[16]" for an array). */
  private async printed(name: string, thread: number, frame: number): Promise<string | undefined> {
    try {
      const expression = await vars.infoPathExpression(this.gdb, name);
      return await data.evaluate(this.gdb, expression, { thread, frame });
    } catch (err) {
      ignore(err, 'printing a char array');
      return undefined;
    }
  }

  private async registers(thread: number, frame: number, group: 'general' | 'system'): Promise<DebugProtocol.Variable[]> {
    this.registerNames ??= await data.registerNames(this.gdb);
    const names = this.registerNames;
    const groups = archOps(this.arch).registers;
    const wanted: number[] = [];
    names.forEach((n, i) => {
      if (!n) return;
      const keep = group === 'general' ? groups.general.test(n) : groups.system.includes(n);
      if (keep) wanted.push(i);
    });
    if (wanted.length === 0) return [];
    const values = await data.registerValues(this.gdb, wanted, { thread, frame });
    const out: DebugProtocol.Variable[] = [];
    for (const i of wanted) {
      const text = values.get(i);
      if (text === undefined) continue;
      const name = names[i];
      const raw = parseRegister(text);
      const fields = groups.fields[name];
      if (raw !== undefined && fields) {
        const flags = setFlags(raw, fields);
        out.push({
          name,
          value: `0x${raw.toString(16)}${flags.length ? ` [ ${flags.join(' ')} ]` : ''}`,
          variablesReference: this.ref({ kind: 'bits', value: raw, fields }),
        });
      } else {
        out.push({ name, value: text, variablesReference: 0, memoryReference: raw !== undefined ? `0x${raw.toString(16)}` : undefined });
      }
    }
    return out;
  }
}

export function parseRegister(text: string): bigint | undefined {
  const m = /^(-?)(0x[0-9a-f]+|\d+)$/i.exec(text.trim());
  if (!m) return undefined;
  const v = BigInt(m[2]);
  return m[1] ? (1n << 64n) - v : v;
}

/** The address in a gdb pointer value (`0xffff888004a88cc0 <init_task>`), for the memory view. */
export function pointerValue(value: string | undefined): string | undefined {
  const m = value ? /^(?:\([^)]*\)\s*)?(0x[0-9a-f]+)/i.exec(value) : null;
  return m ? m[1] : undefined;
}
