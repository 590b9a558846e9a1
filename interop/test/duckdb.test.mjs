// DuckDB reads every Parquet shard: counts, averages, metadata and pixels
// match the Go reader's.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DuckDBInstance } from "@duckdb/node-api";
import { abs, checkMetadata, datasetNamed, elemsOf, expectations } from "../lib/expectations.mjs";

const codecName = { zstd: "ZSTD", lz4: "LZ4_RAW", none: "UNCOMPRESSED" };

describe("DuckDB read_parquet", () => {
  let db, con;
  before(async () => {
    db = await DuckDBInstance.create(":memory:");
    con = await db.connect();
  });
  after(() => {
    con.closeSync();
    db.closeSync();
  });
  const rows = async (sql, ...params) => (await con.runAndReadAll(sql, params)).getRowObjectsJS();

  for (const p of expectations.parquet) {
    test(p.shard.path, async () => {
      const file = abs(p.shard.path);
      const e = p.shard;
      const meta = datasetNamed(p.dataset).meta;
      const where = p.shard.path;

      const [agg] = await rows(
        `SELECT count(*) AS n, avg(label) AS avg_label, sum(label) AS labels, sum(copy) AS copies,
                sum(source_index)::VARCHAR AS sources
           FROM read_parquet($1)`, file);
      assert.equal(agg.n, BigInt(e.rows), `${where}: count(*)`);
      assert.equal(agg.avg_label, e.rows ? p.avg_label : null, `${where}: avg(label)`);
      assert.equal(agg.labels ?? 0n, BigInt(e.label_sum), `${where}: sum(label)`);
      assert.equal(agg.copies ?? 0n, BigInt(e.copy_sum), `${where}: sum(copy)`);
      assert.equal(agg.sources ?? "0", e.source_index_sum, `${where}: sum(source_index)`);

      const types = await rows("SELECT column_name AS name, column_type AS type FROM (DESCRIBE SELECT * FROM read_parquet($1))", file);
      const pixel = meta.dtype === "float32" ? "FLOAT" : "UTINYINT";
      assert.deepEqual(types.map((t) => [t.name, t.type]),
        [["source_index", "UBIGINT"], ["label", "UTINYINT"], ["copy", "USMALLINT"], ["image", `${pixel}[]`]], `${where}: column types`);

      const kv = await rows("SELECT decode(key) AS key, decode(value) AS value FROM parquet_kv_metadata($1)", file);
      checkMetadata(Object.fromEntries(kv.map((r) => [r.key, r.value])), meta, e.split, where);

      const chunks = await rows("SELECT DISTINCT row_group_id, compression FROM parquet_metadata($1)", file);
      assert.equal(new Set(chunks.map((c) => c.row_group_id)).size, p.row_groups, `${where}: row groups`);
      assert.deepEqual([...new Set(chunks.map((c) => c.compression))], e.rows ? [codecName[p.compression]] : [], `${where}: codec`);

      // Pixel total: DuckDB adds in its own order, so allow rounding.
      const [{ total }] = await rows("SELECT sum(x::DOUBLE) AS total FROM (SELECT unnest(image) AS x FROM read_parquet($1))", file);
      const tol = meta.dtype === "float32" ? 1e-9 * Math.max(1, Math.abs(e.pixel_sum)) : 0;
      assert.ok(Math.abs((total ?? 0) - e.pixel_sum) <= tol, `${where}: pixel total ${total}, want ${e.pixel_sum}`);

      const wanted = e.checks.map((c) => c.row);
      assert.ok(wanted.every(Number.isSafeInteger), `${where}: row numbers`);
      const picked = await rows(
        `SELECT file_row_number AS row, source_index, label, copy, image
           FROM read_parquet($1, file_row_number = true)
          WHERE file_row_number IN (${wanted.join(", ")}) ORDER BY file_row_number`, file);
      assert.equal(picked.length, e.checks.length, `${where}: checked rows found`);
      const byRow = new Map(picked.map((r) => [Number(r.row), r]));
      for (const c of e.checks) {
        const r = byRow.get(c.row);
        assert.equal(r.source_index, BigInt(c.source_index), `${where} row ${c.row}: source_index`);
        assert.equal(r.label, c.label, `${where} row ${c.row}: label`);
        assert.equal(r.copy, c.copy, `${where} row ${c.row}: copy`);
        assert.equal(r.image.length, elemsOf(meta), `${where} row ${c.row}: pixels`);
        for (const px of c.pixels) assert.equal(r.image[px.i], px.v, `${where} row ${c.row}: pixel ${px.i}`);
      }
    });
  }
});
