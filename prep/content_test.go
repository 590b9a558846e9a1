package prep

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/config"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The version follows the IDX content: raw files pinned by content_sha256,
// the canonical .gz pinned by sha256, and another gzip encoding of the same
// bytes (as a distribution repackages them) found in a local mirror after
// the sha256 mirror failed, all give one version and byte-identical shards.
func TestIDXVersionFollowsContent(t *testing.T) {
	ts := writeTiny(t, 60, 20, 4, 3, 9)
	keys := []string{"train_images", "train_labels", "test_images", "test_labels"}
	ref := build(t, ts.config(t, tinySplit), testOptions(t, t.TempDir()))

	raw, regz := t.TempDir(), t.TempDir()
	rawY := fmt.Sprintf("dataset: tiny\nmirrors: [%q]\nsources:\n", raw)
	regzY := fmt.Sprintf("dataset: tiny\nmirrors: [%q, %q]\nsources:\n", "file://"+filepath.Join(t.TempDir(), "missing")+"/", "file://"+regz+"/")
	for _, k := range keys {
		orig := readAll(t, ts.files[k])
		content := gunzipFile(t, ts.files[k])
		writeBytes(t, filepath.Join(raw, k+".idx"), content)
		var b bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		zw.Name = "repackaged"
		zw.Write(content)
		zw.Close()
		if bytes.Equal(b.Bytes(), orig) {
			t.Fatal("the re-encoded gzip equals the original")
		}
		writeBytes(t, filepath.Join(regz, k+".gz"), b.Bytes())
		rawY += fmt.Sprintf("  %s: {file: %s.idx, content_sha256: %s}\n", k, k, sha(content))
		regzY += fmt.Sprintf("  %s: {file: %s.gz, sha256: %s, content_sha256: %s}\n", k, k, sha(orig), sha(content))
	}
	for name, y := range map[string]string{"raw": rawY, "regzipped": regzY} {
		cfg, err := config.Parse([]byte(y+tinySplit), "tiny.yaml")
		if err != nil {
			t.Fatal(err)
		}
		res := build(t, cfg, testOptions(t, t.TempDir()))
		if res.Manifest.Version != ref.Manifest.Version {
			t.Errorf("%s: version %s, want %s (the .gz build's)", name, res.Manifest.Version, ref.Manifest.Version)
		}
		a, b := dirFiles(t, ref.Dir), dirFiles(t, res.Dir)
		for f, data := range a {
			if f != "manifest.json" && !bytes.Equal(data, b[f]) {
				t.Errorf("%s: shard %s differs from the .gz build's", name, f)
			}
		}
		for _, s := range res.Manifest.Sources {
			if s.ContentSHA256 == "" || s.SHA256 == "" {
				t.Errorf("%s: manifest source %+v lacks a digest", name, s)
			}
		}
	}

	// One changed pixel in the raw copy: its content no longer verifies.
	p := filepath.Join(raw, "test_images.idx")
	b := readAll(t, p)
	b[len(b)-1] ^= 1
	writeBytes(t, p, b)
	cfg, _ := config.Parse([]byte(rawY+tinySplit), "tiny.yaml")
	out := t.TempDir()
	_, err := Build(context.Background(), cfg, testOptions(t, out))
	if err == nil || !strings.Contains(err.Error(), "test_images") || !strings.Contains(err.Error(), "content_sha256") {
		t.Fatalf("changed pixel: err = %v", err)
	}
	if l := leftovers(t, filepath.Join(out, "tiny")); len(l) != 0 {
		t.Fatalf("a failed build left %v", l)
	}
	// With its content pinned to the changed bytes, it is another version.
	rawY = strings.Replace(rawY, sha(gunzipFile(t, ts.files["test_images"])), sha(b), 1)
	cfg, _ = config.Parse([]byte(rawY+tinySplit), "tiny.yaml")
	if v := build(t, cfg, testOptions(t, t.TempDir())).Manifest.Version; v == ref.Manifest.Version {
		t.Fatal("one changed pixel kept the version")
	}
}

func readAll(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeBytes(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
