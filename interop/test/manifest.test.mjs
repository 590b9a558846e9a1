// The files the readers are given are the ones each manifest describes.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { abs, expectations, manifestOf, sha256 } from "../lib/expectations.mjs";

describe("manifests", () => {
  test("cover every compression with float32 and uint8 pixels", () => {
    const seen = new Set(expectations.datasets.map((d) => `${d.compression}/${d.meta.dtype}`));
    for (const c of ["zstd", "lz4", "none"]) {
      for (const t of ["float32", "uint8"]) assert.ok(seen.has(`${c}/${t}`), `no ${c} dataset with ${t} pixels`);
    }
  });

  for (const d of expectations.datasets) {
    test(d.name, () => {
      const m = manifestOf(d);
      assert.equal(m.dataset, d.meta.dataset);
      assert.equal(m.version, d.meta.version);
      assert.deepEqual(m.image, { height: d.meta.height, width: d.meta.width, channels: d.meta.channels, dtype: d.meta.dtype });
      assert.deepEqual(m.normalize, { mode: d.meta.normalize, mean: d.meta.mean, std: d.meta.std });
      assert.deepEqual(m.classes, d.meta.classes);
      const listed = m.splits.filter((s) => d.splits.includes(s.name)).flatMap((s) => s.shards.map((sh) => ({ split: s.name, ...sh })));
      assert.deepEqual(listed.map((s) => [s.split, s.path, s.rows]), d.shards.map((s) => [s.split, s.path, s.rows]));
      for (const sh of listed) {
        const bytes = readFileSync(path.join(abs(d.dir), sh.path));
        assert.equal(bytes.length, sh.bytes, `${sh.path}: size`);
        assert.equal(sha256(bytes), sh.sha256, `${sh.path}: SHA-256`);
      }
    });
  }
});
