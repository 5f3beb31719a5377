import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { compress as snappyCompress } from 'snappyjs';
import { compressionOf, decompressPage } from '../../../src/dump/decompress';
import { LzoError, lzo1xDecompress } from '../../../src/dump/lzo';
import { LZO_4K, LZO_64K, ZSTD_4K, ZSTD_64K, pattern } from './vectors';

describe('page decompression', () => {
  test('LZO1X-1 pages from liblzo2 decompress to the original, 4 KiB and 64 KiB (far matches)', () => {
    assert.deepEqual(lzo1xDecompress(LZO_4K, 4096), pattern(4096, 1));
    assert.deepEqual(lzo1xDecompress(LZO_64K, 65536), pattern(65536, 2));
  });

  test('zstd pages from the zstd tool decompress through fzstd', () => {
    assert.deepEqual(decompressPage('zstd', ZSTD_4K, 4096), pattern(4096, 1));
    assert.deepEqual(decompressPage('zstd', ZSTD_64K, 65536), pattern(65536, 2));
  });

  test('zlib (compress2 format) and snappy', () => {
    const page = pattern(4096, 3);
    assert.deepEqual(decompressPage('zlib', zlib.deflateSync(page), 4096), page);
    assert.deepEqual(decompressPage('snappy', snappyCompress(page), 4096), page);
  });

  test('a page that decompresses to the wrong size is an error, never a short page', () => {
    const half = pattern(2048, 4);
    assert.throws(() => decompressPage('zlib', zlib.deflateSync(half), 4096), /2048 bytes, not a 4096-byte page/);
    assert.throws(() => decompressPage('zlib', zlib.deflateSync(pattern(8192, 4)), 4096));
    assert.throws(() => decompressPage('snappy', snappyCompress(pattern(8192, 4)), 4096));
    assert.throws(() => decompressPage('zstd', ZSTD_64K, 4096));
  });

  test('corrupt LZO input throws LzoError and stays inside its buffers', () => {
    assert.throws(() => lzo1xDecompress(LZO_4K.subarray(0, 200), 4096), LzoError);
    assert.throws(() => lzo1xDecompress(LZO_4K, 2048), /overrun/);
    assert.throws(() => lzo1xDecompress(new Uint8Array(0), 4096), /empty/);
    // A match reaching before the start of the output: literal "ab", then distance 2049.
    assert.throws(() => lzo1xDecompress(Uint8Array.from([17 + 2, 0x61, 0x62, 0x10 | 1, 0x04, 0x00]), 4096), LzoError);
    // Every single-byte corruption either fails cleanly or gives a page of the right size.
    for (let i = 0; i < LZO_4K.length; i += 7) {
      const bad = Uint8Array.from(LZO_4K);
      bad[i] ^= 0x5a;
      try {
        assert.equal(lzo1xDecompress(bad, 4096).length, 4096);
      } catch (e) {
        assert.ok(e instanceof LzoError, `byte ${i}: ${(e as Error).message}`);
      }
    }
  });

  test('compression flags of page_desc_t', () => {
    assert.equal(compressionOf(0), 'none');
    assert.equal(compressionOf(1), 'zlib');
    assert.equal(compressionOf(2), 'lzo');
    assert.equal(compressionOf(4), 'snappy');
    assert.equal(compressionOf(0x20), 'zstd');
    assert.equal(compressionOf(0x10), undefined);
  });
});
