package main

import (
	"context"
	"errors"

	"github.com/shardsmith/shardsmith/trainer"
)

// interruptedError carries, with the error of an interrupted training
// loop, what the run directory holds, for the one-line message.
type interruptedError struct {
	err  error
	note string
}

func (e *interruptedError) Error() string { return e.err.Error() }
func (e *interruptedError) Unwrap() error { return e.err }

// interrupted attaches to err, when ctx was cancelled (SIGINT, SIGTERM),
// what the run directory dir keeps.
func interrupted(ctx context.Context, err error, dir string) error {
	if ctx.Err() == nil {
		return err
	}
	return &interruptedError{err: err, note: trainer.CheckpointNote(dir)}
}

// interruptNote is the end of the "interrupted" message: what the run
// directory keeps, where the interrupted command knew one.
func interruptNote(err error) string {
	if ie, ok := errors.AsType[*interruptedError](err); ok {
		return ie.note
	}
	return "nothing was written"
}
