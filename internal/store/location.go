// Package store is where datasets and sources live: a local directory or a
// prefix of an object store bucket (s3://BUCKET/PREFIX), behind one small
// API on gocloud.dev/blob. Parse turns what a user typed into a Location
// and refuses any scheme the tools do not support, naming the ones they do;
// Open gives a Store on which an object becomes visible only when its
// writer is closed (Put, Create), and which can Get, Stat, List and Delete.
//
// Credentials and endpoint come from the standard AWS configuration:
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or a profile, AWS_PROFILE),
// AWS_REGION, and AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3) for an
// S3-compatible server. With an endpoint set, requests use path-style
// addressing (http://HOST/BUCKET/KEY), which such servers expect; a URL's
// query can override it (?use_path_style=false) and takes every parameter
// gocloud.dev's s3blob takes (region, endpoint, profile, …).
package store

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

// Supported names the locations the tools accept, for error messages.
const Supported = "a local path, file:///PATH or s3://BUCKET/PREFIX"

// Scheme names.
const (
	SchemeFile = "file"
	SchemeS3   = "s3"
)

// Location is a parsed dataset or source location. A local one has Path
// (a file system path); a remote one has Scheme, Bucket and Key (the
// object key or key prefix, without a leading or trailing slash) and the
// URL's query (the bucket's options).
type Location struct {
	Scheme string // "" (local) or "s3"
	Path   string // local locations
	Bucket string
	Key    string
	Query  string // raw query, passed to the bucket opener
}

// schemeRE matches a URL scheme followed by "://". A single letter is a
// Windows drive (C:\…, C:/…), never a scheme.
var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+)://`)

// looksLikeURL reports whether s begins with a scheme of an object store
// or web URL written with a single slash or none (s3:/bucket, s3:bucket):
// a typo that would otherwise become a local directory named "s3:".
var looksLikeURL = regexp.MustCompile(`^(?i)(s3|gs|azblob|http|https|file|mem|ftp|hdfs|abfs|abfss|wasb|wasbs|minio):`)

// HasScheme reports whether s is written as a URL (SCHEME://…), supported
// or not.
func HasScheme(s string) bool { return schemeRE.MatchString(s) || looksLikeURL.MatchString(s) }

// Parse parses a location: a local path, file:///ABSOLUTE/PATH, or
// s3://BUCKET[/PREFIX][?OPTIONS]. Any other scheme is an error naming the
// supported ones.
func Parse(s string) (Location, error) {
	if s == "" {
		return Location{}, fmt.Errorf("empty location: give %s", Supported)
	}
	m := schemeRE.FindStringSubmatch(s)
	if m == nil {
		if looksLikeURL.MatchString(s) {
			return Location{}, fmt.Errorf("%q looks like a URL without \"//\"; supported: %s", s, Supported)
		}
		return Location{Path: s}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Location{}, fmt.Errorf("location %q: %w", s, err)
	}
	switch scheme := strings.ToLower(m[1]); scheme {
	case SchemeFile:
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("location %q: a file URL names a local path (file:///PATH), not host %q", s, u.Host)
		}
		if u.RawQuery != "" {
			return Location{}, fmt.Errorf("location %q: a file URL takes no query", s)
		}
		if u.Path == "" {
			return Location{}, fmt.Errorf("location %q: no path", s)
		}
		return Location{Path: filepath.FromSlash(u.Path)}, nil
	case SchemeS3:
		if u.Host == "" {
			return Location{}, fmt.Errorf("location %q: no bucket (expected s3://BUCKET/PREFIX)", s)
		}
		if u.User != nil {
			return Location{}, fmt.Errorf("location %q: credentials do not belong in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", redact(u))
		}
		key := strings.Trim(u.Path, "/")
		if key != path.Clean("/" + key)[1:] {
			return Location{}, fmt.Errorf("location %q: key %q is not clean (no empty, . or .. elements)", s, key)
		}
		return Location{Scheme: SchemeS3, Bucket: u.Host, Key: key, Query: u.RawQuery}, nil
	default:
		return Location{}, fmt.Errorf("unsupported location scheme %q in %q; supported: %s", scheme, s, Supported)
	}
}

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// MustLocal parses s and refuses a remote location: for the arguments that
// only a local path can serve. what names the argument (a flag) for the error.
func MustLocal(what, s string) (string, error) {
	loc, err := Parse(s)
	if err != nil {
		return "", fmt.Errorf("%s: %w", what, err)
	}
	if !loc.Local() {
		return "", fmt.Errorf("%s %s: only a local path (or file:///PATH) is supported here", what, s)
	}
	return loc.Path, nil
}

// Local reports whether the location is a local path.
func (l Location) Local() bool { return l.Scheme == "" }

// String is the location as a user writes it: the path, or the URL.
func (l Location) String() string {
	if l.Local() {
		return l.Path
	}
	s := l.Scheme + "://" + l.Bucket
	if l.Key != "" {
		s += "/" + l.Key
	}
	if l.Query != "" {
		s += "?" + l.Query
	}
	return s
}

// Join appends path elements (slash-separated names) to the location.
func (l Location) Join(elem ...string) Location {
	if l.Local() {
		l.Path = filepath.Join(append([]string{l.Path}, elem...)...)
		return l
	}
	parts := append([]string{l.Key}, elem...)
	l.Key = strings.Trim(path.Join(parts...), "/")
	return l
}

// Base is the last element of the location's path or key.
func (l Location) Base() string {
	if l.Local() {
		return filepath.Base(l.Path)
	}
	return path.Base("/" + l.Key)
}

// Dir is the location one element up.
func (l Location) Dir() Location {
	if l.Local() {
		l.Path = filepath.Dir(l.Path)
		return l
	}
	l.Key = strings.Trim(path.Dir("/"+l.Key), "/")
	return l
}

// IsRemote reports whether s is a URL of a remote store (after Parse
// succeeds on it): the test every command makes before choosing between
// its local and its store code path.
func IsRemote(s string) bool {
	loc, err := Parse(s)
	return err == nil && !loc.Local()
}
