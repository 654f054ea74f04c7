// Trims the Wasm "name" section of the Worker bundle in place: `node workers/trim-names.mjs FILE`.
//
// worker-build keeps the name section (wasm-opt --debuginfo) so that stack traces in Cloudflare's
// logs name Rust functions. Those names carry rustc's hashes (`…::h0123456789abcdef`, and
// `core[0123456789abcdef]::…` for std), 16 hex digits each that gzip cannot shrink: they were 55
// KiB of the bundle's gzip size (name section 119 KiB gzip with them, 50 KiB without; measured on
// the 1010 KiB bundle of 2026-12-02). This keeps every function name, minus the hashes, and drops
// the data-segment names (".rodata.158"), which no stack trace shows. Code and data are untouched.
import { readFileSync, writeFileSync } from "node:fs";

const file = process.argv[2];
if (!file) {
  console.error("usage: node workers/trim-names.mjs FILE.wasm");
  process.exit(2);
}
const wasm = readFileSync(file);
if (wasm.readUInt32LE(0) !== 0x6d736100) {
  console.error(`${file}: not a Wasm module`);
  process.exit(1);
}

function readU32(buf, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[pos++];
    if (byte === undefined || shift > 28) throw new Error("bad LEB128 in name section");
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, pos];
  }
}

function u32(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return Buffer.from(out);
}

const withLength = (bytes) => Buffer.concat([u32(bytes.length), bytes]);

// Function names subsection (id 1): a vector of (index, name).
function trimFunctionNames(sub) {
  let [count, pos] = readU32(sub, 0);
  const parts = [u32(count)];
  for (let i = 0; i < count; i++) {
    let index, len;
    [index, pos] = readU32(sub, pos);
    [len, pos] = readU32(sub, pos);
    const name = sub
      .subarray(pos, pos + len)
      .toString("utf8")
      .replace(/::h[0-9a-f]{16}(?=$|::|[^0-9A-Za-z_])/g, "")
      .replace(/\[[0-9a-f]{16}\]/g, "");
    pos += len;
    parts.push(u32(index), withLength(Buffer.from(name, "utf8")));
  }
  return Buffer.concat(parts);
}

function trimNameSection(body, nameEnd) {
  const parts = [body.subarray(0, nameEnd)];
  let pos = nameEnd;
  while (pos < body.length) {
    const id = body[pos];
    let size;
    [size, pos] = readU32(body, pos + 1);
    const sub = body.subarray(pos, pos + size);
    pos += size;
    if (id === 9) continue; // data segment names
    const out = id === 1 ? trimFunctionNames(sub) : sub;
    parts.push(Buffer.from([id]), withLength(out));
  }
  return Buffer.concat(parts);
}

const out = [wasm.subarray(0, 8)];
let pos = 8;
let trimmed = false;
while (pos < wasm.length) {
  const start = pos;
  const id = wasm[pos];
  let size;
  [size, pos] = readU32(wasm, pos + 1);
  const body = wasm.subarray(pos, pos + size);
  pos += size;
  if (id === 0) {
    const [nameLen, nameStart] = readU32(body, 0);
    if (body.subarray(nameStart, nameStart + nameLen).toString() === "name") {
      out.push(Buffer.from([0]), withLength(trimNameSection(body, nameStart + nameLen)));
      trimmed = true;
      continue;
    }
  }
  out.push(wasm.subarray(start, pos));
}
const result = Buffer.concat(out);
writeFileSync(file, result);
console.log(`trim-names: ${file} ${wasm.length} -> ${result.length} bytes${trimmed ? "" : " (no name section)"}`);
