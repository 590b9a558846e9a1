package dataset

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/shardsmith/shardsmith/formats/manifest"
	"github.com/shardsmith/shardsmith/internal/store"
)

// Resolve turns a path a user typed into a version directory. It accepts a
// version directory (or its manifest.json), a dataset directory (its
// latest version) or an output root of prep holding exactly one dataset
// (its latest version); an ambiguous root is an error listing the choices.
// Errors start with path, so a caller can prefix the flag it came from.
//
// On an object store (s3://…) the same three are accepted, with a dataset
// prefix's latest object in place of the link; a URL of an unsupported
// scheme is an error naming the supported ones.
func Resolve(path string) (string, error) {
	loc, err := store.Parse(path)
	if err != nil {
		return "", err
	}
	if !loc.Local() {
		return resolveRemote(context.Background(), loc)
	}
	path = loc.Path
	if fi, err := os.Stat(path); err == nil && !fi.IsDir() && filepath.Base(path) == manifest.FileName {
		return filepath.Dir(path), nil
	}
	if _, err := os.Stat(filepath.Join(path, manifest.FileName)); err == nil {
		return path, nil
	}
	if _, err := os.Stat(filepath.Join(path, manifest.LatestName, manifest.FileName)); err == nil {
		return filepath.Join(path, manifest.LatestName), nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	var choices []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join(path, e.Name(), manifest.LatestName, manifest.FileName)); err == nil {
			choices = append(choices, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(choices)
	switch len(choices) {
	case 0:
		return "", fmt.Errorf("%s: no dataset version here (expected a manifest.json, a dataset directory with a '%s' link, or an output root of prep)", path, manifest.LatestName)
	case 1:
		return filepath.Join(choices[0], manifest.LatestName), nil
	}
	return "", fmt.Errorf("%s holds %d datasets; name one of:\n  %s", path, len(choices), strings.Join(choices, "\n  "))
}
