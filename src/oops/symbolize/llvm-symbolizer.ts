/**
 * Line and inline-chain lookup for linked objects (vmlinux, ET_EXEC/ET_DYN) through one
 * long-lived `llvm-symbolizer --inlining --output-style=JSON` per object.
 *
 * With `--obj` on the command line every stdin line is one address, and every answer is one JSON
 * line (LLVM 14 and later):
 *   {"Address":"0x…","ModuleName":"…","Symbol":[{"FunctionName":"…","FileName":"…","Line":N,
 *    "Column":N,"Discriminator":N,"StartAddress":"0x…",…}, …]}   (innermost frame first)
 * An address without line info still names its symbol-table function, with `FileName` "" and
 * `Line` 0; an address in assembler code has a line but no function (`FunctionName` ""). llvm-symbolizer cannot be told which section an address is in, so it is not used
 * for relocatable modules, whose sections all start at 0 (see addr2line.ts).
 */
import { Batcher } from './batch';
import { LineProcess } from './line-process';

/** One entry of an inline chain as a tool printed it, before any path mapping. */
export interface RawPosition {
  function: string | undefined;
  /** Path as recorded in the DWARF; undefined when the tool knows no line. */
  file: string | undefined;
  line: number;
  column: number | undefined;
  discriminator: number | undefined;
}

interface JsonFrame {
  FunctionName?: string;
  FileName?: string;
  Line?: number;
  Column?: number;
  Discriminator?: number;
}

/** One answer line → the chain, innermost first; [] for an error or an unknown address. */
export function parseLlvmSymbolizerJson(line: string): RawPosition[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return [];
  }
  const frames = (parsed as { Symbol?: unknown }).Symbol;
  if (!Array.isArray(frames)) return [];
  const out: RawPosition[] = [];
  for (const f of frames as JsonFrame[]) {
    const fn = f.FunctionName && f.FunctionName !== '??' ? f.FunctionName : undefined;
    const hasLine = typeof f.FileName === 'string' && f.FileName !== '' && typeof f.Line === 'number' && f.Line > 0;
    out.push({
      function: fn,
      file: hasLine ? f.FileName : undefined,
      line: hasLine ? (f.Line as number) : 0,
      column: hasLine && f.Column ? f.Column : undefined,
      discriminator: f.Discriminator ? f.Discriminator : undefined,
    });
  }
  return out;
}

export class LlvmSymbolizer {
  private readonly process: LineProcess;
  private readonly batcher: Batcher<bigint, RawPosition[]>;

  constructor(
    readonly object: string,
    program: string,
    idleMs: number,
  ) {
    this.process = new LineProcess({
      program,
      // `short`: the DWARF name, as addr2line prints it. With `linkage` LLVM 14 prefers the
      // symbol table's name for the outermost frame (`nmi_cpu_backtrace.cold`).
      args: ['--obj', object, '--inlining', '--functions=short', '--output-style=JSON'],
      idleMs,
      label: `llvm-symbolizer ${object}`,
    });
    this.batcher = new Batcher((addresses) => this.run(addresses));
  }

  get processInfo(): LineProcess {
    return this.process;
  }

  lookup(address: bigint): Promise<RawPosition[]> {
    return this.batcher.add(address);
  }

  private async run(addresses: bigint[]): Promise<RawPosition[][]> {
    const input = addresses.map((a) => `0x${a.toString(16)}\n`).join('');
    const lines = await this.process.exchange(input, (got) => got.length >= addresses.length);
    return lines.map(parseLlvmSymbolizerJson);
  }

  dispose(): Promise<void> {
    return this.process.dispose();
  }
}
