/** Named bit fields of system registers, for decoding a raw value into something readable. */
export interface BitField {
  name: string;
  /** Lowest bit of the field. */
  shift: number;
  width: number;
  /** Names of the field's values, when they have names. */
  values?: Readonly<Record<number, string>>;
}

export interface DecodedField {
  name: string;
  value: bigint;
  text: string;
}

export function fieldValue(raw: bigint, f: BitField): bigint {
  return (raw >> BigInt(f.shift)) & ((1n << BigInt(f.width)) - 1n);
}

export function decodeFields(raw: bigint, fields: readonly BitField[]): DecodedField[] {
  return fields.map((f) => {
    const value = fieldValue(raw, f);
    const named = f.values?.[Number(value)];
    const text = f.width === 1 ? (value ? '1' : '0') : named ? `${named} (0x${value.toString(16)})` : `0x${value.toString(16)}`;
    return { name: f.name, value, text };
  });
}

/** The one-line summary gdb users know: names of the single-bit flags that are set. */
export function setFlags(raw: bigint, fields: readonly BitField[]): string[] {
  return fields.filter((f) => f.width === 1 && fieldValue(raw, f) === 1n).map((f) => f.name);
}
