// Command prep-bench measures `prep run --force` on MNIST against the floor
// of the work it cannot avoid, in one run on one machine:
//
//   - gunzip of the four source files (klauspost/compress/gzip), and
//   - zstd compression (klauspost/compress, the level Arrow's IPC writer
//     uses) of the same number of output bytes: the normalized float32
//     pixels of all 70,000 images.
//
// It also reports the peak resident memory of prep for MNIST and for a
// synthetic set ten times larger (MNIST's train images repeated), to show that
// memory is bounded by the pipeline's buffers rather than the dataset.
//
//	go run ./bench/prep -runs 5
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/idx"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/stages/download"
)

func main() {
	runs := flag.Int("runs", 5, "timed runs of each measurement (the median is reported)")
	cfgPath := flag.String("config", "configs/mnist.yaml", "MNIST config")
	big := flag.Bool("big", true, "also measure peak memory on a 10× synthetic set")
	writeBigTo := flag.String("write-big", "", "internal: write the 10× set and its config into this directory, then exit")
	flag.Parse()

	cfg, err := config.Load(*cfgPath)
	if err != nil {
		log.Fatal(err)
	}
	work, err := os.MkdirTemp("", "prep-bench-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)

	bin := filepath.Join(work, "prep")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/prep").CombinedOutput(); err != nil {
		log.Fatalf("building prep: %v\n%s", err, out)
	}
	f := download.New()
	paths := map[string]string{}
	for _, s := range cfg.Sources.All() {
		p, err := f.Fetch(context.Background(), download.Source{Name: s.Key, SHA256: s.File.SHA256, URLs: cfg.URLs(s.File)})
		if err != nil {
			log.Fatal(err)
		}
		paths[s.Key] = p
	}
	if *writeBigTo != "" {
		var raw [][]byte
		for _, k := range []string{"train_images", "train_labels", "test_images", "test_labels"} {
			raw = append(raw, gunzipFile(paths[k]))
		}
		fmt.Println(writeBig(*writeBigTo, raw, cfg))
		return
	}

	// prep itself (warm cache, forced rebuilds) first, while this process is
	// small: a child's peak RSS as the kernel reports it includes what it
	// shares with its parent before exec.
	out := filepath.Join(work, "out")
	runPrep(bin, *cfgPath, out) // warm-up: populates out/ so later runs are --force rebuilds
	var rss int64
	wall := median(*runs, func() { rss = max(rss, runPrep(bin, *cfgPath, out, "--force")) })
	var bigSecs float64
	var bigRSS int64
	if *big {
		// The 10× set is written by a child process, so this one stays small
		// (see above) while prep runs on it.
		self, err := os.Executable()
		if err != nil {
			log.Fatal(err)
		}
		gen, err := exec.Command(self, "-config", *cfgPath, "-write-big", work).Output()
		if err != nil {
			log.Fatalf("writing the 10x set: %v", err)
		}
		bigCfg := strings.TrimSpace(string(gen))
		t0 := time.Now()
		bigRSS = runPrep(bin, bigCfg, filepath.Join(work, "out-big"))
		bigSecs = time.Since(t0).Seconds()
	}

	// Floor part 1: gunzip.
	var raw [][]byte
	gunzip := median(*runs, func() {
		raw = raw[:0]
		for _, k := range []string{"train_images", "train_labels", "test_images", "test_labels"} {
			raw = append(raw, gunzipFile(paths[k]))
		}
	})
	// Floor part 2: zstd of the normalized pixels.
	table := manifest.Normalize{Mean: manifest.Values{0.1307}, Std: manifest.Values{0.3081}}.Table()
	var pix []float32
	for _, b := range [][]byte{raw[0][16:], raw[2][16:]} {
		f := make([]float32, len(b))
		table.Apply(f, b)
		pix = append(pix, f...)
	}
	pixBytes := unsafeBytes(pix)
	enc, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	var zlen int
	zst := median(*runs, func() {
		zlen = 0
		// Arrow compresses each buffer of each record batch on its own; 1024-row chunks match.
		const chunk = 1024 * 784 * 4
		dst := make([]byte, 0, chunk)
		for i := 0; i < len(pixBytes); i += chunk {
			dst = enc.EncodeAll(pixBytes[i:min(i+chunk, len(pixBytes))], dst[:0])
			zlen += len(dst)
		}
	})
	floor := gunzip + zst

	fmt.Printf("machine: %s/%s, %d CPUs (GOMAXPROCS %d)\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Printf("%-48s %8s\n", "measurement (median of runs)", "seconds")
	fmt.Printf("%-48s %8.3f\n", "gunzip of the 4 source files", gunzip.Seconds())
	fmt.Printf("%-48s %8.3f\n", fmt.Sprintf("zstd of %.0f MB float32 pixels (1 core) -> %.1f MB", float64(len(pixBytes))/1e6, float64(zlen)/1e6), zst.Seconds())
	fmt.Printf("%-48s %8.3f\n", "floor (sum)", floor.Seconds())
	fmt.Printf("%-48s %8.3f\n", "prep run configs/mnist.yaml --force", wall.Seconds())
	fmt.Printf("%-48s %8.2f\n", "prep / floor", wall.Seconds()/floor.Seconds())
	fmt.Printf("%-48s %8.0f\n", "prep peak RSS, MNIST (MB)", float64(rss)/1024)
	if *big {
		fmt.Printf("%-48s %8.3f\n", "prep run, 10x synthetic (600k+10k images)", bigSecs)
		fmt.Printf("%-48s %8.0f\n", "prep peak RSS, 10x synthetic (MB)", float64(bigRSS)/1024)
	}

}

func median(n int, fn func()) time.Duration {
	ds := make([]time.Duration, n)
	for i := range ds {
		t0 := time.Now()
		fn()
		ds[i] = time.Since(t0)
	}
	slices.Sort(ds)
	return ds[n/2]
}

func gunzipFile(p string) []byte {
	f, err := os.Open(p)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		log.Fatal(err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		log.Fatal(err)
	}
	return b
}

// runPrep runs prep and returns its peak resident set size in KiB.
func runPrep(bin, cfg, out string, extra ...string) int64 {
	args := append([]string{"run", cfg, "--out", out, "--quiet"}, extra...)
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("prep %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return maxRSSKiB(cmd.ProcessState)
}

// writeBig writes a 10× MNIST-train-sized set (the train images repeated) and
// a config for it.
func writeBig(dir string, raw [][]byte, cfg *config.Config) string {
	trainImgs, trainLabels := raw[0][16:], raw[1][8:]
	n := len(trainLabels)
	imgs := bytes.Repeat(trainImgs, 10)
	labels := bytes.Repeat(trainLabels, 10)
	files := map[string]string{}
	write := func(key string, h idx.Header, data []uint8) {
		p := filepath.Join(dir, key+".idx.gz")
		f, err := os.Create(p)
		if err != nil {
			log.Fatal(err)
		}
		if err := idx.WriteGzipLevel(f, h, data, gzip.BestSpeed); err != nil {
			log.Fatal(err)
		}
		f.Close()
		b, _ := os.ReadFile(p)
		sum := sha256.Sum256(b)
		files[key] = fmt.Sprintf("{file: %s, sha256: %s}", filepath.Base(p), hex.EncodeToString(sum[:]))
	}
	write("train_images", idx.Header{Type: idx.U8, Dims: []int{10 * n, 28, 28}}, imgs)
	write("train_labels", idx.Header{Type: idx.U8, Dims: []int{10 * n}}, labels)
	write("test_images", idx.Header{Type: idx.U8, Dims: []int{len(raw[3]) - 8, 28, 28}}, raw[2][16:])
	write("test_labels", idx.Header{Type: idx.U8, Dims: []int{len(raw[3]) - 8}}, raw[3][8:])
	y := fmt.Sprintf("dataset: mnist-10x\nmirrors: [%q]\nsources:\n", "file://"+dir+"/")
	for _, k := range []string{"train_images", "train_labels", "test_images", "test_labels"} {
		y += fmt.Sprintf("  %s: %s\n", k, files[k])
	}
	y += "split: {seed: 42, val_fraction: 0.1, stratify: true}\nshards: {rows: 10000}\n"
	p := filepath.Join(dir, "mnist-10x.yaml")
	if err := os.WriteFile(p, []byte(y), 0o644); err != nil {
		log.Fatal(err)
	}
	return p
}

func unsafeBytes(f []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(&f[0])), len(f)*4)
}
