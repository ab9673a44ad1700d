// The deterministic test data of protocol.md §3.3: byte i is i % 251.
export function pattern(length: number, offset = 0): Buffer {
  const buf = Buffer.allocUnsafe(length);
  // Fill one period, then double it: fast even for hundreds of MiB.
  const first = Math.min(length, 251);
  for (let i = 0; i < first; i++) buf[i] = (offset + i) % 251;
  let filled = first;
  while (filled < length) {
    const n = Math.min(filled - (filled % 251), length - filled);
    buf.copy(buf, filled, 0, n);
    filled += n;
  }
  return buf;
}
