/**
 * The telnet layer of a `telnet:HOST:PORT` line (QEMU `-serial telnet:…,server`, ser2net in
 * telnet mode): strips the server's IAC commands from what it sends, doubles 0xff in what we
 * send, and encodes BREAK (IAC BRK), which QEMU turns into a break condition on the emulated UART
 * (8250 LSR.BI, PL011 DR.BE) and Linux, on the console port, into "the next key is a SysRq".
 * No option is negotiated: the servers above send data without it.
 */
const IAC = 0xff;
const SB = 0xfa;
const SE = 0xf0;
const BRK = 0xf3;
const WILL = 0xfb;
const DONT = 0xfe;

export const TELNET_BREAK = Buffer.from([IAC, BRK]);

/** 0xff in data must go as IAC IAC. */
export function telnetEscape(data: Uint8Array): Buffer {
  if (!data.includes(IAC)) return Buffer.from(data);
  const out: number[] = [];
  for (const b of data) {
    out.push(b);
    if (b === IAC) out.push(IAC);
  }
  return Buffer.from(out);
}

/** Removes telnet commands from a byte stream that may cut them anywhere. */
export class TelnetDecoder {
  private state: 'data' | 'iac' | 'option' | 'sb' | 'sb-iac' = 'data';

  feed(chunk: Uint8Array): Buffer {
    const out: number[] = [];
    for (const b of chunk) {
      switch (this.state) {
        case 'data':
          if (b === IAC) this.state = 'iac';
          else out.push(b);
          break;
        case 'iac':
          if (b === IAC) {
            out.push(IAC);
            this.state = 'data';
          } else if (b >= WILL && b <= DONT) this.state = 'option';
          else if (b === SB) this.state = 'sb';
          else this.state = 'data'; // NOP, GA, DM, BRK…: no argument
          break;
        case 'option':
          this.state = 'data';
          break;
        case 'sb':
          if (b === IAC) this.state = 'sb-iac';
          break;
        case 'sb-iac':
          this.state = b === SE ? 'data' : 'sb';
          break;
      }
    }
    return Buffer.from(out);
  }
}
