// nodejs-polars reads every shard (IPC and Parquet) with the Go reader's rows.
//
// nodejs-polars DataFrames carry no schema-level metadata, so the shard
// metadata (height, width, mean, std, ...) is checked with arrow-js and
// DuckDB instead.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import pl from "nodejs-polars";
import { abs, checkShard, datasetNamed, elemsOf, expectations } from "../lib/expectations.mjs";

function checkFrame(df, e, meta, where) {
  const pixelType = meta.dtype === "float32" ? pl.Float32 : pl.UInt8;
  assert.deepEqual(df.columns, ["source_index", "label", "copy", "image"], `${where}: columns`);
  const want = [pl.UInt64, pl.UInt8, pl.UInt16, pl.FixedSizeList(pixelType, elemsOf(meta))];
  df.dtypes.forEach((dt, i) => assert.ok(dt.equals(want[i]), `${where}: column ${df.columns[i]} is ${dt}, want ${want[i]}`));

  const elems = elemsOf(meta);
  const pixels = df.getColumn("image").explode().toTypedArray();
  assert.ok(pixels instanceof (meta.dtype === "float32" ? Float32Array : Uint8Array), `${where}: pixels are ${pixels.constructor.name}`);
  checkShard({
    rows: df.height,
    label: df.getColumn("label").toTypedArray(),
    copy: df.getColumn("copy").toTypedArray(),
    sourceIndex: df.getColumn("source_index").toTypedArray(),
    pixels,
    row: (i) => {
      const [sourceIndex, label, copy] = df.row(i);
      const img = df.slice(i, 1).getColumn("image").explode().toTypedArray();
      return { sourceIndex, label, copy, pixels: img };
    },
  }, e, meta, where);
}

describe("nodejs-polars readIPC", () => {
  for (const d of expectations.datasets) {
    for (const e of d.shards) {
      test(`${d.name}/${e.path}`, () => {
        const df = pl.readIPC(readFileSync(path.join(abs(d.dir), e.path)));
        checkFrame(df, e, d.meta, `${d.name}/${e.path}`);
      });
    }
  }
});

describe("nodejs-polars readParquet", () => {
  for (const p of expectations.parquet) {
    test(p.shard.path, () => {
      const df = pl.readParquet(readFileSync(abs(p.shard.path)));
      checkFrame(df, p.shard, datasetNamed(p.dataset).meta, p.shard.path);
    });
  }
});
