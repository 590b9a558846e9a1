package store

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Location
	}{
		{"out", Location{Path: "out"}},
		{"out/mnist/latest", Location{Path: "out/mnist/latest"}},
		{"/abs/dir", Location{Path: "/abs/dir"}},
		{"C:/data", Location{Path: "C:/data"}}, // a drive letter is no scheme
		{"file:///tmp/x", Location{Path: "/tmp/x"}},
		{"file://localhost/tmp/x", Location{Path: "/tmp/x"}},
		{"s3://bkt", Location{Scheme: "s3", Bucket: "bkt"}},
		{"s3://bkt/", Location{Scheme: "s3", Bucket: "bkt"}},
		{"s3://bkt/a/b/", Location{Scheme: "s3", Bucket: "bkt", Key: "a/b"}},
		{"S3://bkt/a?region=eu-west-1", Location{Scheme: "s3", Bucket: "bkt", Key: "a", Query: "region=eu-west-1"}},
	} {
		got, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got != c.want {
			t.Errorf("Parse(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"gs://bucket/x", `unsupported location scheme "gs"`},
		{"azblob://c/x", `unsupported location scheme "azblob"`},
		{"https://example.com/x", `unsupported location scheme "https"`},
		{"mem://", `unsupported location scheme "mem"`},
		{"s3:bucket/x", `looks like a URL without "//"`},
		{"s3:/bucket/x", `looks like a URL without "//"`},
		{"s3:///x", "no bucket"},
		{"s3://bkt/a//b", "not clean"},
		{"s3://bkt/a/../b", "not clean"},
		{"s3://key:secret@bkt/a", "credentials do not belong in the URL"},
		{"file://host/x", "not host"},
		{"", "empty location"},
	} {
		_, err := Parse(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.in, err, c.want)
			continue
		}
		if strings.Contains(c.want, "unsupported") && !strings.Contains(err.Error(), Supported) {
			t.Errorf("Parse(%q): %v does not name the supported schemes", c.in, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Parse(%q): the error shows the secret: %v", c.in, err)
		}
	}
}

func TestLocationJoin(t *testing.T) {
	l, _ := Parse("s3://b/datasets?region=x")
	if got := l.Join("mnist", "latest").String(); got != "s3://b/datasets/mnist/latest?region=x" {
		t.Errorf("Join: %s", got)
	}
	if got := l.Join("mnist").Join("v1").Dir().Base(); got != "mnist" {
		t.Errorf("Dir/Base: %s", got)
	}
	top, _ := Parse("s3://b")
	if got := top.Join("a").String(); got != "s3://b/a" {
		t.Errorf("Join on a bucket: %s", got)
	}
	if got := top.Join("a").Dir().String(); got != "s3://b" {
		t.Errorf("Dir to the bucket: %s", got)
	}
	if !IsRemote("s3://b/x") || IsRemote("out") || IsRemote("gs://x") {
		t.Error("IsRemote")
	}
	if _, err := MustLocal("--cache", "s3://b/x"); err == nil || !strings.Contains(err.Error(), "--cache s3://b/x: only a local path") {
		t.Errorf("MustLocal: %v", err)
	}
}

// testStore runs the Store contract on st: the one thing the object store
// tests (storetest, against a real S3 server) and the local tests share.
func testStore(t *testing.T, st *Store) {
	ctx := context.Background()
	if _, err := st.Get(ctx, "v/missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Get of a missing object: %v, want fs.ErrNotExist", err)
	}
	if _, err := st.Stat(ctx, "v/missing"); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "v/missing") {
		t.Fatalf("Stat of a missing object: %v", err)
	}
	// A writer's object is invisible until Close, and an aborted one never appears.
	w, err := st.Create(ctx, "v/a.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Stat(ctx, "v/a.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("object visible before Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Size() != 5 || w.SHA256() != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Errorf("writer size %d sha %s", w.Size(), w.SHA256())
	}
	a, err := st.Create(ctx, "v/b.bin")
	if err != nil {
		t.Fatal(err)
	}
	a.Write([]byte("partial"))
	a.Abort()
	if _, err := st.Stat(ctx, "v/b.bin"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("aborted object is visible: %v", err)
	}
	// An aborted overwrite keeps the old object.
	a, _ = st.Create(ctx, "v/a.bin")
	a.Write([]byte("other"))
	a.Abort()
	if got, err := st.Get(ctx, "v/a.bin"); err != nil || string(got) != "hello" {
		t.Fatalf("after an aborted overwrite: %q, %v", got, err)
	}
	if err := st.Put(ctx, "v/sub/c.bin", bytes.Repeat([]byte{7}, 3000)); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, "top", []byte("x")); err != nil {
		t.Fatal(err)
	}
	info, err := st.Stat(ctx, "v/sub/c.bin")
	if err != nil || info.Size != 3000 {
		t.Fatalf("Stat: %+v, %v", info, err)
	}
	all, err := st.List(ctx, "v/", false)
	if err != nil {
		t.Fatal(err)
	}
	if keys := infoKeys(all); keys != "v/a.bin v/sub/c.bin" {
		t.Errorf("List: %s", keys)
	}
	dirs, err := st.List(ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if keys := infoKeys(dirs); keys != "top v/" {
		t.Errorf("List with dirs: %s", keys)
	}
	var buf bytes.Buffer
	n, sum, err := st.Download(ctx, "v/a.bin", &buf)
	if err != nil || n != 5 || buf.String() != "hello" || sum != w.SHA256() {
		t.Errorf("Download: %d %s %q %v", n, sum, buf.String(), err)
	}
	if err := st.Delete(ctx, "v/missing"); err != nil {
		t.Errorf("Delete of a missing object: %v", err)
	}
	if err := st.DeletePrefix(ctx, "v/"); err != nil {
		t.Fatal(err)
	}
	if left, _ := st.List(ctx, "", false); infoKeys(left) != "top" {
		t.Errorf("after DeletePrefix: %s", infoKeys(left))
	}
}

func infoKeys(infos []Info) string {
	var k []string
	for _, i := range infos {
		k = append(k, i.Key)
	}
	return strings.Join(k, " ")
}

func TestLocalStore(t *testing.T) {
	dir := t.TempDir()
	st, err := OpenString(context.Background(), "file://"+filepath.ToSlash(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	testStore(t, st)
	// No sidecar or temporary files are left beside the objects.
	var names []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if !d.IsDir() {
			names = append(names, filepath.Base(p))
		}
		return nil
	})
	if strings.Join(names, " ") != "top" {
		t.Errorf("files in the local store: %v", names)
	}
	if _, err := os.Stat(filepath.Join(dir, "top")); err != nil {
		t.Error(err)
	}
}
