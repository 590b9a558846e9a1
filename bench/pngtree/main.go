// Command pngtree-bench measures `prep run` on an image folder tree: it
// writes MNIST's images as PNG files (<dir>/{train,test}/<label>/<index>.png,
// gray 28×28, the layout of the common mnist_png archives), builds shards from
// the tree with a prep binary, and reports images per second (median of the
// timed runs, the version already built counting as not built: --force) and
// the peak resident memory of prep.
//
// With -torch PYTHON it also decodes the same tree with torchvision's
// ImageFolder + DataLoader (torchvision_imagefolder.py, -torch-workers
// processes), taking turns with prep run by run so that outside load falls
// on both alike, and reports the ratio of the medians. With -before BIN
// it also runs another prep binary (one built at an earlier commit, say) in
// every round, between the two, for a before/after under the same load.
//
//	go run ./bench/pngtree -runs 3
//	go run ./bench/pngtree -n 500 -runs 1   # a quick check on 500 images per split
//	go run ./bench/pngtree -runs 5 -torch /usr/bin/python3
//	go run ./bench/pngtree -runs 5 -torch /usr/bin/python3 -before /path/to/old/prep
package main

import (
	"bytes"
	"context"
	"encoding/json"
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
	torch := flag.String("torch", "", "python interpreter with torchvision: also decode the tree with ImageFolder + DataLoader")
	torchWorkers := flag.Int("torch-workers", 2, "DataLoader worker processes")
	workers := flag.Int("workers", 0, "prep --workers (0: its default, the CPUs)")
	before := flag.String("before", "", "another prep binary to run in every round too (a before/after under the same load)")
	norm := flag.String("normalize", "compute", "normalize.mode of the tree's config: compute (float32 shards) or none (uint8, as torchvision's PILToTensor gives)")
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
	if *keep != "" {
		if n, err := countPNGs(filepath.Join(work, "tree")); err == nil && n > 0 {
			total = n
			fmt.Printf("%-40s %8d (kept from an earlier run)\n", "PNG files", total)
		}
	}
	kept := total > 0
	for _, sp := range []string{"train", "test"} {
		if kept {
			break
		}
		k, err := writeTree(path(sp+"_images"), path(sp+"_labels"), filepath.Join(work, "tree", sp), *n)
		if err != nil {
			log.Fatal(err)
		}
		total += k
	}
	if !kept && time.Since(t0) > time.Second {
		fmt.Printf("%-40s %8d in %.1fs\n", "PNG files written", total, time.Since(t0).Seconds())
	}

	y := "dataset: mnist-png\nsources:\n  train: {imagefolder: tree/train}\n  test: {imagefolder: tree/test}\n" +
		"image: {height: 28, width: 28, channels: 1}\nsplit: {seed: 42, val_fraction: 0.1, stratify: true}\nnormalize: {mode: " + *norm + "}\n"
	cfgFile := filepath.Join(work, "mnist-png.yaml")
	if err := os.WriteFile(cfgFile, []byte(y), 0o644); err != nil {
		log.Fatal(err)
	}
	var secs, tsecs, cpus, tcpus, bsecs, bcpus []float64
	var rss, brss int64
	args := []string{"run", cfgFile, "--out", filepath.Join(work, "out"), "--force"}
	if *workers > 0 {
		args = append(args, "--workers", fmt.Sprint(*workers))
	}
	script := filepath.Join("bench", "pngtree", "torchvision_imagefolder.py")
	for i := range *runs {
		s, c, r, err := runPrep(bin, args...)
		if err != nil {
			log.Fatal(err)
		}
		secs, cpus = append(secs, s), append(cpus, c)
		rss = max(rss, r)
		line := fmt.Sprintf("run %d: prep %.2f s (%.2f CPU-s)", i+1, s, c)
		if *before != "" {
			s, c, r, err := runPrep(*before, args...)
			if err != nil {
				log.Fatalf("-before: %v", err)
			}
			bsecs, bcpus = append(bsecs, s), append(bcpus, c)
			brss = max(brss, r)
			line += fmt.Sprintf(", before %.2f s (%.2f CPU-s)", s, c)
		}
		if *torch != "" {
			ts, tc, n, err := runTorch(*torch, script, filepath.Join(work, "tree"), *torchWorkers)
			if err != nil {
				log.Fatal(err)
			}
			if n != total {
				log.Fatalf("torchvision decoded %d images, the tree has %d", n, total)
			}
			tsecs, tcpus = append(tsecs, ts), append(tcpus, tc)
			line += fmt.Sprintf(", torchvision %.2f s (%.2f CPU-s)", ts, tc)
		}
		fmt.Println(line)
	}
	med := median(secs)
	fmt.Printf("%-40s %8.2f s (median of %d)\n", "prep run --force, PNG tree", med, len(secs))
	fmt.Printf("%-40s %8.0f\n", "images/s", float64(total)/med)
	fmt.Printf("%-40s %8.0f\n", "images per CPU-second", float64(total)/median(cpus))
	fmt.Printf("%-40s %8.0f\n", "prep peak RSS (MB)", float64(rss)/1024)
	if len(bsecs) > 0 {
		bm := median(bsecs)
		fmt.Printf("%-40s %8.2f s (median of %d)\n", "before: prep run --force", bm, len(bsecs))
		fmt.Printf("%-40s %8.0f\n", "before: images/s", float64(total)/bm)
		fmt.Printf("%-40s %8.0f\n", "before: images per CPU-second", float64(total)/median(bcpus))
		fmt.Printf("%-40s %8.0f\n", "before: peak RSS (MB)", float64(brss)/1024)
		fmt.Printf("%-40s %8.2f× wall, %.2f× CPU\n", "after / before", bm/med, median(bcpus)/median(cpus))
	}
	if len(tsecs) > 0 {
		tm := median(tsecs)
		fmt.Printf("%-40s %8.2f s (median of %d)\n", fmt.Sprintf("torchvision ImageFolder, %d workers", *torchWorkers), tm, len(tsecs))
		fmt.Printf("%-40s %8.0f\n", "torchvision images/s", float64(total)/tm)
		fmt.Printf("%-40s %8.0f\n", "torchvision images per CPU-second", float64(total)/median(tcpus))
		fmt.Printf("%-40s %8.2f×\n", "ratio (prep / torchvision), wall", tm/med)
		fmt.Printf("%-40s %8.2f×\n", "ratio (prep / torchvision), CPU", median(tcpus)/median(cpus))
		if len(bsecs) > 0 {
			fmt.Printf("%-40s %8.2f× wall, %.2f× CPU\n", "before: ratio (prep / torchvision)", tm/median(bsecs), median(tcpus)/median(bcpus))
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// runTorch runs the torchvision baseline and returns its seconds and
// CPU-seconds (as it measures them: imports excluded) and the images it
// decoded.
func runTorch(python, script, tree string, workers int) (float64, float64, int, error) {
	out, err := exec.Command(python, script, tree, "--workers", fmt.Sprint(workers)).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return 0, 0, 0, fmt.Errorf("%s: %v\n%s", script, err, ee.Stderr)
		}
		return 0, 0, 0, err
	}
	var r struct {
		Images  int     `json:"images"`
		Seconds float64 `json:"seconds"`
		CPU     float64 `json:"cpu_seconds"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(out), &r); err != nil {
		return 0, 0, 0, fmt.Errorf("%s printed %q: %v", script, out, err)
	}
	return r.Seconds, r.CPU, r.Images, nil
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

// runPrep runs prep and returns its wall time and CPU time (user +
// system) in seconds and its peak resident set size in KiB (the kernel's
// ru_maxrss of the child).
func runPrep(bin string, args ...string) (float64, float64, int64, error) {
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, 0, fmt.Errorf("prep: %v\n%s", err, stderr.String())
	}
	secs := time.Since(t0).Seconds()
	cpu := (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return secs, cpu, 0, nil
	}
	return secs, cpu, ru.Maxrss, nil
}

// countPNGs counts the .png files under dir (a tree a -keep run left).
func countPNGs(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(p) == ".png" {
			n++
		}
		return err
	})
	return n, err
}
