// Loads what the Go side wrote (see interop_test.go) and compares what a
// reader returns with it.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";

export const ENV = "SHARDSMITH_INTEROP_DIR";

const root = process.env[ENV];
if (!root) {
  throw new Error(`${ENV} is not set: run \`go test ./interop/\`, which builds the datasets and runs this suite`);
}

/** The parsed expectations.json. */
export const expectations = JSON.parse(readFileSync(path.join(root, "expectations.json"), "utf8"));

/** Absolute path of a path relative to the suite directory. */
export const abs = (rel) => path.join(root, ...rel.split("/"));

/** Pixels per image. */
export const elemsOf = (meta) => meta.height * meta.width * meta.channels;

/** The dataset expectation with the given name. */
export function datasetNamed(name) {
  const d = expectations.datasets.find((d) => d.name === name);
  assert.ok(d, `no dataset ${name} in expectations.json`);
  return d;
}

/** The manifest.json of a dataset expectation. */
export function manifestOf(d) {
  return JSON.parse(readFileSync(path.join(abs(d.dir), "manifest.json"), "utf8"));
}

/** SHA-256 of bytes as lowercase hex. */
export const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

/**
 * Compares the columns a reader returned for one shard with the shard's
 * expectation. got holds whole-shard typed arrays (label, copy,
 * sourceIndex as BigUint64Array or bigint[], pixels row-major) and row(i),
 * which returns {sourceIndex, label, copy, pixels} through the reader's
 * row API. Pixel values and sums must be exact.
 */
export function checkShard(got, e, meta, where) {
  const elems = elemsOf(meta);
  assert.equal(got.rows, e.rows, `${where}: rows`);
  assert.equal(got.label.length, e.rows, `${where}: label column length`);
  assert.equal(got.pixels.length, e.rows * elems, `${where}: pixel count`);

  let labels = 0, copies = 0, sources = 0n, pixels = 0;
  for (let i = 0; i < e.rows; i++) {
    labels += got.label[i];
    copies += got.copy[i];
    sources += BigInt(got.sourceIndex[i]);
  }
  for (let k = 0; k < got.pixels.length; k++) pixels += got.pixels[k];
  assert.equal(labels, e.label_sum, `${where}: sum of labels`);
  assert.equal(copies, e.copy_sum, `${where}: sum of copy`);
  assert.equal(sources, BigInt(e.source_index_sum), `${where}: sum of source_index`);
  assert.equal(pixels, e.pixel_sum, `${where}: sum of all pixels in row-major order`);

  assert.ok(e.checks.length > 0, `${where}: no rows to check`);
  for (const c of e.checks) {
    const r = got.row(c.row);
    const at = `${where} row ${c.row}`;
    assert.equal(BigInt(r.sourceIndex), BigInt(c.source_index), `${at}: source_index`);
    assert.equal(r.label, c.label, `${at}: label`);
    assert.equal(r.copy, c.copy, `${at}: copy`);
    assert.equal(r.pixels.length, elems, `${at}: pixels per image`);
    for (const p of c.pixels) {
      assert.equal(r.pixels[p.i], p.v, `${at}: pixel ${p.i}`);
      assert.equal(got.pixels[c.row * elems + p.i], p.v, `${at}: pixel ${p.i} in the flat column`);
    }
  }
}

/**
 * Checks string-valued schema metadata (a Map or plain object) against the
 * dataset's metadata; split is the shard's split.
 */
export function checkMetadata(md, meta, split, where) {
  const get = (k) => (md instanceof Map ? md.get(k) : md[k]);
  assert.equal(get("dataset"), meta.dataset, `${where}: dataset`);
  assert.equal(get("version"), meta.version, `${where}: version`);
  assert.equal(get("split"), split, `${where}: split`);
  assert.equal(get("normalize"), meta.normalize, `${where}: normalize`);
  assert.equal(get("shard_format"), meta.shard_format, `${where}: shard_format`);
  for (const k of ["height", "width", "channels"]) {
    assert.equal(Number.parseInt(get(k), 10), meta[k], `${where}: ${k}`);
  }
  for (const k of ["mean", "std"]) {
    assert.equal(Number.parseFloat(get(k)), meta[k], `${where}: ${k}`);
  }
  assert.deepEqual(JSON.parse(get("classes")), meta.classes, `${where}: classes`);
}

