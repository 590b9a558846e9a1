// Reads one Arrow IPC shard with nodejs-polars.
//
//   node examples/polars.mjs out/mnist/latest/test-00000-of-00001.arrow
import pl from "nodejs-polars";
import { readFileSync } from "node:fs";

// Pass the bytes: readIPC takes a string that does not end in ".ipc" for inline data.
const df = pl.readIPC(readFileSync(process.argv[2]));
console.log(`${df.height} rows: ${df.columns.join(", ")}`);

// All pixels, row-major: Float32Array (Uint8Array for normalize mode none).
const pixels = df.getColumn("image").explode().toTypedArray();
const perImage = pixels.length / df.height;
const labels = df.getColumn("label").toTypedArray();
const first = df.getColumn("source_index").toTypedArray()[0];
console.log(`row 0: source_index ${first}, label ${labels[0]}, ${perImage} pixels, last pixel ${pixels[perImage - 1]}`);
