// Reads one Arrow IPC shard with Apache Arrow JS; fzstd decodes the zstd bodies.
//
//   node examples/arrow.mjs out/mnist/latest/test-00000-of-00001.arrow
import { tableFromIPC, compressionRegistry, CompressionType } from "apache-arrow";
import { decompress } from "fzstd";
import { readFileSync } from "node:fs";

// arrow-js decompresses only with a registered codec. slice() copies the
// output into a fresh, aligned buffer.
compressionRegistry.set(CompressionType.ZSTD, { decode: (data) => decompress(data).slice() });

const table = tableFromIPC(readFileSync(process.argv[2]));
const meta = table.schema.metadata; // Map of strings
const classes = JSON.parse(meta.get("classes"));
console.log(`${table.numRows} rows in ${table.batches.length} batches; ` +
  `${meta.get("height")}x${meta.get("width")}x${meta.get("channels")} images, ` +
  `normalize ${meta.get("normalize")} (mean ${meta.get("mean")}, std ${meta.get("std")})`);

const row = table.get(0);
const image = row.image.toArray(); // Float32Array (Uint8Array for normalize mode none)
console.log(`row 0: source_index ${row.source_index}, class "${classes[row.label]}", ${image.length} pixels, last pixel ${image[image.length - 1]}`);
