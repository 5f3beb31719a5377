/**
 * V8 settings for the language-server process, applied before the parser's code is first
 * optimized. The parser is one hot loop over every line of a document; with V8's default
 * inlining budget TurboFan builds very large compilation units for it, and on a cold server
 * the first big document waits for them. A smaller budget cut the first parse of a 100k-line
 * log by about a quarter in wall time and CPU (bench/logs.mjs).
 */
import * as v8 from 'node:v8';

v8.setFlagsFromString('--max-inlined-bytecode-size-cumulative=200');
