package download

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/shardsmith/shardsmith/internal/store"
)

type locationKind int

const (
	kindHTTP locationKind = iota + 1
	kindFile
	kindGoMod
	kindStore // s3://BUCKET/KEY, read through internal/store
)

// location is a parsed mirror.
type location struct {
	kind    locationKind
	path    string // kindFile: local path; kindGoMod: slash path inside the module
	module  string // kindGoMod
	version string // kindGoMod
}

// parseLocation classifies a mirror: anything with "://" is a URL, anything
// else a local path.
func parseLocation(raw string) (location, error) {
	if strings.TrimSpace(raw) == "" {
		return location{}, errors.New("empty mirror URL")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if store.HasScheme(raw) {
			return location{}, fmt.Errorf("mirror %q looks like a URL without \"//\"; want https://, http://, file://, s3://, gomod:// or a local path", raw)
		}
		return location{kind: kindFile, path: raw}, nil
	}
	switch strings.ToLower(scheme) {
	case "http", "https":
		return location{kind: kindHTTP}, nil
	case "file":
		u, err := url.Parse(raw)
		if err != nil {
			return location{}, fmt.Errorf("bad file URL: %w", err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return location{}, fmt.Errorf("file URL %q names host %q; only local files are supported", raw, u.Host)
		}
		p := u.Path
		if p == "" {
			return location{}, fmt.Errorf("file URL %q has no path", raw)
		}
		if runtime.GOOS == "windows" && len(p) >= 3 && p[0] == '/' && p[2] == ':' {
			p = p[1:] // file:///C:/x
		}
		return location{kind: kindFile, path: filepath.FromSlash(p)}, nil
	case "gomod":
		return parseGoMod(rest)
	case store.SchemeS3:
		if _, err := store.Parse(raw); err != nil {
			return location{}, err
		}
		return location{kind: kindStore}, nil
	}
	return location{}, fmt.Errorf("unsupported URL scheme %q (want https, http, file, s3, gomod or a local path)", scheme)
}

// CheckLocation reports whether raw is a mirror or URL the fetcher can read
// (https, http, file, s3, gomod or a local path), without fetching anything:
// for checking a configuration before a build starts.
func CheckLocation(raw string) error {
	_, err := parseLocation(raw)
	return err
}

// parseGoMod parses MODULE@VERSION/path/in/module.
func parseGoMod(s string) (location, error) {
	bad := func(why string) (location, error) {
		return location{}, fmt.Errorf("bad gomod URL %q: %s (want gomod://MODULE@VERSION/path/in/module)", "gomod://"+s, why)
	}
	mod, rest, ok := strings.Cut(s, "@")
	if !ok {
		return bad("no @VERSION")
	}
	ver, file, ok := strings.Cut(rest, "/")
	if !ok || file == "" {
		return bad("no file path after the version")
	}
	switch {
	case mod == "":
		return bad("empty module path")
	case ver == "":
		return bad("empty version")
	case strings.HasPrefix(mod, "-") || strings.HasPrefix(ver, "-"):
		return bad("module path and version may not start with '-'")
	case strings.ContainsAny(mod+ver, " \t\n\\"):
		return bad("module path or version contains whitespace or a backslash")
	}
	clean := path.Clean(file)
	if clean != file || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(file, "\\") {
		return bad(fmt.Sprintf("file path %q is not a clean path inside the module", file))
	}
	return location{kind: kindGoMod, module: mod, version: ver, path: clean}, nil
}

// resolveGoMod runs `go mod download -json MODULE@VERSION` and returns the
// local path of the file inside the extracted module. The go command verifies
// the module against go.sum / the checksum database as usual; the file's own
// SHA-256 is still checked afterwards.
func (f *Fetcher) resolveGoMod(ctx context.Context, loc location) (string, error) {
	target := loc.module + "@" + loc.version
	// Run outside any module so the command cannot touch a go.mod or go.sum.
	dir, err := os.MkdirTemp("", "shardsmith-gomod-")
	if err != nil {
		return "", &cacheIOError{op: "create scratch directory for go mod download", err: err}
	}
	defer os.RemoveAll(dir)

	cmd := exec.CommandContext(ctx, f.goCmd, "mod", "download", "-json", target)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	var info struct {
		Path, Version, Dir, Error string
	}
	jsonErr := json.Unmarshal(stdout.Bytes(), &info)
	switch {
	case jsonErr == nil && info.Error != "":
		return "", fmt.Errorf("%s mod download %s: %s", f.goCmd, target, info.Error)
	case runErr != nil:
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return "", fmt.Errorf("%s mod download %s: %v: %s", f.goCmd, target, runErr, msg)
	case jsonErr != nil:
		return "", fmt.Errorf("%s mod download %s: cannot parse its JSON output: %v", f.goCmd, target, jsonErr)
	case info.Dir == "":
		return "", fmt.Errorf("%s mod download %s: output has no Dir", f.goCmd, target)
	}
	return filepath.Join(info.Dir, filepath.FromSlash(loc.path)), nil
}

// copyLocal copies a local file into p, hashing as it goes, so the bytes
// verified are the bytes cached even if the source changes meanwhile.
func (f *Fetcher) copyLocal(ctx context.Context, src Source, name, want, file string, p *partFile) error {
	in, fi, err := openRegular(file)
	if err != nil {
		return err
	}
	defer in.Close()
	if src.Size > 0 && fi.Size() != src.Size {
		return fmt.Errorf("%s has %d bytes, want %d", file, fi.Size(), src.Size)
	}
	if err := p.reset(); err != nil {
		return err
	}
	total := fi.Size()
	f.report(name, 0, total)
	buf := make([]byte, 256<<10)
	r := ctxReader{ctx, in}
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := p.Write(buf[:n]); err != nil {
				return err
			}
			f.report(name, p.n, total)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return rerr
			}
			if pe := (*fs.PathError)(nil); errors.As(rerr, &pe) {
				return rerr // an os.File's error names the file already
			}
			return fmt.Errorf("read %s: %w", file, rerr)
		}
	}
	if got := p.sum(); got != want {
		ce := &ChecksumError{Name: name, URL: file, Want: want, Got: got, Size: p.n}
		if err := p.reset(); err != nil {
			return err
		}
		return ce
	}
	return nil
}

// openRegular opens a source file for reading only if it is a regular file
// (a link to one is fine). Opening a FIFO blocks until a writer appears,
// which may be never, and a device may block or never end; so the path is
// checked before the open, the open itself does not block (O_NONBLOCK
// where the OS has it) in case the path was replaced meanwhile, and the
// opened file is checked again.
func openRegular(file string) (*os.File, os.FileInfo, error) {
	fi, err := os.Stat(file)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			pe.Op = "open" // what the user asked for; names the file
		}
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, notRegular(file, fi.Mode())
	}
	in, err := os.OpenFile(file, os.O_RDONLY|oNonblock, 0)
	if err != nil {
		return nil, nil, err
	}
	if fi, err = in.Stat(); err != nil {
		in.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		in.Close()
		return nil, nil, notRegular(file, fi.Mode())
	}
	return in, fi, nil
}

func notRegular(file string, m os.FileMode) error {
	what := "something else"
	switch {
	case m.IsDir():
		what = "a directory"
	case m&os.ModeNamedPipe != 0:
		what = "a named pipe (FIFO)"
	case m&os.ModeSocket != 0:
		what = "a socket"
	case m&os.ModeCharDevice != 0:
		what = "a character device"
	case m&os.ModeDevice != 0:
		what = "a device"
	}
	return fmt.Errorf("%s is not a regular file but %s; a source must be a regular file (reading anything else may block or never end)", file, what)
}

// copyStore fills p from the object raw (s3://BUCKET/KEY) while hashing it.
func (f *Fetcher) copyStore(ctx context.Context, src Source, name, want, raw string, p *partFile) error {
	loc, err := store.Parse(raw)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, loc.Dir())
	if err != nil {
		return err
	}
	defer st.Close()
	key := loc.Base()
	info, err := st.Stat(ctx, key)
	if err != nil {
		return err
	}
	if src.Size > 0 && info.Size != src.Size {
		return fmt.Errorf("%s has %d bytes, want %d", raw, info.Size, src.Size)
	}
	if err := p.reset(); err != nil {
		return err
	}
	f.report(name, 0, info.Size)
	if _, _, err := st.Download(ctx, key, p); err != nil {
		return err
	}
	f.report(name, p.n, info.Size)
	if got := p.sum(); got != want {
		ce := &ChecksumError{Name: name, URL: raw, Want: want, Got: got, Size: p.n}
		if err := p.reset(); err != nil {
			return err
		}
		return ce
	}
	return nil
}
