package wgpolicy

import "errors"

// Sentinel errors, compared with errors.Is. The errors returned wrap them
// and name the entry or the encoding defect.
var (
	// ErrMalformed means an entry of a destination list does not follow the
	// grammar (see the package documentation).
	ErrMalformed = errors.New("malformed destination")
	// ErrEmpty means a rule set to encode or decode has no destination: an
	// empty list is no policy at all, which is the absence of the extension.
	ErrEmpty = errors.New("empty destination list")
	// ErrTooMany means a list has more than MaxDestinations entries.
	ErrTooMany = errors.New("too many destinations")
	// ErrBadEncoding means an extension value is not the DER Marshal writes.
	ErrBadEncoding = errors.New("bad access policy encoding")
)
