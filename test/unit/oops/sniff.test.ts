/**
 * Telling a kernel log from other text by its head, as the extension does for `*.log`/`*.txt`
 * files: every crash log of the fixtures is one (public captures, serial consoles, journalctl
 * and syslog pastes), the project's own sources and documents are not, and neither are other
 * programs' logs that merely contain `WARNING:` lines or bracketed timestamps.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { looksLikeKernelLog } from '../../../src/oops/sniff';
import { logsDir, repoRoot } from './helpers';

function files(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe('looksLikeKernelLog', () => {
  it('every fixture log is a kernel log', () => {
    const logs = files(logsDir).filter((f) => f.endsWith('.log'));
    assert.ok(logs.length >= 30);
    for (const f of logs) assert.ok(looksLikeKernelLog(fs.readFileSync(f, 'utf8')), path.relative(logsDir, f));
  });

  it('sources, manifests and documents are not', () => {
    const others = ['package.json', 'README.md', 'CHANGELOG.md', 'src/oops/parse.ts', 'src/oops/headers.ts', 'test/fixtures/logs/README.md'];
    for (const f of others) assert.ok(!looksLikeKernelLog(fs.readFileSync(path.join(repoRoot, f), 'utf8')), f);
  });

  it("other programs' logs are not", () => {
    const xorg = ['[    18.845] (II) Loading /usr/lib/xorg/modules/libglx.so', '[    18.846] (II) Module glx: vendor="X.Org Foundation"', '[    18.846] \tcompiled for 1.21.1.7, module version = 1.0.0', '[    18.850] (WW) warning, (EE) error'].join('\n');
    const build = ['WARNING: Retrying (Retry(total=4)) after connection broken', 'Collecting requests', 'WARNING: Running pip as root', 'BUG: see https://example.org', 'done'].join('\n');
    const journal = ['Jan 02 03:04:05 host systemd[1]: Started Session 1 of User root.', 'Jan 02 03:04:06 host sshd[812]: Accepted publickey for root', 'Jan 02 03:04:07 host systemd[1]: Starting Cleanup…'].join('\n');
    for (const t of [xorg, build, journal, '', 'one line']) assert.equal(looksLikeKernelLog(t), false, t.slice(0, 40));
  });

  it('a quiet `journalctl -k` or dmesg without a crash is', () => {
    const k = ['Jan 02 03:04:05 host kernel: Linux version 6.1.0-13-amd64', 'Jan 02 03:04:05 host kernel: Command line: BOOT_IMAGE=/vmlinuz', 'Jan 02 03:04:05 host kernel: x86/fpu: Supporting XSAVE feature 0x001'].join('\n');
    const d = ['[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x411fd070]', '[    0.000000] Machine model: linux,dummy-virt', '[    0.000000] efi: UEFI not found.'].join('\n');
    assert.ok(looksLikeKernelLog(k));
    assert.ok(looksLikeKernelLog(d));
  });
});
