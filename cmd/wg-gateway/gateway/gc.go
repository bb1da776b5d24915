package gateway

import "runtime/debug"

// gcPercent is the daemon's garbage collection target (GOGC) unless its
// environment sets GOGC. Go's default, 100, lets the heap grow to twice
// what is live before it collects; during a cold start almost all that
// is live is the peer state being built, so the peak was twice the
// state: 101–107 MB of RSS at 50,000 peers with rules, against 86 MB at
// 50. At rest the daemon allocates little, so the extra collections cost
// CPU only while a large feed answer is read, and there no more than the
// bench can tell from noise (P4, 10,000 peers, the daemon's CPU to
// converge: 820–980 ms at 50, 880–1,010 ms at 100, back to back).
const gcPercent = 50

// tuneGC sets GOGC to gcPercent unless lookup (os.LookupEnv) finds GOGC
// set: the operator's choice wins.
func tuneGC(lookup func(string) (string, bool)) {
	if _, set := lookup("GOGC"); set {
		return
	}
	debug.SetGCPercent(gcPercent)
}
