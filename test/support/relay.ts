/** A TCP relay to a gdbstub whose connections a test can cut, as a network failure would. */
import * as net from 'node:net';

export interface Relay {
  port: number;
  /** Closes the listener and drops every connection through it. */
  cut(): void;
}

export async function relay(port: number): Promise<Relay> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const stub = net.connect(port, '127.0.0.1');
    for (const s of [client, stub]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(stub);
    stub.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut: () => {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
