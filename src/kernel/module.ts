/**
 * Loaded modules (include/linux/module.h, kernel/module/main.c, kernel/module/sysfs.c): the
 * `modules` list and, per module, what /proc/modules and /sys/module/NAME/sections show (name,
 * state, memory regions, section addresses), plus the build id and srcversion that tell whether
 * a .ko on disk is the one that is loaded.
 *
 * Layouts come from DWARF and are probed newest first, once per Target:
 * - regions: `mem[MOD_*]` (v6.4, ac3b43283923 "module: replace module_layout with
 *   module_memory"), `core_layout`/`init_layout` (v4.5, 7523e4dc5057 "module: use a structure
 *   to encapsulate layout."), `module_core`/`module_init` before that;
 * - sections: `sect_attrs->grp.bin_attrs[]` with the address in each `bin_attribute.private`
 *   (v6.14, "module: sysfs: Drop 'struct module_sect_attr'"), `sect_attrs->attrs[nsections]`
 *   of `{battr, address}` (v5.8, ed66f991bb19 "module: Refactor section attr into bin
 *   attribute"), `attrs[nsections]` of `{mattr, name, address}` before that.
 *
 * Freed init memory: `sect_attrs` keeps the `.init.*` addresses (and those of the init copy of
 * `.symtab`/`.strtab`) after do_init_module() has freed the init region, and the next module
 * is placed there. A section is reported only while it lies in one of the module's live
 * regions; init regions are live while the module is COMING, until their base is cleared.
 *
 * Cost: one read of `struct module` (which also gives the list link), one of the section
 * table, one per section name (each is its own kmalloc'd string) and one for the build-id
 * note: about 25 reads for a module of 20 sections. Over QEMU's gdbstub a read is one round
 * trip of well under a millisecond; over a 115200-baud kgdb line each is tens of ms.
 */
import { cString, DebugInfoError, member, readU64, structLayout, symbolAddress, unsignedAt } from './struct';
import type { MemberLayout, StructLayout, Target } from './target';

/** `enum module_state`, unchanged since v3.7 (UNFORMED added then). */
export type ModuleState = 'live' | 'coming' | 'going' | 'unformed';
const STATES: readonly ModuleState[] = ['live', 'coming', 'going', 'unformed'];

/** One contiguous allocation of a module: its text, or all of its core, and so on. */
export interface ModuleRegion {
  /** `mem[]` type without the MOD_ prefix, lower case (`text`, `init_data`); `core`/`init` before v6.4. */
  readonly kind: string;
  readonly base: bigint;
  readonly size: number;
  /** Freed (and its base cleared) once the module's init function has returned. */
  readonly init: boolean;
}

export interface KernelModule {
  /** The `struct module *`. */
  readonly address: bigint;
  readonly name: string;
  readonly state: ModuleState;
  /** Where the module's core text starts: the address /proc/modules prints. */
  readonly base: bigint;
  /** Bytes of all its regions, init included while it exists: /proc/modules' size column. */
  readonly size: number;
  readonly regions: readonly ModuleRegion[];
  /** Section name → address, for sections in live memory, in `sect_attrs` order. */
  readonly sections: ReadonlyMap<string, bigint>;
  /** Sections `sect_attrs` still lists at addresses that were freed (stale `.init.*`). */
  readonly freedSections: readonly string[];
  /** The module's per-CPU area (`mod->percpu`), where its `.data..percpu` lives. */
  readonly percpu?: { readonly base: bigint; readonly size: number };
  /** GNU build id (hex) of the loaded image, when the kernel keeps one. */
  readonly buildId?: string;
  /** `MODULE_INFO(srcversion)`, a checksum of the module's sources, when it has one. */
  readonly srcversion?: string;
}

/** `enum mod_mem_type` (v6.4+); its order has not changed since it was introduced. */
const MEM_TYPES = ['text', 'data', 'rodata', 'ro_after_init', 'init_text', 'init_data', 'init_rodata'] as const;
const FIRST_INIT_MEM = 4;
/** A bound on list walks, so a corrupt list cannot loop forever. */
const MAX_MODULES = 10_000;
const MAX_SECTIONS = 4096;

type RegionShape =
  | { kind: 'mem'; offset: number; count: number; stride: number; base: MemberLayout; size: MemberLayout }
  | { kind: 'layout'; core: number; init: number; base: MemberLayout; size: MemberLayout }
  | { kind: 'flat'; core: MemberLayout; coreSize: MemberLayout; init: MemberLayout; initSize: MemberLayout };

type SectionShape =
  /** v6.14+: NULL-terminated `grp.bin_attrs` of pointers to `bin_attribute`s. */
  | { kind: 'bin_attrs'; binAttrs: number; name: number; address: number }
  /** v5.8 to v6.13 (`name` is `battr.attr.name`), and older (`name` is its own member). */
  | { kind: 'attrs'; count: MemberLayout; array: number; stride: number; name: number; address: number };

interface Shape {
  module: StructLayout;
  list: number;
  name: MemberLayout;
  state: MemberLayout;
  regions: RegionShape;
  sectAttrs?: MemberLayout;
  sections?: SectionShape;
  percpu?: MemberLayout;
  percpuSize?: MemberLayout;
  buildId?: MemberLayout;
  srcversion?: MemberLayout;
}

const shapes = new WeakMap<Target, Promise<Shape>>();

function shapeOf(target: Target): Promise<Shape> {
  let shape = shapes.get(target);
  if (!shape) {
    shape = probe(target);
    // A probe that failed half-way (gdb gone) must not stick to the target.
    shape.catch(() => shapes.delete(target));
    shapes.set(target, shape);
  }
  return shape;
}

async function probe(target: Target): Promise<Shape> {
  const module = await structLayout(target, 'module');
  const m = module.members;
  return {
    module,
    list: member(module, 'list').offset,
    name: member(module, 'name'),
    state: member(module, 'state'),
    regions: await probeRegions(target, module),
    sectAttrs: m.get('sect_attrs'),
    sections: m.has('sect_attrs') ? await probeSections(target) : undefined,
    percpu: m.get('percpu'),
    percpuSize: m.get('percpu_size'),
    buildId: m.get('build_id'),
    srcversion: m.get('srcversion'),
  };
}

async function probeRegions(target: Target, module: StructLayout): Promise<RegionShape> {
  const m = module.members;
  const mem = m.get('mem');
  if (mem) {
    const layout = await structLayout(target, 'module_memory');
    if (layout.size <= 0) throw new DebugInfoError('struct module_memory has no size');
    return { kind: 'mem', offset: mem.offset, count: Math.floor(mem.size / layout.size), stride: layout.size, base: member(layout, 'base'), size: member(layout, 'size') };
  }
  const core = m.get('core_layout');
  if (core) {
    const layout = await structLayout(target, 'module_layout');
    return { kind: 'layout', core: core.offset, init: member(module, 'init_layout').offset, base: member(layout, 'base'), size: member(layout, 'size') };
  }
  if (m.has('module_core')) {
    return { kind: 'flat', core: member(module, 'module_core'), coreSize: member(module, 'core_size'), init: member(module, 'module_init'), initSize: member(module, 'init_size') };
  }
  throw new DebugInfoError('struct module has none of mem, core_layout or module_core: unknown module layout');
}

async function probeSections(target: Target): Promise<SectionShape> {
  const attrs = await structLayout(target, 'module_sect_attrs');
  const group = member(attrs, 'grp').offset;
  if (!attrs.members.has('nsections')) {
    const groupLayout = await structLayout(target, 'attribute_group');
    // v6.14 had `bin_attrs_new` in a union with `bin_attrs` for a while; same storage.
    const binAttrs = groupLayout.members.get('bin_attrs') ?? member(groupLayout, 'bin_attrs_new');
    const bin = await binAttributeLayout(target);
    return { kind: 'bin_attrs', binAttrs: group + binAttrs.offset, name: bin.name, address: member(bin.layout, 'private').offset };
  }
  const sect = await structLayout(target, 'module_sect_attr');
  const address = member(sect, 'address').offset;
  const common = { kind: 'attrs' as const, count: member(attrs, 'nsections'), array: member(attrs, 'attrs').offset, stride: sect.size, address };
  const ownName = sect.members.get('name');
  if (ownName) return { ...common, name: ownName.offset };
  const bin = await binAttributeLayout(target);
  return { ...common, name: member(sect, 'battr').offset + bin.name };
}

async function binAttributeLayout(target: Target): Promise<{ layout: StructLayout; name: number }> {
  const layout = await structLayout(target, 'bin_attribute');
  const attribute = await structLayout(target, 'attribute');
  return { layout, name: member(layout, 'attr').offset + member(attribute, 'name').offset };
}

/**
 * `list_for_each_entry(mod, &modules, list)`: every module the kernel knows, newest first (the
 * order of /proc/modules), including ones still loading (COMING, UNFORMED) or going away.
 *
 * @throws DebugInfoError when the kernel has no `modules` list or `struct module` is unknown.
 * @throws FaultError when the list cannot be read (e.g. the kernel has not set it up yet).
 */
export async function listModules(target: Target): Promise<KernelModule[]> {
  const head = await symbolAddress(target, 'modules');
  let next = await readU64(target, head);
  // No module loaded: nothing needs `struct module`'s layout (a ptype of its own on a first session).
  if (next === head) return [];
  const shape = await shapeOf(target);
  const out: KernelModule[] = [];
  while (next !== head) {
    if (out.length >= MAX_MODULES) throw new Error(`the modules list has more than ${MAX_MODULES} entries: it is corrupt or changing`);
    const { module, link } = await readModuleAt(target, shape, next - BigInt(shape.list));
    out.push(module);
    next = link;
  }
  return out;
}

/**
 * One module, by its `struct module *` (e.g. do_init_module()'s `mod` argument).
 *
 * @throws DebugInfoError when `struct module` is unknown; FaultError when it cannot be read.
 */
export async function readModule(target: Target, address: bigint): Promise<KernelModule> {
  return (await readModuleAt(target, await shapeOf(target), address)).module;
}

/** `find_module(name)`: the loaded module of that name (`-` and `_` are the same), if any. */
export async function findModule(target: Target, name: string): Promise<KernelModule | undefined> {
  const wanted = moduleName(name);
  return (await listModules(target)).find((m) => m.name === wanted);
}

/** The kernel's spelling of a module name: file names may use `-` where the kernel has `_`. */
export function moduleName(name: string): string {
  return name.replace(/-/g, '_');
}

/** `init_uts_ns.name.release`: what `uname -r` prints, the name of /lib/modules/RELEASE. */
export async function kernelRelease(target: Target): Promise<string> {
  const ns = await structLayout(target, 'uts_namespace');
  const uts = await structLayout(target, 'new_utsname');
  const release = member(uts, 'release');
  const at = (await symbolAddress(target, 'init_uts_ns')) + BigInt(member(ns, 'name').offset + release.offset);
  return cString(await target.readVirtual(at, release.size));
}

async function readModuleAt(target: Target, shape: Shape, address: bigint): Promise<{ module: KernelModule; link: bigint }> {
  const bytes = await target.readVirtual(address, shape.module.size);
  const field = (m: MemberLayout) => unsignedAt(bytes, m.offset, m.size);
  const stateValue = Number(field(shape.state));
  // A value past the enum would be a torn read or a newer kernel; treat it as not usable yet.
  const state = STATES[stateValue] ?? 'unformed';
  const regions = decodeRegions(bytes, shape.regions);
  const text = regions.find((r) => r.kind === 'text' || r.kind === 'core');
  const listed = shape.sectAttrs ? await readSections(target, shape.sections!, field(shape.sectAttrs)) : [];
  const sections = new Map<string, bigint>();
  const freedSections: string[] = [];
  for (const [name, at] of listed) {
    if (regions.some((r) => r.size > 0 && r.base !== 0n && at >= r.base && at < r.base + BigInt(r.size))) sections.set(name, at);
    else freedSections.push(name);
  }
  const percpuBase = shape.percpu ? field(shape.percpu) : 0n;
  const module: KernelModule = {
    address,
    name: cString(bytes.subarray(shape.name.offset, shape.name.offset + shape.name.size)),
    state,
    base: text?.base ?? 0n,
    size: regions.reduce((sum, r) => sum + r.size, 0),
    regions,
    sections,
    freedSections,
    ...(percpuBase !== 0n ? { percpu: { base: percpuBase, size: shape.percpuSize ? Number(field(shape.percpuSize)) : 0 } } : {}),
  };
  const buildId = await readBuildId(target, shape, bytes, sections).catch(() => undefined);
  const srcversionAt = shape.srcversion ? field(shape.srcversion) : 0n;
  const srcversion = srcversionAt !== 0n ? await readCString(target, srcversionAt, 64).catch(() => undefined) : undefined;
  return {
    module: { ...module, ...(buildId ? { buildId } : {}), ...(srcversion ? { srcversion } : {}) },
    link: unsignedAt(bytes, shape.list, 8),
  };
}

function decodeRegions(bytes: Uint8Array, shape: RegionShape): ModuleRegion[] {
  const at = (offset: number, m: MemberLayout) => unsignedAt(bytes, offset + m.offset, m.size);
  switch (shape.kind) {
    case 'mem':
      return Array.from({ length: shape.count }, (_, i) => ({
        kind: MEM_TYPES[i] ?? `mem${i}`,
        base: at(shape.offset + i * shape.stride, shape.base),
        size: Number(at(shape.offset + i * shape.stride, shape.size)),
        init: i >= FIRST_INIT_MEM,
      }));
    case 'layout':
      return [
        { kind: 'core', base: at(shape.core, shape.base), size: Number(at(shape.core, shape.size)), init: false },
        { kind: 'init', base: at(shape.init, shape.base), size: Number(at(shape.init, shape.size)), init: true },
      ];
    case 'flat':
      return [
        { kind: 'core', base: at(0, shape.core), size: Number(at(0, shape.coreSize)), init: false },
        { kind: 'init', base: at(0, shape.init), size: Number(at(0, shape.initSize)), init: true },
      ];
  }
}

/** `sect_attrs` as [name, address] pairs in the kernel's order; none before sysfs setup. */
async function readSections(target: Target, shape: SectionShape, sectAttrs: bigint): Promise<Array<[string, bigint]>> {
  if (sectAttrs === 0n) return [];
  const entries: Array<{ name: bigint; address: bigint }> = [];
  if (shape.kind === 'attrs') {
    const header = await target.readVirtual(sectAttrs + BigInt(shape.count.offset), shape.count.size);
    const count = Number(unsignedAt(header, 0, shape.count.size));
    if (count > MAX_SECTIONS) throw new Error(`module_sect_attrs at 0x${sectAttrs.toString(16)} claims ${count} sections`);
    if (count === 0) return [];
    const table = await target.readVirtual(sectAttrs + BigInt(shape.array), count * shape.stride);
    for (let i = 0; i < count; i++) {
      entries.push({ name: unsignedAt(table, i * shape.stride + shape.name, 8), address: unsignedAt(table, i * shape.stride + shape.address, 8) });
    }
  } else {
    const list = await readU64(target, sectAttrs + BigInt(shape.binAttrs));
    if (list === 0n) return [];
    for (const battr of await readPointerList(target, list)) {
      const bytes = await target.readVirtual(battr, Math.max(shape.name, shape.address) + 8);
      entries.push({ name: unsignedAt(bytes, shape.name, 8), address: unsignedAt(bytes, shape.address, 8) });
    }
  }
  const out: Array<[string, bigint]> = [];
  for (const e of entries) if (e.name !== 0n) out.push([await readCString(target, e.name, 256), e.address]);
  return out;
}

/** A NULL-terminated array of pointers, read a few entries at a time. */
async function readPointerList(target: Target, address: bigint): Promise<bigint[]> {
  const out: bigint[] = [];
  for (;;) {
    const chunk = await target.readVirtual(address + BigInt(out.length * 8), 16 * 8);
    for (let i = 0; i < 16; i++) {
      const p = unsignedAt(chunk, i * 8, 8);
      if (p === 0n) return out;
      out.push(p);
      if (out.length > MAX_SECTIONS) throw new Error(`pointer list at 0x${address.toString(16)} has no end`);
    }
  }
}

/** The build id from `mod->build_id` (CONFIG_STACKTRACE_BUILD_ID) or the loaded `.note.gnu.build-id`. */
async function readBuildId(target: Target, shape: Shape, bytes: Uint8Array, sections: ReadonlyMap<string, bigint>): Promise<string | undefined> {
  if (shape.buildId) {
    const raw = bytes.subarray(shape.buildId.offset, shape.buildId.offset + shape.buildId.size);
    if (raw.some((b) => b !== 0)) return hex(raw).replace(/(00)+$/, '');
  }
  const note = sections.get('.note.gnu.build-id');
  if (note === undefined) return undefined;
  // The usual note is 36 bytes (a 20-byte SHA-1); read that much first, so a note at the end
  // of a mapped page never faults on the next one, and more only for a longer id.
  const head = await target.readVirtual(note, 12 + 4 + 20);
  const descsz = Number(unsignedAt(head, 4, 4));
  if (descsz <= 20) return parseBuildIdNote(head);
  return parseBuildIdNote(await target.readVirtual(note, 12 + 4 + Math.min(descsz, 64)));
}

const NT_GNU_BUILD_ID = 3;

/** The descriptor of an `NT_GNU_BUILD_ID` note ("GNU\0" owner) at the start of `bytes`, in hex. */
export function parseBuildIdNote(bytes: Uint8Array): string | undefined {
  for (let at = 0; at + 12 <= bytes.length; ) {
    const namesz = Number(unsignedAt(bytes, at, 4));
    const descsz = Number(unsignedAt(bytes, at + 4, 4));
    const type = Number(unsignedAt(bytes, at + 8, 4));
    const name = at + 12;
    const desc = name + ((namesz + 3) & ~3);
    if (desc + descsz > bytes.length) return undefined;
    const owner = bytes.subarray(name, name + namesz);
    if (type === NT_GNU_BUILD_ID && namesz === 4 && owner[0] === 0x47 && owner[1] === 0x4e && owner[2] === 0x55 && owner[3] === 0) {
      return hex(bytes.subarray(desc, desc + descsz));
    }
    at = desc + ((descsz + 3) & ~3);
  }
  return undefined;
}

/**
 * A NUL-terminated string of at most `max` bytes. Reads stop at page boundaries, so a short
 * string at the end of a mapped page never faults on the page after it.
 */
export async function readCString(target: Target, address: bigint, max: number): Promise<string> {
  const out = new Uint8Array(max);
  let length = 0;
  while (length < max) {
    const at = address + BigInt(length);
    const n = Math.min(64, Number(0x1000n - (at & 0xfffn)), max - length);
    const chunk = await target.readVirtual(at, n);
    const nul = chunk.indexOf(0);
    out.set(nul < 0 ? chunk : chunk.subarray(0, nul), length);
    if (nul >= 0) return cString(out.subarray(0, length + nul));
    length += n;
  }
  return cString(out);
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
