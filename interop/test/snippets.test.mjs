// The README's Node snippets (examples/*.mjs) run and print what the Go
// reader sees in the snippet shard.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { abs, datasetNamed, elemsOf, expectations } from "../lib/expectations.mjs";

const examples = fileURLToPath(new URL("../examples/", import.meta.url));
const run = async (name, file) => (await promisify(execFile)(process.execPath, [examples + name, file], { encoding: "utf8" })).stdout;

describe("README snippets", { concurrency: true }, () => {
  const s = expectations.snippet;
  const d = datasetNamed(s.dataset);
  const meta = d.meta;
  const elems = elemsOf(meta);
  const shard = d.shards.find((e) => `${d.dir}/${e.path}` === s.arrow);
  assert.ok(shard, `snippet shard ${s.arrow} has no expectations`);
  const row0 = shard.checks.find((c) => c.row === 0);
  const last = row0.pixels.find((p) => p.i === elems - 1).v;
  const pq = expectations.parquet.find((p) => p.shard.path === s.parquet);
  assert.ok(pq, `snippet Parquet file ${s.parquet} has no expectations`);

  test("examples/polars.mjs", async () => {
    assert.equal(await run("polars.mjs", abs(s.arrow)),
      `${shard.rows} rows: source_index, label, copy, image\n` +
      `row 0: source_index ${row0.source_index}, label ${row0.label}, ${elems} pixels, last pixel ${last}\n`);
  });

  test("examples/arrow.mjs", async () => {
    assert.equal(await run("arrow.mjs", abs(s.arrow)),
      `${shard.rows} rows in ${shard.batches} batches; ${meta.height}x${meta.width}x${meta.channels} images, ` +
      `normalize ${meta.normalize} (mean ${meta.mean}, std ${meta.std})\n` +
      `row 0: source_index ${row0.source_index}, class "${meta.classes[row0.label]}", ${elems} pixels, last pixel ${last}\n`);
  });

  test("examples/duckdb.mjs", async () => {
    assert.equal(await run("duckdb.mjs", abs(s.parquet)),
      `${pq.shard.rows} rows, mean label ${pq.avg_label}\n` +
      `${meta.height}x${meta.width}x${meta.channels} images, mean ${meta.mean}, std ${meta.std}\n` +
      `row 0: source_index ${row0.source_index}, label ${row0.label}, ${elems} pixels, last pixel ${last}\n`);
  });
});
