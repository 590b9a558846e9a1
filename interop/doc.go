// Package interop checks that shards are readable by tools other than this
// module: nodejs-polars, Apache Arrow JS (with fzstd for zstd bodies) and
// DuckDB, run from Node's built-in test runner.
//
// The package has no code of its own. Its test builds small synthetic
// dataset versions (every shard compression, float32 and uint8 pixels) and,
// unless -short is given, the MNIST test split, with package prep; writes the
// same shards as Parquet; records what the Go reader sees in
// expectations.json; and runs `node --test` in this directory, where each
// reader must see the same rows, types, metadata and pixel values.
//
// The Node packages are pinned in package-lock.json; install them with
//
//	npm ci --prefix interop
//
// Without interop/node_modules the test is skipped, except when the
// environment variable CI is "true", where it fails. To keep the generated
// files for a look, set SHARDSMITH_INTEROP_OUT to an empty directory.
//
// TestViTLoadsIntoTimm checks the trainer's Vision Transformer against timm:
// timm/vit_check.py loads a saved ViT checkpoint strictly into
// timm.models.vision_transformer.VisionTransformer and compares logits on
// the same inputs. It needs a Python with torch, timm and safetensors
// (SHARDSMITH_TIMM_PYTHON, default python3) and is skipped without one.
package interop
