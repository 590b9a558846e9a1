//go:build unix

package reliability

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/tinyset"
)

var archiveInputs = addSection(83, "Bad archives and CIFAR files",
	"`prep run` of a config whose splits come from an archive in a local mirror (`train: {archive: pets.tar.gz, "+
		"sha256: …, imagefolder: pets/train}`, the valid tree of the section above packed under `pets/`) or from "+
		"CIFAR-10 binary files, with one thing wrong. Each case exits 1 naming the archive and member, or the file "+
		"and byte offset, and publishes nothing.",
	func() int { return len(archiveCases) })

type archiveCase struct {
	name, injected string
	// setup writes what the case needs under data and returns the config text.
	setup func(t *testing.T, data string) string
	want  []string
}

// packTree packs the valid tree under data as pets/… in format, with extra
// members, and returns the archive.
func packTree(t *testing.T, data, format string, extra ...tinyset.Member) []byte {
	b, err := tinyset.Pack(filepath.Join(data, "tree"), "pets", format, extra...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// archiveYAML is a config reading train and test from name in $DATA/mirror,
// pinned by sha (the archive's digest unless the case says otherwise).
func archiveYAML(data, name string, archive []byte, train string) string {
	sum := sha256.Sum256(archive)
	sha := hex.EncodeToString(sum[:])
	return fmt.Sprintf("dataset: pets\nmirrors: [%s]\nsources:\n  train: {archive: %s, sha256: %s, imagefolder: %s}\n  test: {archive: %[2]s, sha256: %[3]s, imagefolder: pets/test}\n"+
		"image: {height: 8, width: 8, channels: 1}\nsplit: {seed: 1}\n", filepath.Join(data, "mirror"), name, sha, train)
}

func cifarRecords(labels ...byte) []byte {
	var b bytes.Buffer
	for i, l := range labels {
		rec := make([]byte, 3073)
		rec[0] = l
		for j := 1; j < len(rec); j++ {
			rec[j] = byte(i + j)
		}
		b.Write(rec)
	}
	return b.Bytes()
}

const cifarYAML = "dataset: tiny-cifar\nclasses: [airplane, automobile, bird]\nsources:\n  train: {cifar: [data_batch_1.bin, data_batch_2.bin], root: bin}\n" +
	"image: {height: 32, width: 32, channels: 3}\nsplit: {seed: 1}\n"

var archiveCases = []archiveCase{
	{"member leaving the archive", "the tar.gz also holds `pets/train/cat/../../../evil.png`", func(t *testing.T, data string) string {
		a := packTree(t, data, tinyset.TarGz, tinyset.Member{Name: "pets/train/cat/../../../evil.png", Body: grayPNG(t, 8, 8, 1)})
		putFile(t, filepath.Join(data, "mirror", "pets.tar.gz"), a)
		return archiveYAML(data, "pets.tar.gz", a, "pets/train")
	}, []string{"archive pets.tar.gz", `member "pets/train/cat/../../../evil.png" has a .. component`}},
	{"absolute member in a zip", "the zip also holds `/etc/evil.png`", func(t *testing.T, data string) string {
		a := packTree(t, data, tinyset.Zip, tinyset.Member{Name: "/etc/evil.png", Body: grayPNG(t, 8, 8, 1)})
		putFile(t, filepath.Join(data, "mirror", "pets.zip"), a)
		return archiveYAML(data, "pets.zip", a, "pets/train")
	}, []string{"archive pets.zip", `member "/etc/evil.png" is absolute`}},
	{"symbolic link member", "`pets/train/cat/l.png` in the tar is a symbolic link to `/etc/passwd`", func(t *testing.T, data string) string {
		a := packTree(t, data, tinyset.Tar, tinyset.Member{Name: "pets/train/cat/l.png", Link: "/etc/passwd"})
		putFile(t, filepath.Join(data, "mirror", "pets.tar"), a)
		return archiveYAML(data, "pets.tar", a, "pets/train")
	}, []string{"pets.tar:pets/train/cat/l.png: is a symbolic link inside the archive; links in archives are not followed"}},
	{"missing member directory", "`imagefolder: pets/training`; the archive holds `pets/train`", func(t *testing.T, data string) string {
		a := packTree(t, data, tinyset.TarGz)
		putFile(t, filepath.Join(data, "mirror", "pets.tar.gz"), a)
		return archiveYAML(data, "pets.tar.gz", a, "pets/training")
	}, []string{"imagefolder pets.tar.gz:pets/training: no such directory in archive pets.tar.gz", `"pets/"`}},
	{"truncated tar.gz", "the mirror's tar.gz is cut in half, and pinned as it is", func(t *testing.T, data string) string {
		a := packTree(t, data, tinyset.TarGz)
		a = a[:len(a)/2]
		putFile(t, filepath.Join(data, "mirror", "pets.tar.gz"), a)
		return archiveYAML(data, "pets.tar.gz", a, "pets/train")
	}, []string{"archive pets.tar.gz: gzip: unexpected EOF"}},
	{"archive failing its sha256", "the config's sha256 is of another archive", func(t *testing.T, data string) string {
		a := packTree(t, data, tinyset.TarGz)
		putFile(t, filepath.Join(data, "mirror", "pets.tar.gz"), a)
		return archiveYAML(data, "pets.tar.gz", []byte("another archive"), "pets/train")
	}, []string{"train archive pets.tar.gz", "sha256 mismatch"}},
	{"truncated CIFAR file", "`bin/data_batch_2.bin` ends 100 bytes into its second record", func(t *testing.T, data string) string {
		putFile(t, filepath.Join(data, "bin", "data_batch_1.bin"), cifarRecords(0, 1, 2, 0, 1, 2))
		putFile(t, filepath.Join(data, "bin", "data_batch_2.bin"), cifarRecords(0, 1)[:3073+100])
		return cifarYAML
	}, []string{"cifar $DATA/bin/data_batch_2.bin", "record 1, at offset 3073, is cut short (100 of 3073 bytes)"}},
	{"CIFAR label beyond the classes", "record 4 of `bin/data_batch_1.bin` has label 7 (3 classes)", func(t *testing.T, data string) string {
		putFile(t, filepath.Join(data, "bin", "data_batch_1.bin"), cifarRecords(0, 1, 2, 0, 7, 2))
		putFile(t, filepath.Join(data, "bin", "data_batch_2.bin"), cifarRecords(0, 1))
		return cifarYAML
	}, []string{"cifar $DATA/bin/data_batch_1.bin: record 4 at offset 12292: label 7, but there are 3 classes"}},
}

func TestBadArchives(t *testing.T) {
	for i, c := range archiveCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			writeTree(t, filepath.Join(e.data, "tree"))
			cfg := filepath.Join(e.data, "c.yaml")
			writeFile(t, cfg, []byte(c.setup(t, e.data)))
			r := e.prepRun(cfg)
			wantCode(t, r, 1)
			if strings.Contains(r.stderr, "panic") || strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("panic:\n%s", r.stderr)
			}
			seen := e.scrub(finalError(r.stderr, "prep: "))
			for _, w := range c.want {
				if !strings.Contains(seen, w) {
					t.Fatalf("message %q lacks %q", seen, w)
				}
			}
			ds := "pets"
			if strings.Contains(c.name, "CIFAR") {
				ds = "tiny-cifar"
			}
			s := e.state(ds)
			s.clean(t)
			archiveInputs.record(t, i, Row{Case: c.name, Injected: c.injected, Exit: r.code, Sees: seen, Disk: s.String()})
		})
	}
}
