package wgquick

import "errors"

// ErrValue is wrapped by every error of Render and the Check functions: a
// value that cannot stand where the file would put it.
var ErrValue = errors.New("cannot go into a wg-quick file")

// A ValueError is a value Render refused, with the key it was for ("comment"
// for a comment line). It wraps ErrValue.
type ValueError struct {
	Key string
	Err error
}

// Error names the key and what is wrong with the value.
func (e *ValueError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns what is wrong with the value.
func (e *ValueError) Unwrap() error { return e.Err }
