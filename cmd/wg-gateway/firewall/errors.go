package firewall

import "errors"

// ErrUnavailable is returned by Open when the kernel's nftables cannot be
// reached (no permission, no nf_tables, no netlink).
var ErrUnavailable = errors.New("nftables unavailable")
