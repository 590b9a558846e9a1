package dataset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
	"github.com/shardsmith/shardsmith/formats/vocab"
)

// What a ShardError says disagrees with the manifest (or failed). Besides
// these, Field is a schema metadata key: dataset, version, split, height,
// width, channels, normalize, mean, std or classes.
const (
	FieldFile       = "file"        // the file is missing or cannot be read
	FieldBytes      = "bytes"       // its size
	FieldSHA256     = "sha256"      // the hash of its bytes
	FieldFormat     = "format"      // it is not a readable shard
	FieldRows       = "rows"        // its row count
	FieldDataSHA256 = "data_sha256" // the hash of its uncompressed data (WithDataHash)
)

// ShardError is a shard that cannot be read or disagrees with the manifest.
// Tools that report rather than stop (prep verify) take it apart with
// errors.As; Error is the message for everyone else.
type ShardError struct {
	Path  string // the shard file
	Field string // what is wrong: one of the Field constants or a schema metadata key
	// Got and Want are what the file holds and what the manifest says, for
	// the fields they apply to.
	Got, Want string
	Detail    string // the message without the file name
	Err       error  // the underlying error, for FieldFile and FieldFormat
}

func (e *ShardError) Error() string {
	if e.Field == FieldFormat && strings.Contains(e.Detail, e.Path) {
		return e.Detail // the decoder's messages name the file already
	}
	return "shard " + e.Path + ": " + e.Detail
}

func (e *ShardError) Unwrap() error { return e.Err }

func fileError(path string, err error) *ShardError {
	detail := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		detail = pe.Err.Error()
	}
	return &ShardError{Path: path, Field: FieldFile, Detail: detail, Err: err}
}

func sizeError(path string, got, want int64) *ShardError {
	return &ShardError{Path: path, Field: FieldBytes, Got: strconv.FormatInt(got, 10), Want: strconv.FormatInt(want, 10),
		Detail: fmt.Sprintf("%d bytes, manifest says %d (truncated or replaced)", got, want)}
}

// ShardReader reads the record batches of one shard in order, checking the
// shard against the manifest: its bytes when opened, its schema metadata,
// and its row count (and, with WithDataHash, its data hash) as it is read. A
// shard is only known to be whole once Next or NextBatch reported its end.
// It is not safe for concurrent use.
type ShardReader struct {
	sh   manifest.Shard
	path string
	f    shard.File
	next int // the next record batch
	rows int // rows read so far
	hash *shard.DataHasher
	end  bool
	err  error // the first error; every later call returns it
	// release lets the shard cache evict the file (a no-op for local shards).
	release func()
}

// OpenShard opens shard i of a split (in manifest order). With the default
// WithVerify(true) it hashes the file first, so a damaged file never reaches
// the decoder; then it checks the schema metadata against the manifest.
func (d *Dataset) OpenShard(split vocab.Split, i int) (*ShardReader, error) {
	return d.OpenShardContext(context.Background(), split, i)
}

// OpenShardContext is OpenShard with a context for what it fetches from an
// object store.
func (d *Dataset) OpenShardContext(ctx context.Context, split vocab.Split, i int) (*ShardReader, error) {
	sp, err := d.split(split)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= len(sp.Shards) {
		return nil, fmt.Errorf("dataset %s: split %s has %d shards, no shard %d", d.dir, split, len(sp.Shards), i)
	}
	sh := sp.Shards[i]
	p := filepath.Join(d.dir, sh.Path)
	file, release := p, func() {}
	if d.st != nil {
		// From the store through the cache, which checked its size and
		// SHA-256 on the way in; errors name the object.
		p = d.st.URL(sh.Path)
		if file, release, err = d.fetch(ctx, sh); err != nil {
			return nil, err
		}
	} else if err := d.checkBytes(p, sh); err != nil {
		return nil, err
	}
	f, err := shard.OpenFile(file, shard.WithAllocator(d.opts.mem))
	if err != nil {
		release()
		return nil, &ShardError{Path: p, Field: FieldFormat, Detail: strings.ReplaceAll(err.Error(), file, p), Err: err}
	}
	want := d.meta
	want.Split = sp.Name
	if err := checkMeta(p, f.Meta(), want); err != nil {
		f.Close()
		release()
		return nil, err
	}
	r := &ShardReader{sh: sh, path: p, f: f, release: release}
	if d.opts.dataHash {
		r.hash = shard.NewDataHasher()
	}
	return r, nil
}

// checkBytes checks the size and, as the options say, the SHA-256 of a
// shard file against the manifest.
func (d *Dataset) checkBytes(p string, sh manifest.Shard) error {
	if d.opts.verify == verifyOff || (d.opts.verify == verifyOnce && d.isVerified(p)) {
		fi, err := os.Stat(p)
		if err != nil {
			return fileError(p, err)
		}
		if fi.Size() != sh.Bytes {
			return sizeError(p, fi.Size(), sh.Bytes)
		}
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return fileError(p, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fileError(p, err)
	}
	if n != sh.Bytes {
		return sizeError(p, n, sh.Bytes)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != sh.SHA256 {
		return &ShardError{Path: p, Field: FieldSHA256, Got: got, Want: sh.SHA256,
			Detail: fmt.Sprintf("SHA-256 %s, manifest says %s (the file is damaged or was replaced; prep verify tells more)", got, sh.SHA256)}
	}
	if d.opts.verify == verifyOnce {
		d.setVerified(p)
	}
	return nil
}

func (d *Dataset) isVerified(p string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.verified[p]
}

func (d *Dataset) setVerified(p string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.verified[p] = true
}

// checkMeta compares a shard's schema metadata with what the manifest says,
// field by field, so the error names the field.
func checkMeta(p string, got, want shard.Meta) error {
	for _, f := range []struct {
		key       string
		got, want any
	}{
		{"dataset", got.Dataset, want.Dataset},
		{"version", got.Version, want.Version},
		{"split", string(got.Split), string(want.Split)},
		{"height", got.Height, want.Height},
		{"width", got.Width, want.Width},
		{"channels", got.Channels, want.Channels},
		{"normalize", string(got.Normalize), string(want.Normalize)},
		{"mean", got.Mean, want.Mean},
		{"std", got.Std, want.Std},
		{"classes", got.Classes, want.Classes},
	} {
		if !reflect.DeepEqual(f.got, f.want) { // NaN differs from everything
			g, w := metaValue(f.got), metaValue(f.want)
			return &ShardError{Path: p, Field: f.key, Got: g, Want: w,
				Detail: fmt.Sprintf("schema metadata %s = %s does not match the manifest's %s", f.key, g, w)}
		}
	}
	return nil
}

func metaValue(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case []string:
		b, _ := json.Marshal(v)
		return string(b)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case manifest.Values:
		return v.Text()
	}
	return fmt.Sprint(v)
}

// Shard is the manifest's entry of the shard.
func (r *ShardReader) Shard() manifest.Shard { return r.sh }

// Path is the shard's file.
func (r *ShardReader) Path() string { return r.path }

// NextBatch returns the next record batch (the caller must Release it), or
// nil once the shard is read and its row count matched the manifest.
func (r *ShardReader) NextBatch() (arrow.RecordBatch, error) {
	if r.err != nil || r.end {
		return nil, r.err
	}
	rec, err := r.nextBatch()
	if err != nil {
		r.err = err
	}
	return rec, err
}

func (r *ShardReader) nextBatch() (arrow.RecordBatch, error) {
	if r.next == r.f.NumBatches() {
		r.end = true
		if r.rows != r.sh.Rows {
			return nil, &ShardError{Path: r.path, Field: FieldRows, Got: strconv.Itoa(r.rows), Want: strconv.Itoa(r.sh.Rows),
				Detail: fmt.Sprintf("%d rows, manifest lists %d", r.rows, r.sh.Rows)}
		}
		if r.hash != nil {
			if got := r.hash.Sum(); got != r.sh.DataSHA256 {
				return nil, &ShardError{Path: r.path, Field: FieldDataSHA256, Got: got, Want: r.sh.DataSHA256,
					Detail: fmt.Sprintf("data hash %s, manifest says %s", got, r.sh.DataSHA256)}
			}
		}
		return nil, nil
	}
	rec, err := r.f.Batch(r.next)
	if err != nil {
		return nil, &ShardError{Path: r.path, Field: FieldFormat, Detail: err.Error(), Err: err}
	}
	r.rows += int(rec.NumRows())
	if r.rows > r.sh.Rows {
		rec.Release()
		return nil, &ShardError{Path: r.path, Field: FieldRows, Got: "more than " + strconv.Itoa(r.sh.Rows), Want: strconv.Itoa(r.sh.Rows),
			Detail: fmt.Sprintf("more than the %d rows the manifest lists (batch %d ends at row %d)", r.sh.Rows, r.next, r.rows)}
	}
	if r.hash != nil {
		r.hash.Add(view(rec))
	}
	r.next++
	return rec, nil
}

// Next appends the rows of the next record batch to dst, reusing its
// capacity (a caller's buffer, filled batch by batch). It returns false once
// the shard is read and its row count matched the manifest.
func (r *ShardReader) Next(dst *shard.Rows) (bool, error) {
	rec, err := r.NextBatch()
	if rec == nil {
		return false, err
	}
	shard.AppendRows(dst, rec)
	rec.Release()
	return true, nil
}

// NextView hands the rows of the next record batch to fn without copying
// them: they are valid only during the call (a streamed pass that copies
// each row once, into its own buffer, needs no second copy). It returns
// false once the shard is read and its row count matched the manifest, and
// fn's error if it fails.
func (r *ShardReader) NextView(fn func(rows *shard.Rows) error) (bool, error) {
	rec, err := r.NextBatch()
	if rec == nil {
		return false, err
	}
	defer rec.Release()
	v := view(rec)
	return true, fn(&v)
}

// Close closes the shard file.
func (r *ShardReader) Close() error {
	err := r.f.Close()
	if r.release != nil {
		r.release()
		r.release = nil
	}
	return err
}

// view returns the rows of a validated shard record batch without copying.
func view(rec arrow.RecordBatch) shard.Rows {
	rows := shard.Rows{
		SourceIndex: rec.Column(0).(*array.Uint64).Uint64Values(),
		Label:       rec.Column(1).(*array.Uint8).Uint8Values(),
		Copy:        rec.Column(2).(*array.Uint16).Uint16Values(),
	}
	img := rec.Column(3).(*array.FixedSizeList)
	elems := int(img.DataType().(*arrow.FixedSizeListType).Len())
	lo, hi := img.Offset()*elems, (img.Offset()+img.Len())*elems
	switch v := img.ListValues().(type) {
	case *array.Float32:
		rows.ImageF32 = v.Float32Values()[lo:hi]
	case *array.Uint8:
		rows.ImageU8 = v.Uint8Values()[lo:hi]
	}
	if rec.NumCols() > 4 { // source_path (image tree and list sources)
		paths := rec.Column(4).(*array.String)
		rows.SourcePath = make([]string, paths.Len())
		for i := range rows.SourcePath {
			rows.SourcePath[i] = paths.Value(i)
		}
	}
	return rows
}
