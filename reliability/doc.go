// Package reliability is the end-to-end fault-injection suite of shardsmith.
//
// It has no code of its own. Its tests build the prep and trainer commands,
// run them as a user would — against local HTTP mirrors that fail on cue,
// on damaged inputs and configurations, under SIGINT, SIGTERM and SIGKILL,
// with a file-size limit standing in for a full disk — and record, for every
// case, what was injected, the exit status, the message the user reads and
// what is on disk afterwards. Those records are RELIABILITY.md at the root of
// the repository: the test fails when the file differs from what the tests
// observe, and `go test ./reliability -update` rewrites it.
package reliability
