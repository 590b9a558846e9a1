// Apache Arrow JS reads every zstd and uncompressed shard, with fzstd as the
// zstd codec, and sees the Go reader's schema, metadata and rows. It has no
// LZ4 frame codec of its own: of lz4 shards it reads the schema and
// metadata, and the record batches only with a codec the user registers.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { CompressionType, RecordBatchReader, compressionRegistry, tableFromIPC } from "apache-arrow";
import { decompress } from "fzstd";
import { abs, checkMetadata, checkShard, elemsOf, expectations } from "../lib/expectations.mjs";

compressionRegistry.set(CompressionType.ZSTD, { decode: (data) => decompress(data).slice() });

// The image column's pixels, row-major, from every record batch.
function flatPixels(table, elems, Typed) {
  const out = new Typed(table.numRows * elems);
  let at = 0;
  for (const data of table.getChild("image").data) {
    const child = data.children[0];
    const from = (child.offset + data.offset * elems);
    out.set(child.values.subarray(from, from + data.length * elems), at);
    at += data.length * elems;
  }
  assert.equal(at, out.length, "image values");
  return out;
}

describe("apache-arrow tableFromIPC", () => {
  for (const d of expectations.datasets) {
    for (const e of d.shards) {
      const where = `${d.name}/${e.path}`;
      test(where, () => {
        const bytes = readFileSync(path.join(abs(d.dir), e.path));
        const elems = elemsOf(d.meta);
        const pixel = d.meta.dtype === "float32" ? "Float32" : "Uint8";
        const reader = RecordBatchReader.from(bytes).open();
        assert.ok(reader.isFile(), `${where}: not read as an IPC file`);
        assert.deepEqual(
          reader.schema.fields.map((f) => [f.name, String(f.type), f.nullable]),
          [["source_index", "Uint64", false], ["label", "Uint8", false], ["copy", "Uint16", false],
            ["image", `FixedSizeList[${elems}]<${pixel}>`, false]],
          `${where}: schema`);
        assert.equal(reader.numRecordBatches, e.batches, `${where}: record batches in the footer`);
        checkMetadata(reader.schema.metadata, d.meta, e.split, where);
        if (d.compression === "lz4") {
          assert.throws(() => tableFromIPC(bytes), /compressed but codec not found/);
          return;
        }

        const table = tableFromIPC(bytes);
        assert.equal(table.batches.length, e.batches, `${where}: record batches`);

        const Typed = d.meta.dtype === "float32" ? Float32Array : Uint8Array;
        checkShard({
          rows: table.numRows,
          label: table.getChild("label").toArray(),
          copy: table.getChild("copy").toArray(),
          sourceIndex: table.getChild("source_index").toArray(),
          pixels: flatPixels(table, elems, Typed),
          row: (i) => {
            const r = table.get(i);
            return { sourceIndex: r.source_index, label: r.label, copy: r.copy, pixels: r.image.toArray() };
          },
        }, e, d.meta, where);
      });
    }
  }
});
