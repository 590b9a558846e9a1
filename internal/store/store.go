package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	gcaws "gocloud.dev/aws"
	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/blob/s3blob"
	"gocloud.dev/gcerrors"
)

// Store is a location opened for reading and writing objects by key
// (slash-separated, relative to the location). Its methods may be called
// concurrently.
type Store struct {
	loc Location
	b   *blob.Bucket
}

// defaultRegion is used when neither the environment nor the URL names one:
// S3-compatible servers accept any region, and AWS redirects none of the
// calls made here.
const defaultRegion = "us-east-1"

// Open opens a location. A local one is served by fileblob (the directory
// is created on the first write); s3:// by s3blob with the standard AWS
// configuration (see the package documentation).
func Open(ctx context.Context, loc Location) (*Store, error) {
	if loc.Local() {
		if err := os.MkdirAll(loc.Path, 0o755); err != nil {
			return nil, fmt.Errorf("store %s: %w", loc, err)
		}
		abs, err := filepath.Abs(loc.Path)
		if err != nil {
			return nil, err
		}
		b, err := fileblob.OpenBucket(abs, &fileblob.Options{NoTempDir: true, Metadata: fileblob.MetadataDontWrite})
		if err != nil {
			return nil, fmt.Errorf("store %s: %w", loc, err)
		}
		return &Store{loc: loc, b: b}, nil
	}
	b, err := openS3(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", loc, err)
	}
	if loc.Key != "" {
		b = blob.PrefixedBucket(b, loc.Key+"/")
	}
	return &Store{loc: loc, b: b}, nil
}

// OpenString parses and opens a location.
func OpenString(ctx context.Context, s string) (*Store, error) {
	loc, err := Parse(s)
	if err != nil {
		return nil, err
	}
	return Open(ctx, loc)
}

func openS3(ctx context.Context, loc Location) (*blob.Bucket, error) {
	q, err := url.ParseQuery(loc.Query)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	pathStyle := -1 // unset
	for _, k := range []string{"use_path_style", "s3ForcePathStyle"} {
		if v := q.Get(k); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("invalid value for %q: %w", k, err)
			}
			pathStyle = map[bool]int{false: 0, true: 1}[b]
			q.Del(k)
		}
	}
	endpointParam := q.Get("endpoint") != ""
	cfg, err := gcaws.V2ConfigFromURLParams(ctx, q)
	if err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = defaultRegion
	}
	custom := endpointParam || cfg.BaseEndpoint != nil || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		// An S3-compatible server (an endpoint of its own) is addressed
		// path-style unless the URL says otherwise.
		o.UsePathStyle = pathStyle == 1 || pathStyle == -1 && custom
	})
	return s3blob.OpenBucket(ctx, client, loc.Bucket, &s3blob.Options{RequestChecksumCalculation: cfg.RequestChecksumCalculation})
}

// Location is where the store is.
func (s *Store) Location() Location { return s.loc }

// URL is the location of key, as a user would write it (for messages).
func (s *Store) URL(key string) string { return s.loc.Join(key).String() }

// Close releases the store's connections.
func (s *Store) Close() error { return s.b.Close() }

// wrap turns a blob error into one that names the object and matches
// fs.ErrNotExist where the object is missing.
func (s *Store) wrap(op, key string, err error) error {
	if err == nil {
		return nil
	}
	if gcerrors.Code(err) == gcerrors.NotFound {
		return &fs.PathError{Op: op, Path: s.URL(key), Err: fs.ErrNotExist}
	}
	return &fs.PathError{Op: op, Path: s.URL(key), Err: simplify(err)}
}

// simplify strips gocloud's own prefix ("blob (key …) (code=…):") from an
// error: the PathError names the object already.
func simplify(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "): "); strings.HasPrefix(msg, "blob (") && i > 0 {
		return &wrapped{msg: msg[i+3:], err: err}
	}
	return err
}

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }

// Writer writes one object. Nothing is visible under its key until Close
// returns nil; Abort (or a failed Write or Close) leaves whatever was there
// before, untouched.
type Writer struct {
	s      *Store
	key    string
	w      *blob.Writer
	cancel context.CancelFunc
	h      hash.Hash
	n      int64
	done   bool
}

// Create starts writing the object key.
func (s *Store) Create(ctx context.Context, key string) (*Writer, error) {
	ctx, cancel := context.WithCancel(ctx)
	w, err := s.b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "application/octet-stream", DisableContentTypeDetection: true})
	if err != nil {
		cancel()
		return nil, s.wrap("create", key, err)
	}
	return &Writer{s: s, key: key, w: w, cancel: cancel, h: sha256.New()}, nil
}

func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	if err != nil {
		return n, w.s.wrap("write", w.key, err)
	}
	return n, nil
}

// Close makes the object visible.
func (w *Writer) Close() error {
	if w.done {
		return nil
	}
	w.done = true
	defer w.cancel()
	return w.s.wrap("write", w.key, w.w.Close())
}

// Abort discards what was written: the object is not created or replaced.
func (w *Writer) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.cancel() // a cancelled context makes Close discard the upload
	w.w.Close()
}

// SHA256 is the hex SHA-256 of the bytes written so far; Size their count.
func (w *Writer) SHA256() string { return hex.EncodeToString(w.h.Sum(nil)) }

// Size is the number of bytes written so far.
func (w *Writer) Size() int64 { return w.n }

// Put writes data as the object key, visible once Put returns nil.
func (s *Store) Put(ctx context.Context, key string, data []byte) error {
	w, err := s.Create(ctx, key)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// PutFile uploads the local file src as the object key.
func (s *Store) PutFile(ctx context.Context, key, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := s.Create(ctx, key)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, f); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// Get reads the whole object key. A missing object is an error matching
// fs.ErrNotExist.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := s.b.ReadAll(ctx, key)
	return b, s.wrap("get", key, err)
}

// Open opens the object key for reading.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	r, err := s.b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, s.wrap("open", key, err)
	}
	return &reader{s: s, key: key, r: r}, nil
}

type reader struct {
	s   *Store
	key string
	r   *blob.Reader
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = r.s.wrap("read", r.key, err)
	}
	return n, err
}

func (r *reader) Close() error { return r.r.Close() }

// Info describes one object.
type Info struct {
	Key     string // relative to the store (or, from List, to its prefix argument's store)
	Size    int64
	ModTime time.Time
	IsDir   bool // List with a delimiter: a common prefix, Key ends in "/"
}

// Stat describes the object key. A missing object is an error matching
// fs.ErrNotExist.
func (s *Store) Stat(ctx context.Context, key string) (Info, error) {
	a, err := s.b.Attributes(ctx, key)
	if err != nil {
		return Info{}, s.wrap("stat", key, err)
	}
	return Info{Key: key, Size: a.Size, ModTime: a.ModTime}, nil
}

// List lists the objects whose keys start with prefix, sorted by key. With
// dirs, keys are cut after the next "/" past prefix and each such "directory"
// is listed once (IsDir).
func (s *Store) List(ctx context.Context, prefix string, dirs bool) ([]Info, error) {
	opts := &blob.ListOptions{Prefix: prefix}
	if dirs {
		opts.Delimiter = "/"
	}
	it := s.b.List(opts)
	var out []Info
	for {
		o, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, s.wrap("list", prefix, err)
		}
		out = append(out, Info{Key: o.Key, Size: o.Size, ModTime: o.ModTime, IsDir: o.IsDir})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes the object key; a missing object is no error.
func (s *Store) Delete(ctx context.Context, key string) error {
	err := s.b.Delete(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil
	}
	return s.wrap("delete", key, err)
}

// DeletePrefix removes every object under prefix (which should end in "/").
func (s *Store) DeletePrefix(ctx context.Context, prefix string) error {
	objs, err := s.List(ctx, prefix, false)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range objs {
		errs = append(errs, s.Delete(ctx, o.Key))
	}
	return errors.Join(errs...)
}

// Download copies the object key into the file dst (created or truncated),
// returning its size and SHA-256.
func (s *Store) Download(ctx context.Context, key string, dst io.Writer) (int64, string, error) {
	r, err := s.Open(ctx, key)
	if err != nil {
		return 0, "", err
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(dst, h), r)
	if err != nil {
		return n, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}
