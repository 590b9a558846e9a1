package store

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"

	"github.com/shardsmith/shardsmith/internal/store/storetest"
)

func TestS3Store(t *testing.T) {
	srv := storetest.Start(t)
	st, err := OpenString(context.Background(), srv.URL("root/prefix"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	testStore(t, st)
	// The prefix is where the objects are: top is at root/prefix/top.
	if _, err := os.Stat(srv.ObjectPath("root/prefix/top")); err != nil {
		t.Errorf("object not under the location's prefix: %v", err)
	}
}

func TestS3StoreDown(t *testing.T) {
	srv := storetest.Start(t)
	st, err := OpenString(context.Background(), srv.URL("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv.Stop()
	err = st.Put(context.Background(), "a", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), srv.URL("x/a")) {
		t.Fatalf("Put with the server down: %v, want an error naming the object", err)
	}
	if errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a connection error reads as a missing object: %v", err)
	}
}

func TestS3WrongCredentials(t *testing.T) {
	srv := storetest.Start(t)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
	st, err := OpenString(context.Background(), srv.URL("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	_, err = st.Get(context.Background(), "a")
	if err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Get with a wrong secret: %v, want an access error", err)
	}
	t.Log(err)
}
