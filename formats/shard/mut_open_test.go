package shard

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// CheckSHA256 accepts a file of the hash it is given and names the file and
// both hashes otherwise; a file it cannot open or read is an error.
func TestCheckSHA256(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.arrow")
	data := seedShard(t, true, "zstd")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	if err := CheckSHA256(p, good); err != nil {
		t.Fatalf("the file's own hash: %v", err)
	}
	bad := strings.Repeat("0", 64)
	want := fmt.Sprintf("shard %s: SHA-256 %s, manifest says %s (the file is damaged or was replaced; prep verify tells more)", p, good, bad)
	if err := CheckSHA256(p, bad); err == nil || err.Error() != want {
		t.Fatalf("another hash: %v, want %q", err, want)
	}
	missing := filepath.Join(dir, "missing.arrow")
	if err := CheckSHA256(missing, good); err == nil || !strings.HasPrefix(err.Error(), "shard: open "+missing) {
		t.Fatalf("a missing file: %v", err)
	}
	// A directory opens but does not read.
	if err := CheckSHA256(dir, good); err == nil || !strings.HasPrefix(err.Error(), "shard "+dir+": ") {
		t.Fatalf("a directory: %v", err)
	}
}
