// Command manifestcheck answers, for each manifest it is given, whether the
// Go reader accepts it: the differential oracle of the Python package's
// manifest fuzz tests (python/tests/test_fuzz_manifest.py).
//
// Input on stdin: a sequence of manifests, each a 4-byte big-endian length
// and that many bytes. Output on stdout: one line per manifest, "ok" or
// "err " and the error with newlines escaped, flushed after each, so one
// process serves a whole test session.
//
// Accepted means what formats/dataset.Load accepts of a manifest:
// manifest.Parse, then the normalize mode's image dtype (shardsmith's parse
// checks both).
package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shardsmith/shardsmith/formats/manifest"
)

func check(data []byte) error {
	m, err := manifest.Parse(data)
	if err != nil {
		return err
	}
	want := "uint8"
	if m.Normalize.Mode.Float() {
		want = "float32"
	}
	if m.Image.DType != want {
		return fmt.Errorf("normalize mode %q needs image dtype %s, manifest says %s", m.Normalize.Mode, want, m.Image.DType)
	}
	return nil
}

func main() {
	in := bufio.NewReader(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	var n [4]byte
	for {
		if _, err := io.ReadFull(in, n[:]); err != nil {
			if err == io.EOF {
				return
			}
			fmt.Fprintln(os.Stderr, "manifestcheck: reading a length:", err)
			os.Exit(1)
		}
		data := make([]byte, binary.BigEndian.Uint32(n[:]))
		if _, err := io.ReadFull(in, data); err != nil {
			fmt.Fprintln(os.Stderr, "manifestcheck: reading a manifest:", err)
			os.Exit(1)
		}
		if err := check(data); err != nil {
			fmt.Fprintln(out, "err", strings.ReplaceAll(err.Error(), "\n", `\n`))
		} else {
			fmt.Fprintln(out, "ok")
		}
		if err := out.Flush(); err != nil {
			os.Exit(1)
		}
	}
}
