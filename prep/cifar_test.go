package prep

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/shardsmith/shardsmith/config"
	"github.com/shardsmith/shardsmith/formats/vocab"
	"github.com/shardsmith/shardsmith/internal/tinyset"
)

// writeCIFARBatch writes n records with labels i mod 3 and pixels drawn
// from (seed, i); it returns each record.
func writeCIFARBatch(t *testing.T, path string, n int, seed byte) [][]byte {
	t.Helper()
	var all bytes.Buffer
	var recs [][]byte
	for i := range n {
		rec := make([]byte, 3073)
		rec[0] = byte(i % 3)
		for j := 1; j < len(rec); j++ {
			rec[j] = byte(j*7+i*13) ^ seed
		}
		all.Write(rec)
		recs = append(recs, rec)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	writeBytes(t, path, all.Bytes())
	return recs
}

func cifarConfig(t *testing.T, dir, sources string) *config.Config {
	t.Helper()
	y := "dataset: tiny-cifar\nclasses: [airplane, automobile, bird]\n" + sources +
		"image: {height: 32, width: 32, channels: 3}\nsplit: {seed: 3, val_fraction: 0.2}\nshards: {rows: 8, batch_rows: 4}\nnormalize: {mode: none}\n"
	path := filepath.Join(dir, "c.yaml")
	writeBytes(t, path, []byte(y))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// CIFAR-10 binary files build a version whose rows are the records in file
// order (train's files, then test's), HWC, with "<file>#<record>" as
// source_path; the same files in a tar.gz give the same version and shards.
func TestBuildCIFAR(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "cifar-10-batches-bin")
	recs := writeCIFARBatch(t, filepath.Join(bin, "data_batch_1.bin"), 9, 1)
	recs = append(recs, writeCIFARBatch(t, filepath.Join(bin, "data_batch_2.bin"), 6, 2)...)
	test := writeCIFARBatch(t, filepath.Join(bin, "test_batch.bin"), 5, 3)
	recs = append(recs, test...)
	srcs := "sources:\n  train: {cifar: [data_batch_1.bin, data_batch_2.bin], root: cifar-10-batches-bin}\n  test: {cifar: [test_batch.bin], root: cifar-10-batches-bin}\n"
	res := build(t, cifarConfig(t, dir, srcs), testOptions(t, t.TempDir()))
	seen := 0
	for _, name := range []vocab.Split{vocab.Train, vocab.Val, vocab.Test} {
		rows := readSplit(t, res.Dir, res, name)
		for i, si := range rows.SourceIndex {
			rec := recs[si]
			file, k := "data_batch_1.bin", int(si)
			switch {
			case si >= 15:
				file, k = "test_batch.bin", int(si)-15
			case si >= 9:
				file, k = "data_batch_2.bin", int(si)-9
			}
			if want := fmt.Sprintf("%s#%d", file, k); rows.SourcePath[i] != want {
				t.Fatalf("%s row %d: source_path %q, want %q", name, i, rows.SourcePath[i], want)
			}
			if rows.Label[i] != rec[0] {
				t.Fatalf("%s row %d: label %d, want %d", name, i, rows.Label[i], rec[0])
			}
			img := rows.ImageU8[i*3072 : (i+1)*3072]
			for p := 0; p < 1024; p += 97 {
				if img[3*p] != rec[1+p] || img[3*p+1] != rec[1+1024+p] || img[3*p+2] != rec[1+2048+p] {
					t.Fatalf("%s row %d pixel %d: %v, want the record's R, G, B planes interleaved", name, i, p, img[3*p:3*p+3])
				}
			}
			seen++
		}
	}
	if seen != len(recs) {
		t.Fatalf("%d rows, want %d", seen, len(recs))
	}

	data, err := tinyset.Pack(dir, "", tinyset.TarGz)
	if err != nil {
		t.Fatal(err)
	}
	mirror := filepath.Join(dir, "mirror")
	os.MkdirAll(mirror, 0o755)
	writeBytes(t, filepath.Join(mirror, "cifar-10-binary.tar.gz"), data)
	arch := fmt.Sprintf("mirrors: [%s]\nsources:\n"+
		"  train: {archive: cifar-10-binary.tar.gz, sha256: %s, cifar: [data_batch_1.bin, data_batch_2.bin], root: cifar-10-batches-bin}\n"+
		"  test: {archive: cifar-10-binary.tar.gz, sha256: %[2]s, cifar: [test_batch.bin], root: cifar-10-batches-bin}\n", mirror, sha(data))
	res2 := build(t, cifarConfig(t, dir, arch), testOptions(t, t.TempDir()))
	if res2.Manifest.Version != res.Manifest.Version {
		t.Fatalf("from the tar.gz: version %s, from the files %s", res2.Manifest.ShortVersion(), res.Manifest.ShortVersion())
	}
	a, b := dirFiles(t, res.Dir), dirFiles(t, res2.Dir)
	for f := range a {
		if f != "manifest.json" && !bytes.Equal(a[f], b[f]) {
			t.Fatalf("%s differs between the files and the archive", f)
		}
	}
}
