/** -var-* commands: gdb variable objects give lazy children for big structs (task_struct). */
import type { GdbBackend } from '../backend';
import type { MITuple } from '../mi/parser';
import { optInt, optStr, str, tuples } from '../mi/values';

export interface VarObject {
  name: string;
  exp?: string;
  numchild: number;
  value?: string;
  type?: string;
  dynamic: boolean;
}

function parseVar(t: MITuple): VarObject {
  return {
    name: str(t, 'name'),
    exp: optStr(t, 'exp'),
    numchild: optInt(t, 'numchild') ?? 0,
    value: optStr(t, 'value'),
    type: optStr(t, 'type'),
    dynamic: optStr(t, 'dynamic') === '1',
  };
}

export async function create(gdb: GdbBackend, expression: string, ctx: { thread?: number; frame?: number } = {}): Promise<VarObject> {
  const args: string[] = [];
  if (ctx.thread !== undefined) args.push('--thread', String(ctx.thread));
  if (ctx.frame !== undefined) args.push('--frame', String(ctx.frame));
  const r = await gdb.send('-var-create', [...args, '-', ctx.frame === undefined ? '@' : '*', expression]);
  return parseVar(r.results);
}

export async function listChildren(gdb: GdbBackend, name: string, from = 0, to?: number): Promise<VarObject[]> {
  const range = to === undefined ? [] : [String(from), String(to)];
  const r = await gdb.send('-var-list-children', ['--simple-values', name, ...range], 20_000);
  return tuples(r.results, 'children', 'child').map(parseVar);
}

export function remove(gdb: GdbBackend, name: string): Promise<unknown> {
  return gdb.send('-var-delete', [name]);
}

export async function assign(gdb: GdbBackend, name: string, expression: string): Promise<string> {
  const r = await gdb.send('-var-assign', [name, expression]);
  return str(r.results, 'value');
}

export async function evaluate(gdb: GdbBackend, name: string): Promise<string> {
  const r = await gdb.send('-var-evaluate-expression', [name]);
  return str(r.results, 'value');
}

export async function infoPathExpression(gdb: GdbBackend, name: string): Promise<string> {
  const r = await gdb.send('-var-info-path-expression', [name]);
  return str(r.results, 'path_expr');
}
