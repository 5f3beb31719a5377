/**
 * package.json's launch and attach schema against the TypeScript types the adapter reads them
 * as (LaunchArguments and AttachArguments in src/adapter/config.ts, KgdbOptions in
 * src/engine/kgdb-connection.ts): the same keys,
 * compatible types, and the same enums. The types are read from the source with the TypeScript
 * compiler, so neither side can drift without this failing.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { ARCH_NAMES } from '../../../src/kernel/arch/names';
import { BREAK_IN_METHODS } from '../../../src/engine/kgdb-connection';

const root = path.resolve(__dirname, '..', '..', '..', '..');
const configFile = path.join(root, 'src', 'adapter', 'config.ts');
const kgdbFile = path.join(root, 'src', 'engine', 'kgdb-connection.ts');

interface SchemaProperty {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, SchemaProperty>;
  items?: SchemaProperty;
}

const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  contributes: { debuggers: Array<{ type: string; configurationAttributes: Record<'launch' | 'attach', { properties: Record<string, SchemaProperty>; required?: string[]; anyOf?: Array<{ required: string[] }> }> }> };
};
const schema = manifest.contributes.debuggers.find((d) => d.type === 'kdap')!.configurationAttributes;

const program = ts.createProgram([configFile, kgdbFile], { strict: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16, noEmit: true });
const checker = program.getTypeChecker();

/** The declared type of an interface `file` exports. */
function interfaceType(file: string, name: string): ts.Type {
  const module = checker.getSymbolAtLocation(program.getSourceFile(file)!);
  const symbol = module && checker.getExportsOfModule(module).find((s) => s.name === name);
  assert.ok(symbol, `${path.basename(file)} exports no type ${name}`);
  return checker.getDeclaredTypeOfSymbol(symbol);
}

/** Members of DAP's own LaunchRequestArguments (noDebug, __restart): the client's, not the schema's. */
const dapOwn = new Set(['noDebug', '__restart']);

function members(type: ts.Type): Map<string, ts.Type> {
  const out = new Map<string, ts.Type>();
  for (const p of checker.getPropertiesOfType(type)) {
    if (dapOwn.has(p.name)) continue;
    out.set(p.name, checker.getNonNullableType(checker.getTypeOfSymbol(p)));
  }
  return out;
}

/** The JSON schema type a TypeScript type is written as. */
function jsonType(t: ts.Type): string {
  if (checker.isArrayType(t)) return 'array';
  if (t.isUnion() && t.types.every((u) => u.flags & ts.TypeFlags.StringLiteral)) return 'string';
  if (t.flags & ts.TypeFlags.String) return 'string';
  if (t.flags & ts.TypeFlags.Number) return 'number';
  if (t.flags & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral) || (t.isUnion() && t.types.every((u) => u.flags & ts.TypeFlags.BooleanLiteral))) return 'boolean';
  if (t.flags & ts.TypeFlags.Object) return 'object';
  return checker.typeToString(t);
}

function compare(what: string, type: ts.Type, properties: Record<string, SchemaProperty>): void {
  const declared = members(type);
  assert.deepEqual([...declared.keys()].sort(), Object.keys(properties).sort(), `${what}: the keys of the type and of the schema differ`);
  for (const [name, t] of declared) {
    const schemaType = properties[name].type === 'integer' ? 'number' : properties[name].type;
    assert.equal(jsonType(t), schemaType, `${what}.${name}: the type says ${checker.typeToString(t)}, the schema ${properties[name].type}`);
  }
}

describe('the launch/attach schema in package.json', () => {
  test('launch: every LaunchArguments key is in the schema, and no other, with its type', () => {
    compare('launch', interfaceType(configFile, 'LaunchArguments'), schema.launch.properties);
    // A launch boots a kernel image or opens a crash dump.
    assert.deepEqual(schema.launch.anyOf, [{ required: ['kernel'] }, { required: ['core'] }]);
  });

  test('attach: every AttachArguments key is in the schema, and no other, with its type', () => {
    compare('attach', interfaceType(configFile, 'AttachArguments'), schema.attach.properties);
  });

  test('attach.kgdb: the schema has the keys of KgdbOptions', () => {
    compare('attach.kgdb', interfaceType(kgdbFile, 'KgdbOptions'), schema.attach.properties.kgdb.properties!);
  });

  test('the enums are the ones the code accepts', () => {
    assert.deepEqual(schema.launch.properties.arch.enum, [...ARCH_NAMES]);
    assert.deepEqual(schema.attach.properties.arch.enum, [...ARCH_NAMES]);
    assert.deepEqual(schema.attach.properties.kgdb.properties!.breakIn.enum, [...BREAK_IN_METHODS]);
  });
});
