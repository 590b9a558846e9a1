// Package storetest runs a real S3 server for tests: versitygw (Apache-2.0)
// on a free loopback port, serving a temporary directory, stopped when the
// test ends. A test that needs it calls Start; where the versitygw binary
// is missing the test is skipped, saying how to install it — except under
// CI=true, where it fails, so CI never passes by skipping.
//
// Install: go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
// (found on PATH, in $GOBIN or in $(go env GOPATH)/bin).
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The credentials of the test server (it listens on loopback only).
const (
	AccessKey = "shardsmith-test"
	SecretKey = "shardsmith-test-secret"
	Bucket    = "data"
)

// Install is the command that installs the server.
const Install = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Server is a running versitygw.
type Server struct {
	t        testing.TB
	bin, dir string
	Addr     string // host:port
	Endpoint string // http://host:port

	mu  sync.Mutex
	cmd *exec.Cmd
	log *bytes.Buffer
}

// Binary finds versitygw, or returns "".
func Binary() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	var dirs []string
	if d := os.Getenv("GOBIN"); d != "" {
		dirs = append(dirs, d)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// Start starts a server with an empty bucket Bucket and points the AWS
// environment of the test (and of the processes it starts) at it:
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL, AWS_REGION.
// The server is stopped and its directory removed when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "versitygw is not installed (" + Install + "); skipping the object store test"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " — CI must run it")
		}
		t.Skip(msg)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	if err := os.Mkdir(filepath.Join(s.dir, Bucket), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = l.Addr().String()
	l.Close()
	s.Endpoint = "http://" + s.Addr
	if err := s.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	for k, v := range s.Env() {
		t.Setenv(k, v)
	}
	return s
}

// Env is the AWS environment that reaches the server.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":     AccessKey,
		"AWS_SECRET_ACCESS_KEY": SecretKey,
		"AWS_ENDPOINT_URL":      s.Endpoint,
		"AWS_REGION":            "us-east-1",
		// No shared config or credentials file of the machine may interfere.
		"AWS_CONFIG_FILE":             filepath.Join(s.dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE": filepath.Join(s.dir, "no-aws-credentials"),
		"AWS_PROFILE":                 "",
		"AWS_SESSION_TOKEN":           "",
		"AWS_ENDPOINT_URL_S3":         "",
	}
}

// URL is s3://Bucket/key.
func (s *Server) URL(key string) string {
	if key == "" {
		return "s3://" + Bucket
	}
	return "s3://" + Bucket + "/" + strings.TrimPrefix(key, "/")
}

// Dir is the directory the server serves; the bucket is Dir()/Bucket, an
// object is a file under it (tests damage objects there).
func (s *Server) Dir() string { return s.dir }

// ObjectPath is the file that holds the object key of the bucket.
func (s *Server) ObjectPath(key string) string {
	return filepath.Join(s.dir, Bucket, filepath.FromSlash(key))
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	s.log = &bytes.Buffer{}
	cmd := exec.Command(s.bin, "--access", AccessKey, "--secret", SecretKey, "--port", s.Addr, "posix", s.dir)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting versitygw: %w", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			s.cmd = nil
			return fmt.Errorf("versitygw did not answer on %s within 30s: %v\n%s", s.Addr, err, s.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server (a test fault: the store goes away). It may be
// started again with Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Restart starts a stopped server again on the same address and directory.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatal(err)
	}
}

// Log is what the server printed.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// Ctx is a context for a test's store calls.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
