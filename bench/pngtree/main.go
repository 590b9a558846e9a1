// Command pngtree-bench measures `prep run` on an image folder tree: it
// writes MNIST's images as PNG files (<dir>/{train,test}/<label>/<index>.png,
// gray 28×28, the layout of the common mnist_png archives), builds shards from
// the tree with a prep binary, and reports images per second (median of the
// timed runs, the version already built counting as not built: --force) and
// the peak resident memory of prep.
//
//	go run ./bench/pngtree -runs 3
//	go run ./bench/pngtree -n 500 -runs 1   # a quick check on 500 images per split
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image"
	"image/png"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/idx"
	"github.com/shardsmith/shardsmith/stages/download"
)

func main() {
	runs := flag.Int("runs", 3, "timed runs (the median is reported)")
	cfgPath := flag.String("config", "configs/mnist.yaml", "MNIST config (where the IDX files come from)")
	n := flag.Int("n", 0, "write at most n images per split (0: all)")
	keep := flag.String("keep", "", "write the tree here and keep it (default: a temporary directory)")
	flag.Parse()

	cfg, err := config.Load(*cfgPath)
	if err != nil {
		log.Fatal(err)
	}
	work := *keep
	if work == "" {
		if work, err = os.MkdirTemp("", "pngtree-bench-"); err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(work)
	}
	bin := filepath.Join(work, "prep")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/prep").CombinedOutput(); err != nil {
		log.Fatalf("go build: %v\n%s", err, out)
	}
	f := download.New()
	path := func(key string) string {
		for _, s := range cfg.Sources.All() {
			if s.Key == key {
				p, err := f.Fetch(context.Background(), download.Source{Name: s.Key, SHA256: s.File.SHA256, URLs: cfg.URLs(s.File)})
				if err != nil {
					log.Fatal(err)
				}
				return p
			}
		}
		log.Fatalf("no source %s", key)
		return ""
	}
	t0 := time.Now()
	total := 0
	for _, sp := range []string{"train", "test"} {
		k, err := writeTree(path(sp+"_images"), path(sp+"_labels"), filepath.Join(work, "tree", sp), *n)
		if err != nil {
			log.Fatal(err)
		}
		total += k
	}
	fmt.Printf("%-40s %8d in %.1fs\n", "PNG files written", total, time.Since(t0).Seconds())

	y := "dataset: mnist-png\nsources:\n  train: {imagefolder: tree/train}\n  test: {imagefolder: tree/test}\n" +
		"image: {height: 28, width: 28, channels: 1}\nsplit: {seed: 42, val_fraction: 0.1, stratify: true}\n"
	cfgFile := filepath.Join(work, "mnist-png.yaml")
	if err := os.WriteFile(cfgFile, []byte(y), 0o644); err != nil {
		log.Fatal(err)
	}
	var secs []float64
	var rss int64
	for range *runs {
		s, r, err := runPrep(bin, "run", cfgFile, "--out", filepath.Join(work, "out"), "--force")
		if err != nil {
			log.Fatal(err)
		}
		secs = append(secs, s)
		rss = max(rss, r)
	}
	slices.Sort(secs)
	med := secs[len(secs)/2]
	fmt.Printf("%-40s %8.2f s (median of %d)\n", "prep run --force, PNG tree", med, len(secs))
	fmt.Printf("%-40s %8.0f\n", "images/s", float64(total)/med)
	fmt.Printf("%-40s %8.0f\n", "prep peak RSS (MB)", float64(rss)/1024)
}

// writeTree writes the images of an IDX pair as <dir>/<label>/<index>.png
// and returns how many it wrote (at most limit, if limit > 0).
func writeTree(images, labels, dir string, limit int) (int, error) {
	lr, err := idx.Open(labels)
	if err != nil {
		return 0, err
	}
	defer lr.Close()
	lab := make([]uint8, lr.Header().Items())
	for got := 0; got < len(lab); {
		n, err := lr.ReadU8(lab[got:])
		if err != nil {
			return 0, err
		}
		got += n
	}
	ir, err := idx.Open(images)
	if err != nil {
		return 0, err
	}
	defer ir.Close()
	h, w := ir.Header().Dims[1], ir.Header().Dims[2]
	count := len(lab)
	if limit > 0 {
		count = min(count, limit)
	}
	pix := make([]uint8, h*w)
	var buf bytes.Buffer
	for i := range count {
		if _, err := ir.ReadU8(pix); err != nil {
			return i, err
		}
		img := &image.Gray{Pix: pix, Stride: w, Rect: image.Rect(0, 0, w, h)}
		buf.Reset()
		if err := png.Encode(&buf, img); err != nil {
			return i, err
		}
		p := filepath.Join(dir, fmt.Sprint(lab[i]), fmt.Sprintf("%05d.png", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return i, err
		}
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			return i, err
		}
	}
	return count, nil
}

// runPrep runs prep and returns its wall time in seconds and its peak
// resident set size in KiB (the kernel's ru_maxrss of the child).
func runPrep(bin string, args ...string) (float64, int64, error) {
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("prep: %v\n%s", err, stderr.String())
	}
	secs := time.Since(t0).Seconds()
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return secs, 0, nil
	}
	return secs, ru.Maxrss, nil
}
