#!/usr/bin/env node
// Packages kdap: the VS Code extension as one universal vsix and one vsix per platform, and the
// `kdap` command line as an npm tarball.
//
//   node scripts/package.mjs [--out DIR] [TARGET...]        (npm run package; DIR defaults to dist/)
//
//   universal     DIR/kdap.vsix             the bundles only: kgdb over TCP, no serial devices
//   linux-x64 …   DIR/kdap-<target>.vsix    the same plus the serial-port binding for that platform
//   cli           DIR/kdap-<version>.tgz    npm pack: dist/cli.js and the package files
//
// Without TARGET: all of them. Everything is built in a staging folder (production bundles
// included), so dist/ and the checkout are left as they are.
//
// The serial binding (@serialport/bindings-cpp, which src/kgdb/link.ts requires on first use of
// a serial device) goes into dist/node_modules/ of a platform vsix: Node finds it there from
// dist/adapter.js, and vsce's file walk leaves top-level node_modules/ out but not this one. Its
// JavaScript and what that requires (node-gyp-build, debug, the parsers) are bundled into one
// file at the package's own dist/index.js, so node-gyp-build's lookup of `<package>/prebuilds/`
// relative to that file works as in the original layout; beside it sit the prebuilt binaries
// of the platform, and the licenses of everything bundled.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { bundle } from './build.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const bindingName = '@serialport/bindings-cpp';

/**
 * VS Code target → the binding's prebuilds/ folder and the binaries in it that this platform
 * loads (node-gyp-build picks among them by libc and, on 32-bit arm, the ARM version).
 */
const platforms = {
  'linux-x64': { dir: 'linux-x64', files: /\.glibc\.node$/ },
  'linux-arm64': { dir: 'linux-arm64', files: /\.armv8\.glibc\.node$/ },
  'linux-armhf': { dir: 'linux-arm', files: /\.armv[67]\.glibc\.node$/ },
  'alpine-x64': { dir: 'linux-x64', files: /\.musl\.node$/ },
  'alpine-arm64': { dir: 'linux-arm64', files: /\.armv8\.musl\.node$/ },
};
const allTargets = ['universal', ...Object.keys(platforms), 'cli'];

function log(msg) {
  console.log(`[package] ${msg}`);
}

function die(msg) {
  console.error(`[package] error: ${msg}`);
  process.exit(1);
}

function parseArgv(argv) {
  let out = path.join(root, 'dist');
  const targets = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') out = path.resolve(argv[++i] ?? die('--out needs a folder'));
    else if (allTargets.includes(argv[i])) targets.push(argv[i]);
    else die(`unknown argument ${argv[i]}; targets: ${allTargets.join(' ')}`);
  }
  return { out, targets: targets.length ? targets : allTargets };
}

/** The package folder of a file inside node_modules. */
function packageDirOf(file) {
  let dir = path.dirname(file);
  while (!fs.existsSync(path.join(dir, 'package.json')) || !dir.includes('node_modules')) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${file}`);
    dir = up;
  }
  return dir;
}

/**
 * The binding's JavaScript as one file plus the licenses of every package in it, in `dir`
 * (which becomes the package folder inside a vsix; prebuilds are added per target).
 */
async function stageBindingJs(dir) {
  const pkgDir = path.dirname(require.resolve(`${bindingName}/package.json`, { paths: [root] }));
  const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
  const result = await esbuild.build({
    entryPoints: [path.join(pkgDir, pkg.main)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: true,
    metafile: true,
    logLevel: 'warning',
    // Same depth as the original dist/index.js: the loader looks for ../prebuilds from here.
    outfile: path.join(dir, 'dist', 'index.js'),
  });
  const packages = new Map();
  for (const input of Object.keys(result.metafile.inputs)) {
    const p = packageDirOf(path.resolve(input));
    if (packages.has(p)) continue;
    const meta = JSON.parse(fs.readFileSync(path.join(p, 'package.json'), 'utf8'));
    const license = fs.readdirSync(p).find((f) => /^licen[cs]e/i.test(f));
    packages.set(p, `${meta.name}@${meta.version} (${meta.license})\n\n${license ? fs.readFileSync(path.join(p, license), 'utf8').trim() : '(no license file)'}\n`);
  }
  fs.writeFileSync(path.join(dir, 'LICENSE'), [...packages.values()].join('\n' + '-'.repeat(72) + '\n\n'));
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify(
      {
        name: pkg.name,
        version: pkg.version,
        description: `${pkg.description}. Packaged for kdap: its JavaScript and dependencies in one file, and the prebuilt binaries of one platform.`,
        license: pkg.license,
        main: 'dist/index.js',
      },
      null,
      2,
    ) + '\n',
  );
  return { pkgDir, bundled: [...packages.keys()].map((p) => path.relative(root, p)) };
}

/** Copies the target's prebuilt binaries next to the bundled JavaScript; returns their names. */
function stagePrebuilds(pkgDir, dir, target) {
  const { dir: sub, files } = platforms[target];
  const from = path.join(pkgDir, 'prebuilds', sub);
  const picked = fs.existsSync(from) ? fs.readdirSync(from).filter((f) => files.test(f)) : [];
  if (picked.length === 0) throw new Error(`${bindingName} has no prebuilt binary for ${target} in ${from}`);
  fs.mkdirSync(path.join(dir, 'prebuilds', sub), { recursive: true });
  for (const f of picked) fs.copyFileSync(path.join(from, f), path.join(dir, 'prebuilds', sub, f));
  return picked.map((f) => `prebuilds/${sub}/${f}`);
}

/**
 * package.json as the vsix carries it, or as npm packs it. `files` picks what the npm tarball
 * holds (the CLI); vsce refuses it next to a .vscodeignore, which picks what the vsix holds.
 */
function writeManifest(stage, kind) {
  const { files: _files, ...vsixManifest } = manifest;
  fs.writeFileSync(path.join(stage, 'package.json'), JSON.stringify(kind === 'vsix' ? vsixManifest : manifest, null, 2) + '\n');
}

/** The files of the extension and the CLI, with production bundles, in a fresh folder. */
async function stageExtension(stage) {
  for (const f of ['README.md', 'CHANGELOG.md', 'LICENSE', '.vscodeignore']) {
    fs.copyFileSync(path.join(root, f), path.join(stage, f));
  }
  for (const d of ['media', 'syntaxes']) fs.cpSync(path.join(root, d), path.join(stage, d), { recursive: true });
  await bundle({ production: true, outdir: path.join(stage, 'dist') });
}

async function vsix(stage, target, file) {
  const { createVSIX } = require('@vscode/vsce');
  // vsce prints the file tree of every package on console.log; one summary line each is
  // enough here (its warnings and errors still show: they go to console.warn/error).
  const info = console.log;
  console.log = () => {};
  try {
    await createVSIX({
      cwd: stage,
      packagePath: file,
      ...(target === 'universal' ? {} : { target }),
      // The bundles hold every runtime dependency; the binding is staged by hand.
      dependencies: false,
      // kdap has no public repository to link to (README links are absolute).
      allowMissingRepository: true,
    });
  } finally {
    console.log = info;
  }
}

function npmPack(stage, out) {
  const r = spawnSync('npm', ['pack', stage, '--ignore-scripts', '--json', '--pack-destination', out], {
    cwd: stage,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`npm pack failed (${r.status ?? r.signal}):\n${r.stderr}`);
  const [info] = JSON.parse(r.stdout);
  return { file: path.join(out, info.filename), files: info.files.map((f) => f.path) };
}

/** `file (size)`, relative to the checkout when inside it. */
function described(file) {
  const rel = path.relative(root, file);
  return `${rel.startsWith('..') ? file : rel} (${(fs.statSync(file).size / 1024).toFixed(0)} KiB)`;
}

async function main() {
  const { out, targets } = parseArgv(process.argv.slice(2));
  fs.mkdirSync(out, { recursive: true });
  const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-package-'));
  try {
    const started = Date.now();
    await stageExtension(stage);
    const bindingDir = path.join(stage, 'dist', 'node_modules', ...bindingName.split('/'));
    const platformTargets = targets.filter((t) => t in platforms);
    let binding;
    if (platformTargets.length) {
      const js = fs.mkdtempSync(path.join(os.tmpdir(), 'kdap-binding-'));
      binding = { js, ...(await stageBindingJs(js)) };
      log(`serial binding bundled from ${binding.bundled.length} packages: ${binding.bundled.map((p) => p.replace(/^.*node_modules\//, '')).join(', ')}`);
    }
    for (const target of targets) {
      fs.rmSync(path.join(stage, 'dist', 'node_modules'), { recursive: true, force: true });
      if (target === 'cli') {
        writeManifest(stage, 'npm');
        const { file, files } = npmPack(stage, out);
        log(`${described(file)}: ${files.join(' ')}`);
        continue;
      }
      writeManifest(stage, 'vsix');
      let binaries = [];
      if (target !== 'universal') {
        fs.cpSync(binding.js, bindingDir, { recursive: true });
        binaries = stagePrebuilds(binding.pkgDir, bindingDir, target);
      }
      const file = path.join(out, target === 'universal' ? 'kdap.vsix' : `kdap-${target}.vsix`);
      await vsix(stage, target, file);
      log(`${described(file)}${binaries.length ? ` with ${binaries.join(', ')}` : ', no serial binding'}`);
    }
    if (binding) fs.rmSync(binding.js, { recursive: true, force: true });
    log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s (${manifest.name} ${manifest.version})`);
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

await main().catch((err) => die(err.stack ?? String(err)));
