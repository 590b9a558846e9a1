// Command tinyset writes a small synthetic IDX dataset and a prep config
// for it: the test data of the Python package's tests, built by the real
// prep (go run ./cmd/prep run CONFIG).
//
//	go run ./python/tests/tinyset -dir DIR -name tiny -train 600 -test 100 -side 6 -extra 'shards: {rows: 128}'
//
// prints the path of the config it wrote.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

func main() {
	dir := flag.String("dir", "", "directory for the IDX files and the config (required)")
	name := flag.String("name", "tiny", "dataset name")
	train := flag.Int("train", 600, "train images")
	test := flag.Int("test", 100, "test images")
	side := flag.Int("side", 6, "image side")
	classes := flag.Int("classes", 10, "classes")
	seed := flag.Uint64("seed", 1, "seed of pixels and labels")
	extra := flag.String("extra", "", "YAML appended to the config")
	flag.Parse()
	if *dir == "" {
		flag.Usage()
		os.Exit(2)
	}
	set, err := tinyset.Write(*dir, tinyset.Spec{Train: *train, Test: *test, Side: *side, Classes: *classes, Seed: *seed, Learnable: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p := filepath.Join(*dir, *name+".yaml")
	if err := os.WriteFile(p, []byte(set.Config(*name, *extra)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(p)
}
