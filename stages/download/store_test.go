package download

import (
	"context"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/store"
	"github.com/shardsmith/shardsmith/internal/store/storetest"
)

func TestFetchFromStore(t *testing.T) {
	srv := storetest.Start(t)
	data := testData(testSize)
	ctx := context.Background()
	st, err := store.OpenString(ctx, srv.URL("mirror"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Put(ctx, "good.bin", data); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "bad.bin", data[:testSize-1]); err != nil {
		t.Fatal(err)
	}
	f := New(WithCacheDir(t.TempDir()), WithRetries(0))
	// A missing object, then a wrong one, then the right one: the mirrors are tried in order.
	p, err := f.Fetch(ctx, Source{Name: "x", SHA256: hexSum(data),
		URLs: []string{srv.URL("mirror/missing.bin"), srv.URL("mirror/bad.bin"), srv.URL("mirror/good.bin")}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p, hexSum(data)) {
		t.Errorf("cached at %s", p)
	}
	_, err = New(WithCacheDir(t.TempDir()), WithRetries(0)).Fetch(ctx, Source{Name: "x", SHA256: hexSum(data), URLs: []string{srv.URL("mirror/bad.bin")}})
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch") || !strings.Contains(err.Error(), srv.URL("mirror/bad.bin")) {
		t.Errorf("a wrong object: %v", err)
	}
	_, err = New(WithCacheDir(t.TempDir()), WithRetries(0)).Fetch(ctx, Source{Name: "x", SHA256: hexSum(data), URLs: []string{srv.URL("mirror/missing.bin")}})
	if err == nil || !strings.Contains(err.Error(), srv.URL("mirror/missing.bin")) {
		t.Errorf("a missing object: %v", err)
	}
}

func TestMirrorSchemeRefused(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"gs://bucket/x", `unsupported URL scheme "gs" (want https, http, file, s3, gomod or a local path)`},
		{"s3:bucket/x", `looks like a URL without "//"`},
		{"s3:///x", "no bucket"},
	} {
		if err := CheckLocation(c.url); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckLocation(%s) = %v, want %q", c.url, err, c.want)
		}
	}
	for _, ok := range []string{"https://x/y", "file:///x", "s3://b/k", "gomod://example.com/m@v1.0.0/d/f.gz", "local/dir/f"} {
		if err := CheckLocation(ok); err != nil {
			t.Errorf("CheckLocation(%s): %v", ok, err)
		}
	}
}
