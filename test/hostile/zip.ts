/**
 * A hand-rolled zip writer for hostile archives: every header field the reader trusts (sizes, CRC)
 * can be set to a lie. Only stored (0) and deflate (8) members, no zip64 — enough for the tests.
 */
import zlib from 'node:zlib';

export interface HostileMember {
  name: string;
  /** The member's real content (compressed here unless `deflated` is given). */
  data?: Uint8Array;
  /** Raw deflate bytes to store as-is (method 8), for payloads too large to hold uncompressed. */
  deflated?: Uint8Array;
  method?: 0 | 8;
  /** Uncompressed size written in both headers (default: the real one). */
  declaredSize?: number;
  /** CRC-32 written in both headers (default: the real one). */
  crc?: number;
}

export function buildZip(members: HostileMember[]): Uint8Array {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    const name = Buffer.from(m.name, 'utf8');
    const method = m.deflated ? 8 : (m.method ?? 8);
    const raw = m.data ?? new Uint8Array(0);
    const body = m.deflated ?? (method === 8 ? zlib.deflateRawSync(raw) : Buffer.from(raw));
    const size = m.declaredSize ?? raw.length;
    const crc = m.crc ?? zlib.crc32(raw);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(method, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(size >>> 0, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(method, 10);
    central.writeUInt32LE(crc >>> 0, 16);
    central.writeUInt32LE(body.length, 20);
    central.writeUInt32LE(size >>> 0, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, Buffer.from(body));
    centrals.push(central, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return new Uint8Array(Buffer.concat([...locals, cd, end]));
}

/** Raw deflate of `mib` MiB of zeros, streamed 1 MiB at a time (never holds the whole payload). */
export async function deflatedZeros(mib: number): Promise<Uint8Array> {
  const d = zlib.createDeflateRaw({ level: 9 });
  const chunks: Buffer[] = [];
  d.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((resolve, reject) => {
    d.on('end', resolve);
    d.on('error', reject);
  });
  const zeros = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < mib; i++) {
    if (!d.write(zeros)) await new Promise((r) => d.once('drain', r));
  }
  d.end();
  await done;
  return new Uint8Array(Buffer.concat(chunks));
}
