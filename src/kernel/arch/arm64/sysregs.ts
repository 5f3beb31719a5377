/** arm64 system registers as QEMU's gdbstub names them (Arm ARM D19; names are case-sensitive). */
import type { BitField } from '../../sysregs';

const bit = (name: string, shift: number): BitField => ({ name, shift, width: 1 });
const granule0 = { 0: '4K', 1: '64K', 2: '16K' };
const granule1 = { 1: '16K', 2: '4K', 3: '64K' };
const pa = { 0: '32-bit', 1: '36-bit', 2: '40-bit', 3: '42-bit', 4: '44-bit', 5: '48-bit', 6: '52-bit' };

export const arm64SystemRegisters: Readonly<Record<string, readonly BitField[]>> = {
  cpsr: [
    { name: 'M', shift: 0, width: 4, values: { 0: 'EL0t', 4: 'EL1t', 5: 'EL1h', 8: 'EL2t', 9: 'EL2h' } },
    { name: 'EL', shift: 2, width: 2, values: { 0: 'EL0 (user)', 1: 'EL1 (kernel)', 2: 'EL2', 3: 'EL3' } },
    bit('F', 6), bit('I', 7), bit('A', 8), bit('D', 9), bit('BTYPE0', 10), bit('SSBS', 12), bit('ALLINT', 13),
    bit('IL', 20), bit('SS', 21), bit('PAN', 22), bit('UAO', 23), bit('DIT', 24), bit('TCO', 25), bit('V', 28), bit('C', 29), bit('Z', 30), bit('N', 31),
  ],
  TCR_EL1: [
    { name: 'T0SZ', shift: 0, width: 6 }, bit('EPD0', 7), { name: 'IRGN0', shift: 8, width: 2 }, { name: 'ORGN0', shift: 10, width: 2 },
    { name: 'SH0', shift: 12, width: 2 }, { name: 'TG0', shift: 14, width: 2, values: granule0 },
    { name: 'T1SZ', shift: 16, width: 6 }, bit('A1', 22), bit('EPD1', 23), { name: 'IRGN1', shift: 24, width: 2 }, { name: 'ORGN1', shift: 26, width: 2 },
    { name: 'SH1', shift: 28, width: 2 }, { name: 'TG1', shift: 30, width: 2, values: granule1 }, { name: 'IPS', shift: 32, width: 3, values: pa },
    bit('AS', 36), bit('TBI0', 37), bit('TBI1', 38), bit('HA', 39), bit('HD', 40), bit('HPD0', 41), bit('HPD1', 42),
    bit('E0PD0', 55), bit('E0PD1', 56), bit('TCMA0', 57), bit('TCMA1', 58), bit('DS', 59),
  ],
  SCTLR: [
    bit('M', 0), bit('A', 1), bit('C', 2), bit('SA', 3), bit('SA0', 4), bit('CP15BEN', 5), bit('nAA', 6), bit('ITD', 7), bit('SED', 8),
    bit('UMA', 9), bit('EnRCTX', 10), bit('EOS', 11), bit('I', 12), bit('EnDB', 13), bit('DZE', 14), bit('UCT', 15), bit('nTWI', 16),
    bit('nTWE', 18), bit('WXN', 19), bit('TSCXT', 20), bit('IESB', 21), bit('EIS', 22), bit('SPAN', 23), bit('E0E', 24), bit('EE', 25),
    bit('UCI', 26), bit('EnDA', 27), bit('nTLSMD', 28), bit('LSMAOE', 29), bit('EnIB', 30), bit('EnIA', 31), bit('BT0', 35), bit('BT1', 36),
    { name: 'TCF0', shift: 38, width: 2 }, { name: 'TCF', shift: 40, width: 2 }, bit('ATA0', 42), bit('ATA', 43), bit('DSSBS', 44),
  ],
  ESR_EL1: [
    { name: 'ISS', shift: 0, width: 25 }, bit('IL', 25),
    {
      name: 'EC', shift: 26, width: 6,
      values: {
        0x00: 'unknown', 0x01: 'WFI/WFE', 0x07: 'SVE/SIMD/FP access', 0x0e: 'illegal execution state', 0x15: 'SVC (AArch64)',
        0x18: 'MSR/MRS trap', 0x20: 'instruction abort from EL0', 0x21: 'instruction abort from EL1', 0x22: 'PC alignment',
        0x24: 'data abort from EL0', 0x25: 'data abort from EL1', 0x26: 'SP alignment', 0x2c: 'FP exception', 0x2f: 'SError',
        0x30: 'breakpoint from EL0', 0x31: 'breakpoint from EL1', 0x32: 'software step from EL0', 0x33: 'software step from EL1',
        0x34: 'watchpoint from EL0', 0x35: 'watchpoint from EL1', 0x3c: 'BRK', 
      },
    },
    { name: 'DFSC/IFSC', shift: 0, width: 6, values: { 0x04: 'translation fault L0', 0x05: 'translation fault L1', 0x06: 'translation fault L2', 0x07: 'translation fault L3', 0x09: 'access flag fault L1', 0x0a: 'access flag fault L2', 0x0b: 'access flag fault L3', 0x0d: 'permission fault L1', 0x0e: 'permission fault L2', 0x0f: 'permission fault L3', 0x10: 'synchronous external abort', 0x21: 'alignment fault' } },
    bit('WnR', 6),
  ],
};
