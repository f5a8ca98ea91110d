import net from 'node:net';

/**
 * n distinct free loopback ports. All are held open at once before any is released: asked one at a time, the
 * kernel may hand a just-released port out again, and two servers of one test would meet on it.
 */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => resolve(s)); })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export const freePort = async (): Promise<number> => (await freePorts(1))[0];
