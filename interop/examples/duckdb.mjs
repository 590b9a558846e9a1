// Queries one Parquet shard with DuckDB.
//
//   node examples/duckdb.mjs out/mnist/latest/test-00000-of-00001.parquet
import { DuckDBInstance } from "@duckdb/node-api";

const db = await DuckDBInstance.create();
const con = await db.connect();
const file = process.argv[2];

const stats = await con.runAndReadAll(
  "SELECT count(*) AS n, avg(label) AS avg_label FROM read_parquet($1)", [file]);
const { n, avg_label } = stats.getRowObjectsJS()[0];
console.log(`${n} rows, mean label ${avg_label}`);

// The shard metadata is in the file's key/value metadata (BLOBs).
const kv = await con.runAndReadAll(
  "SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata($1)", [file]);
const meta = Object.fromEntries(kv.getRowObjectsJS().map((r) => [r.key, r.value]));
console.log(`${meta.height}x${meta.width}x${meta.channels} images, mean ${meta.mean}, std ${meta.std}`);

const first = await con.runAndReadAll(
  "SELECT source_index, label, len(image) AS pixels, image[len(image)] AS last FROM read_parquet($1) LIMIT 1", [file]);
const r = first.getRowObjectsJS()[0];
console.log(`row 0: source_index ${r.source_index}, label ${r.label}, ${r.pixels} pixels, last pixel ${r.last}`);
