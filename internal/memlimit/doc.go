// Package memlimit keeps a process's memory near what it holds: a
// Controller sets a soft memory limit (runtime/debug.SetMemoryLimit) that
// follows the live heap, by a Policy. The plugin and wg-gateway use it,
// each with its own policy.
//
// The plugin's (PluginPolicy): Go's collector lets the heap grow to twice
// what was live at the last collection (GOGC=100). For the plugin that
// doubles transients too: while gateways read their full feeds, each page
// in flight is held in several copies (the page, the SDK's JSON of it with
// base64, the protobuf string, gRPC's buffer), and a collection that finds
// them live lets the heap grow to twice the registry plus twice the pages.
// The limit follows the live heap at rest: twice the smallest live heap of
// the last seconds plus a margin, which GOGC=100 at rest barely reaches
// (so it costs next to no collection then), and which transients above
// rest reach, so that they are collected sooner instead of doubled. The
// limit is never under twice the live heap less a bounded transient, so a
// heap far above rest (an old daemon's unpaged full read) is paced almost
// as GOGC=100 paces it and never collected back to back, and it comes down
// gradually. A mount loading its certificates grows the heap for good: it
// holds the controller (Hold), which then takes what is live as the rest.
//
// wg-gateway's (cmd/wg-gateway/gateway, memoryPolicy) paces a small heap
// by a higher GOGC and keeps a large one near what GOGC=50 allows, without
// a window: its cold start allocates far more than it keeps.
//
// GOGC or GOMEMLIMIT in the process's environment turns it off: the
// operator's setting is the collector's.
package memlimit
