// Package memlimit keeps the plugin's memory near what it holds at rest.
//
// Go's collector lets the heap grow to twice what was live at the last
// collection (GOGC=100). For the plugin that doubles transients too: while
// gateways read their full feeds, each page in flight is held in several
// copies (the page, the SDK's JSON of it with base64, the protobuf string,
// gRPC's buffer), and a collection that finds them live lets the heap grow
// to twice the registry plus twice the pages. A Controller sets a soft
// memory limit (runtime/debug.SetMemoryLimit) from the live heap at rest:
// twice the smallest live heap of the last seconds plus a margin, which
// GOGC=100 at rest barely reaches (so it costs next to no collection
// then), and which transients above rest reach, so that they are collected
// sooner instead of doubled. The limit is never under twice the live heap
// less a bounded transient, so a heap far above rest (an old daemon's
// unpaged full read) is paced almost as GOGC=100 paces it and never
// collected back to back, and it comes down gradually. A mount loading its
// certificates grows the heap for good: it holds the controller (Hold),
// which then takes what is live as the rest.
//
// GOGC or GOMEMLIMIT in the plugin's environment turns it off: the
// operator's setting is the collector's.
package memlimit
