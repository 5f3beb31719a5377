/** x86_64 control registers (Intel SDM vol. 3, §2.5; AMD APM vol. 2, §3.1). */
import type { BitField } from '../../sysregs';

const bit = (name: string, shift: number): BitField => ({ name, shift, width: 1 });

export const x86SystemRegisters: Readonly<Record<string, readonly BitField[]>> = {
  cr0: [bit('PE', 0), bit('MP', 1), bit('EM', 2), bit('TS', 3), bit('ET', 4), bit('NE', 5), bit('WP', 16), bit('AM', 18), bit('NW', 29), bit('CD', 30), bit('PG', 31)],
  // With CR4.PCIDE the low 12 bits are the PCID; bit 63 (on write) keeps the TLB. PTI uses bit 12 for the user PGD.
  cr3: [{ name: 'PCID', shift: 0, width: 12 }, { name: 'PDBR', shift: 12, width: 40 }, bit('PTI user PGD (bit 12)', 12)],
  cr4: [
    bit('VME', 0), bit('PVI', 1), bit('TSD', 2), bit('DE', 3), bit('PSE', 4), bit('PAE', 5), bit('MCE', 6), bit('PGE', 7),
    bit('PCE', 8), bit('OSFXSR', 9), bit('OSXMMEXCPT', 10), bit('UMIP', 11), bit('LA57', 12), bit('VMXE', 13), bit('SMXE', 14),
    bit('FSGSBASE', 16), bit('PCIDE', 17), bit('OSXSAVE', 18), bit('SMEP', 20), bit('SMAP', 21), bit('PKE', 22), bit('CET', 23), bit('PKS', 24),
  ],
  efer: [bit('SCE', 0), bit('LME', 8), bit('LMA', 10), bit('NXE', 11), bit('SVME', 12), bit('LMSLE', 13), bit('FFXSR', 14), bit('TCE', 15)],
  eflags: [
    bit('CF', 0), bit('PF', 2), bit('AF', 4), bit('ZF', 6), bit('SF', 7), bit('TF', 8), bit('IF', 9), bit('DF', 10), bit('OF', 11),
    { name: 'IOPL', shift: 12, width: 2 }, bit('NT', 14), bit('RF', 16), bit('VM', 17), bit('AC', 18), bit('VIF', 19), bit('VIP', 20), bit('ID', 21),
  ],
  cs: [{ name: 'RPL', shift: 0, width: 2, values: { 0: 'kernel', 3: 'user' } }, bit('TI', 2), { name: 'index', shift: 3, width: 13 }],
};
