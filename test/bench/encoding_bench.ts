/**
 * Column codec throughput and size on typical series: `npx tsx test/bench/encoding_bench.ts
 * [--block N] [--ms N] [--json]`. Prints, per series, bytes per value, encode and decode speed in
 * MB/s of input (8 bytes per number; UTF-8 bytes for strings) and in millions of values per
 * second. Data comes from a fixed-seed PRNG so runs are comparable. Times are `performance.now()`:
 * this is a measuring tool outside the system, not logic under test. Not a test.
 */
import { mulberry32 } from '../harness/random.js';
import { performance } from 'node:perf_hooks';
import {
  decodeFloats,
  decodeInts,
  decodeStrings,
  decodeTimestamps,
  encodeFloats,
  encodeInts,
  encodeStrings,
  encodeTimestamps,
  floatCodecOf,
} from '../../storage/encoding/index.js';

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
}

const BLOCK = flag('--block', 8192);
const MEASURE_MS = flag('--ms', 400);
const JSON_OUT = process.argv.includes('--json');

interface Series {
  name: string;
  inputBytes: number;
  encode: () => Uint8Array;
  decode: (buf: Uint8Array) => unknown;
  codec?: (buf: Uint8Array) => string;
}

const rng = mulberry32(1);
const T0 = 1_700_000_000_000;
const FLOAT_CODECS = ['constant', 'decimal', 'gorilla', 'raw', 'packed'];

function floats(name: string, values: Float64Array): Series {
  return {
    name,
    inputBytes: values.byteLength,
    encode: () => encodeFloats(values),
    decode: (b) => decodeFloats(b, values.length),
    codec: (b) => FLOAT_CODECS[floatCodecOf(b) ?? 0]!,
  };
}

/** A numeric series with its codec pair. */
function numbers(
  name: string,
  values: Float64Array,
  enc: (v: Float64Array) => Uint8Array,
  dec: (b: Uint8Array, n: number) => unknown,
): Series {
  return { name, inputBytes: values.byteLength, encode: () => enc(values), decode: (b) => dec(b, values.length) };
}

const gen = (f: (i: number) => number): Float64Array => Float64Array.from({ length: BLOCK }, (_, i) => f(i));
let level = Math.fround(21.5);
const sensor = gen((i) => (i % 4 === 0 ? (level = Math.fround(21.5 + Math.sin(i / 100) + rng() * 0.01)) : level));
const noise = gen(() => (rng() - 0.5 + rng() / 2 ** 32) * 10 ** Math.floor(rng() * 20 - 10));
const hosts = ['web-1', 'web-2', 'db-primary', 'db-replica', 'cache-eu-west-1'];
const hostCol = Array.from({ length: BLOCK }, () => hosts[Math.floor(rng() * hosts.length)]!);

const SERIES: Series[] = [
  numbers(
    'timestamps, regular 10 s',
    gen((i) => T0 + i * 10_000),
    encodeTimestamps,
    decodeTimestamps,
  ),
  numbers(
    'timestamps, ±10 ms jitter',
    gen((i) => T0 + i * 10_000 + Math.floor(rng() * 21) - 10),
    encodeTimestamps,
    decodeTimestamps,
  ),
  floats(
    'floats, random 2-decimal [0, 100)',
    gen(() => Math.floor(rng() * 10_000) / 100),
  ),
  floats('floats, float32 sensor, slow', sensor),
  floats('floats, full-precision noise', noise),
  floats('floats, constant', new Float64Array(BLOCK).fill(1.5)),
  numbers(
    'ints, counter',
    gen((i) => 5_000_000 + i * 17 + Math.floor(rng() * 3)),
    encodeInts,
    decodeInts,
  ),
  {
    name: 'strings, 5 hosts shuffled',
    inputBytes: hostCol.reduce((s, h) => s + h.length, 0),
    encode: () => encodeStrings(hostCol),
    decode: (b) => decodeStrings(b, BLOCK),
  },
];

/** Runs `fn` repeatedly for about MEASURE_MS after a short warm-up; returns calls per second. */
function rate(fn: () => unknown): number {
  const warmEnd = performance.now() + MEASURE_MS / 4;
  while (performance.now() < warmEnd) fn();
  let calls = 0;
  const start = performance.now();
  let now = start;
  while (now - start < MEASURE_MS) {
    for (let k = 0; k < 4; k++) fn();
    calls += 4;
    now = performance.now();
  }
  return calls / ((now - start) / 1000);
}

const rows = SERIES.map((s) => {
  const buf = s.encode();
  const enc = rate(s.encode);
  const dec = rate(() => s.decode(buf));
  return {
    series: s.name,
    codec: s.codec?.(buf) ?? '',
    bytes_per_value: Number((buf.length / BLOCK).toFixed(3)),
    encode_mb_s: Number(((enc * s.inputBytes) / 1e6).toFixed(1)),
    decode_mb_s: Number(((dec * s.inputBytes) / 1e6).toFixed(1)),
    encode_mvalues_s: Number(((enc * BLOCK) / 1e6).toFixed(1)),
    decode_mvalues_s: Number(((dec * BLOCK) / 1e6).toFixed(1)),
  };
});

if (JSON_OUT) {
  console.log(JSON.stringify({ block: BLOCK, node: process.version, rows }, null, 2));
} else {
  console.log(`block of ${BLOCK} values, node ${process.version}`);
  console.table(rows);
}
