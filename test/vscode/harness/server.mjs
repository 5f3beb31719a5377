// The VS Code server (code-server's bundled lib/vscode/out/server-main.js), one per part, in its
// own process group, and the kdap.vsix installed into its profile the way a user installs it.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cleanups, findFiles, freePort, log, serverMain, sleep, tail, tmp, vsix } from './context.mjs';

/** Settings of a window that should look and behave the same on every run. */
function userSettings({ trust }) {
  return {
    'workbench.startupEditor': 'none',
    'workbench.tips.enabled': false,
    'workbench.enableExperiments': false,
    'remote.autoForwardPorts': false,
    'extensions.autoCheckUpdates': false,
    'extensions.autoUpdate': false,
    'extensions.ignoreRecommendations': true,
    'telemetry.telemetryLevel': 'off',
    // With trust on, a folder opens in Restricted Mode without the startup question.
    'security.workspace.trust.enabled': trust,
    'security.workspace.trust.startupPrompt': 'never',
    'update.mode': 'none',
    'git.enabled': false,
    'chat.commandCenter.enabled': false,
    'workbench.colorTheme': 'Default Dark Modern',
    // The DOM renderer puts terminal text in the page, where a scenario can read it.
    'terminal.integrated.gpuAcceleration': 'off',
  };
}

function writeUserSettings(userDataDir, options) {
  for (const dir of [path.join(userDataDir, 'User'), path.join(userDataDir, 'data', 'User')]) {
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'settings.json'), JSON.stringify(userSettings(options), null, 2));
  }
}

/**
 * Starts a server. `trust: true` keeps VS Code's workspace trust on (folders are untrusted until
 * the user says otherwise); every other part runs with it off, as a trusted window. The smoke-test
 * driver (which makes the workbench honour a test `payload`) also makes it refuse every modal
 * dialog, the trust question included: a part that must see one runs without it.
 */
export async function startServer(name, { env = {}, trust = false, smokeTestDriver = true } = {}) {
  const dir = path.join(tmp, name);
  const dirs = { sd: path.join(dir, 'server-data'), ud: path.join(dir, 'user-data'), ext: path.join(dir, 'extensions') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  writeUserSettings(dirs.ud, { trust });
  writeUserSettings(path.join(dirs.sd, 'data'), { trust });
  const port = await freePort();
  const logFile = path.join(dir, 'server.log');
  const out = fs.openSync(logFile, 'a');
  const common = ['--server-data-dir', dirs.sd, '--user-data-dir', dirs.ud, '--extensions-dir', dirs.ext];
  const serverEnv = {
    ...process.env,
    XDG_CONFIG_HOME: path.join(dir, 'xdg-config'),
    XDG_DATA_HOME: path.join(dir, 'xdg-data'),
    XDG_CACHE_HOME: path.join(dir, 'xdg-cache'),
    VSCODE_CLI: undefined,
    ELECTRON_RUN_AS_NODE: undefined,
    ...env,
  };
  const args = [
    serverMain,
    '--host', '127.0.0.1',
    '--port', String(port),
    '--without-connection-token',
    '--accept-server-license-terms',
    ...(smokeTestDriver ? ['--enable-smoke-test-driver'] : []),
    '--telemetry-level', 'off',
    ...(trust ? [] : ['--disable-workspace-trust']),
    ...common,
  ];
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out, out], env: serverEnv });
  fs.closeSync(out);
  const server = { name, port, child, logFile, dirs, common, url: `http://127.0.0.1:${port}`, exited: false };
  child.on('exit', () => (server.exited = true));
  cleanups.push(() => killGroup(child, `server ${name}`));
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (server.exited) throw new Error(`VS Code server ${name} exited at start:\n${tail(logFile)}`);
    try {
      const r = await fetch(server.url + '/', { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`VS Code server ${name} did not answer within 30 s:\n${tail(logFile)}`);
    await sleep(200);
  }
  log(`server ${name} listening on ${server.url} (pid ${child.pid})`);
  return server;
}

export async function killGroup(child, what) {
  if (child.exitCode !== null || child.signalCode !== null) {
    try {
      process.kill(-child.pid, 'SIGKILL'); // forked children (extension host) may outlive it
    } catch {
      // group already gone
    }
    return;
  }
  const exited = new Promise((r) => child.once('exit', r));
  try {
    process.kill(-child.pid, 'SIGTERM');
  } catch {
    return;
  }
  const clean = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // group already gone
  }
  if (!clean) log(`${what} needed SIGKILL`);
}

/** Installs dist/kdap.vsix (or `file`, a platform vsix) with the server's own CLI into that server's extensions dir. */
export function installVsix(server, file = vsix) {
  const r = spawnSync(process.execPath, [serverMain, '--install-extension', file, '--accept-server-license-terms', ...server.common], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, XDG_CONFIG_HOME: path.join(tmp, 'xdg-config') },
  });
  if (r.status !== 0 || !/successfully installed/i.test(r.stdout)) {
    throw new Error(`installing ${file} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  }
  const installed = fs.readdirSync(server.dirs.ext).filter((d) => d.startsWith('kdap.kdap-'));
  if (installed.length !== 1) throw new Error(`after installing ${file}, ${server.dirs.ext} holds ${JSON.stringify(installed)}`);
  return path.join(server.dirs.ext, installed[0]);
}

export function printDiagnostics(server, browser) {
  if (server) {
    console.log(`---- ${server.name}: server log (tail) ----\n${tail(server.logFile)}`);
    for (const f of findFiles(server.dirs.sd, /^(remoteagent|exthost|remoteexthost)\.log$/).slice(0, 3)) {
      console.log(`---- ${path.relative(tmp, f)} (tail) ----\n${tail(f, 30)}`);
    }
  }
  if (browser) console.log(`---- browser console (tail) ----\n${tail(browser.consoleLog, 30)}`);
}
