/**
 * LZO1X decompression (the format liblzo2's lzo1x_1_compress writes, which makedumpfile -l
 * uses for each page), written from the bitstream description in the kernel's
 * Documentation/staging/lzo.rst. npm has no maintained pure-JS LZO1X decoder: `lzo` and
 * `lzo-decompress` are native addons (a compiler and node headers at install, or prebuilds for
 * linux-x64 only), `lzo-wasm` is a browser ES module. Every read and write is bounds-checked:
 * a corrupt page throws, it never reads or writes outside its buffers.
 */

export class LzoError extends Error {
  constructor(message: string) {
    super(`LZO: ${message}`);
    this.name = 'LzoError';
  }
}

/** Decompresses `input` into exactly `outputLength` bytes. */
export function lzo1xDecompress(input: Uint8Array, outputLength: number): Uint8Array {
  const out = new Uint8Array(outputLength);
  let ip = 0;
  let op = 0;

  const byte = (): number => {
    if (ip >= input.length) throw new LzoError(`input ends at ${ip}`);
    return input[ip++];
  };
  /** `base + 255 * zero bytes + the first non-zero byte`: a length field that was 0. */
  const extended = (base: number): number => {
    let n = base;
    let b = byte();
    while (b === 0) {
      n += 255;
      if (n > outputLength + 255) throw new LzoError('length run longer than the output');
      b = byte();
    }
    return n + b;
  };
  const literals = (n: number): void => {
    if (ip + n > input.length) throw new LzoError(`${n} literals at ${ip} run past the input`);
    if (op + n > outputLength) throw new LzoError(`${n} literals at ${op} overrun the ${outputLength}-byte output`);
    out.set(input.subarray(ip, ip + n), op);
    ip += n;
    op += n;
  };
  const match = (distance: number, length: number): void => {
    if (distance > op) throw new LzoError(`match distance ${distance} reaches before the start (at ${op})`);
    if (op + length > outputLength) throw new LzoError(`match of ${length} at ${op} overruns the ${outputLength}-byte output`);
    // Byte by byte: a match may overlap its own output (distance < length repeats a pattern).
    for (let from = op - distance, end = op + length; op < end; ) out[op++] = out[from++];
  };

  // The first byte may open with a literal run (lzo.rst, "first byte encoding").
  let state = 0;
  const first = input[0];
  if (first === undefined) throw new LzoError('empty input');
  if (first === 17) throw new LzoError('bitstream version 1 (LZO-RLE) is not what makedumpfile writes');
  if (first > 17) {
    ip = 1;
    const n = first - 17;
    literals(n);
    state = n < 4 ? n : 4;
  }

  for (;;) {
    const inst = byte();
    let distance: number;
    let length: number;
    let trailing: number;
    if (inst < 16) {
      if (state === 0) {
        literals(3 + (inst === 0 ? extended(15) : inst));
        state = 4;
        continue;
      }
      trailing = inst & 3;
      const h = byte();
      if (state === 4) {
        length = 3;
        distance = (h << 2) + ((inst >> 2) & 3) + 2049;
      } else {
        length = 2;
        distance = (h << 2) + ((inst >> 2) & 3) + 1;
      }
    } else if (inst < 32) {
      const l = inst & 7;
      length = 2 + (l === 0 ? extended(7) : l);
      const le = byte() | (byte() << 8);
      trailing = le & 3;
      distance = 16384 + ((inst & 8) << 11) + (le >> 2);
      if (distance === 16384) {
        if (op !== outputLength) throw new LzoError(`stream ended after ${op} of ${outputLength} bytes`);
        return out;
      }
    } else if (inst < 64) {
      const l = inst & 31;
      length = 2 + (l === 0 ? extended(31) : l);
      const le = byte() | (byte() << 8);
      trailing = le & 3;
      distance = (le >> 2) + 1;
    } else {
      trailing = inst & 3;
      length = inst < 128 ? 3 + ((inst >> 5) & 1) : 5 + ((inst >> 5) & 3);
      distance = (byte() << 3) + ((inst >> 2) & 7) + 1;
    }
    match(distance, length);
    literals(trailing);
    state = trailing;
  }
}
