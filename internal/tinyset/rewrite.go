package tinyset

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/formats/shard"
)

// RewriteShard replaces the shard file name of the version in dir by the
// rows it holds (or those rows returns) written with the metadata edit
// makes, and updates that shard's size and hashes in the manifest (not its
// row counts), so the file matches its SHA-256 and only what the shard
// itself says can contradict the manifest: how tests build a version whose
// shards disagree with it in one field.
func RewriteShard(dir, name string, edit func(*shard.Meta), rows func(shard.Rows) shard.Rows, opts ...shard.Option) error {
	p := filepath.Join(dir, name)
	r, err := shard.OpenFile(p)
	if err != nil {
		return err
	}
	meta := r.Meta()
	all, err := r.ReadAll()
	r.Close()
	if err != nil {
		return err
	}
	if edit != nil {
		edit(&meta)
	}
	if rows != nil {
		all = rows(all)
	}
	write := shard.Write
	if strings.HasSuffix(name, ".parquet") {
		write = shard.WriteParquet
	}
	var buf bytes.Buffer
	res, err := write(&buf, meta, all, opts...)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		return err
	}
	m, err := manifest.Load(dir)
	if err != nil {
		return err
	}
	found := false
	for i := range m.Splits {
		for j := range m.Splits[i].Shards {
			if sh := &m.Splits[i].Shards[j]; sh.Path == name {
				sum := sha256.Sum256(buf.Bytes())
				sh.SHA256, sh.Bytes, sh.DataSHA256 = hex.EncodeToString(sum[:]), int64(buf.Len()), res.DataSHA256
				found = true
			}
		}
	}
	if !found {
		return fmt.Errorf("tinyset: the manifest in %s does not list %s", dir, name)
	}
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, manifest.FileName), b, 0o644)
}
