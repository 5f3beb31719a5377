/**
 * The page compressions of kdump-compressed dumps (makedumpfile's DUMP_DH_COMPRESSED_* flags):
 * zlib through Node's own zlib (makedumpfile -c and QEMU -z use compress2(), the zlib format);
 * LZO1X through ./lzo; snappy through `snappyjs` (pure JS, the most used snappy decoder on npm,
 * MIT); zstd through `fzstd` (pure JS by the author of fflate, MIT; Node 20's zlib has no zstd).
 * Pure JS keeps the bundle self-contained: no native build, nothing fetched at install.
 */
import * as zlib from 'node:zlib';
import { decompress as zstdDecompress } from 'fzstd';
import { uncompress as snappyUncompress } from 'snappyjs';
import { lzo1xDecompress } from './lzo';

export type Compression = 'none' | 'zlib' | 'lzo' | 'snappy' | 'zstd';

/** `page_desc.flags` bits (makedumpfile diskdump_mod.h). */
export const DUMP_DH_COMPRESSED_ZLIB = 0x1;
export const DUMP_DH_COMPRESSED_LZO = 0x2;
export const DUMP_DH_COMPRESSED_SNAPPY = 0x4;
export const DUMP_DH_COMPRESSED_ZSTD = 0x20;

export function compressionOf(flags: number): Compression | undefined {
  if (flags === 0) return 'none';
  if (flags & DUMP_DH_COMPRESSED_ZLIB) return 'zlib';
  if (flags & DUMP_DH_COMPRESSED_LZO) return 'lzo';
  if (flags & DUMP_DH_COMPRESSED_SNAPPY) return 'snappy';
  if (flags & DUMP_DH_COMPRESSED_ZSTD) return 'zstd';
  return undefined;
}

/** Decompresses one page; throws (with the library's message) when it is not `pageSize` bytes. */
export function decompressPage(kind: Compression, data: Uint8Array, pageSize: number): Uint8Array {
  let out: Uint8Array;
  switch (kind) {
    case 'none':
      out = data;
      break;
    case 'zlib':
      out = zlib.inflateSync(data, { maxOutputLength: pageSize });
      break;
    case 'lzo':
      out = lzo1xDecompress(data, pageSize);
      break;
    case 'snappy':
      out = snappyUncompress(data, pageSize);
      break;
    case 'zstd': {
      // fzstd fills a given buffer without saying how much it wrote, so the frame's own
      // content size (zstd writes it by default) is checked first.
      const declared = zstdContentSize(data);
      if (declared !== undefined && declared !== pageSize) throw new Error(`zstd frame holds ${declared} bytes, not a ${pageSize}-byte page`);
      out = declared === undefined ? zstdDecompress(data) : zstdDecompress(data, new Uint8Array(pageSize));
      break;
    }
  }
  if (out.length !== pageSize) throw new Error(`${kind} data gave ${out.length} bytes, not a ${pageSize}-byte page`);
  // Buffers (zlib's) become plain views, so every page is the same type.
  return out instanceof Buffer ? new Uint8Array(out.buffer, out.byteOffset, out.length) : out;
}

/** Frame_Content_Size of a zstd frame header (RFC 8878 §3.1.1.1), when the frame has one. */
export function zstdContentSize(data: Uint8Array): number | undefined {
  if (data.length < 6 || data[0] !== 0x28 || data[1] !== 0xb5 || data[2] !== 0x2f || data[3] !== 0xfd) {
    throw new Error('not a zstd frame (no magic number)');
  }
  const descriptor = data[4];
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][fcsFlag];
  if (fcsBytes === 0) return undefined;
  const at = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][descriptor & 3];
  if (at + fcsBytes > data.length) throw new Error('zstd frame header is cut short');
  let value = 0;
  for (let i = fcsBytes - 1; i >= 0; i--) value = value * 256 + data[at + i];
  return fcsBytes === 2 ? value + 256 : value;
}
