package config

import (
	"strings"
	"testing"
)

func TestCIFARSources(t *testing.T) {
	ok := "dataset: c\nclasses: [a, b]\nsources:\n  train: {cifar: [data_batch_1.bin, sub/data_batch_2.bin], root: bin}\nimage: {height: 32, width: 32, channels: 3}\n"
	c, err := Parse([]byte(ok), "/cfg/c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources.Train.Root != "/cfg/bin" || c.Sources.Train.CIFAR[1] != "sub/data_batch_2.bin" {
		t.Fatalf("root resolves against the config's directory, the files stay relative to it: %+v", c.Sources.Train)
	}
	cases := []struct{ y, want string }{
		{"classes: [a]\nsources:\n  train: {cifar: [x.bin]}\n", "line 4: sources.train: cifar needs root"},
		{"sources:\n  train: {cifar: [x.bin], root: r}\n", "sources.train: CIFAR files hold label ids only: list the class names in classes"},
		{"classes: [a]\nsources:\n  train: {cifar: [../x.bin], root: r}\n", `sources.train.cifar: "../x.bin" must be relative to root`},
		{"classes: [a]\nsources:\n  train: {cifar: [x.bin], csv: l.csv, root: r}\n", "give one of imagefolder, csv with root, or cifar with root, not both"},
	}
	for _, k := range cases {
		y := "dataset: c\n" + k.y + "image: {height: 32, width: 32, channels: 3}\n"
		if _, err := Parse([]byte(y), "c.yaml"); err == nil || !strings.Contains(err.Error(), k.want) {
			t.Errorf("%q: err = %v, want it to contain %q", k.y, err, k.want)
		}
	}
}
