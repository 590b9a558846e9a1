package config

import (
	"strings"
	"testing"
)

const archiveValid = `dataset: digits
mirrors: [https://example.org/data/]
sources:
  train: {archive: mnist_png.tar.gz, sha256: ` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `, imagefolder: mnist_png/training}
  test: {archive: lists.zip, sha256: ` + "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210" + `, csv: lists/test.csv, root: ., urls: [file:///srv/lists.zip]}
image: {height: 28, width: 28, channels: 1}
split: {seed: 1}
`

func TestArchiveSources(t *testing.T) {
	c, err := Parse([]byte(archiveValid), "/cfg/digits.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Members are archive names: not resolved against the config's directory.
	if c.Sources.Train.ImageFolder != "mnist_png/training" || c.Sources.Test.Root != "." {
		t.Fatalf("members were rewritten: %+v %+v", c.Sources.Train, c.Sources.Test)
	}
	if u := c.URLs(c.Sources.Train.ArchiveFile()); len(u) != 1 || u[0] != "https://example.org/data/mnist_png.tar.gz" {
		t.Fatalf("train archive URLs = %v", u)
	}
	if u := c.URLs(c.Sources.Test.ArchiveFile()); len(u) != 1 || u[0] != "file:///srv/lists.zip" {
		t.Fatalf("test archive URLs = %v (urls replace the mirrors)", u)
	}
	// The archive, its digest and where it is fetched from are not hashed:
	// the content is (the same tree on disk has the same hashed config).
	disk, err := Parse([]byte(treeValid), "/cfg/pets.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a, d := c.Hashed(), disk.Hashed()
	if !equalJSON(t, a.Sources, d.Sources) {
		t.Fatalf("hashed sources differ: %s vs %s", mustJSON(t, a.Sources), mustJSON(t, d.Sources))
	}
}

func TestArchiveSourceErrors(t *testing.T) {
	sha := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	cases := []struct{ train, want string }{
		{"{archive: a.tgz, imagefolder: x}", `line 4: sources.train: an archive needs sha256, 64 lower-case hex digits of the file as fetched, got ""`},
		{"{archive: a.tgz, sha256: ABC, imagefolder: x}", "an archive needs sha256"},
		{"{archive: a.tgz, sha256: " + sha + "}", "sources.train: needs imagefolder"},
		{"{archive: a.tgz, sha256: " + sha + ", imagefolder: ../x}", `sources.train.imagefolder: "../x" names a member of the archive`},
		{"{archive: a.tgz, sha256: " + sha + ", imagefolder: /x}", `"/x" names a member of the archive`},
		{"{archive: a.tgz, sha256: " + sha + ", csv: l.csv, root: a/../../b}", `sources.train.root: "a/../../b" names a member`},
		{"{imagefolder: x, sha256: " + sha + "}", "sources.train: sha256 and urls pin and locate an archive; give archive too"},
	}
	for _, c := range cases {
		y := "dataset: d\nmirrors: [/m]\nsources:\n  train: " + c.train + "\nimage: {height: 2, width: 2, channels: 1}\n"
		_, err := Parse([]byte(y), "d.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("train %s: err = %v, want it to contain %q", c.train, err, c.want)
		}
	}
	y := "dataset: d\nsources:\n  train: {archive: a.tgz, sha256: " + sha + ", imagefolder: x}\nimage: {height: 2, width: 2, channels: 1}\n"
	if _, err := Parse([]byte(y), "d.yaml"); err == nil || !strings.Contains(err.Error(), "no urls and no mirrors: nowhere to fetch a.tgz from") {
		t.Errorf("no mirrors: err = %v", err)
	}
}
