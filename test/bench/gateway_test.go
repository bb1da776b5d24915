package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLineWriter checks that the daemon's log reaches the file whole and
// that each line is seen once, whole, however the writes split it.
func TestLineWriter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		lines  []string
	}{
		{"one line per write", []string{"a\n", "b\n"}, []string{"a", "b"}},
		{"lines split across writes", []string{"applied: in", "dex=3 added_or_updated=2\nnext", "\n"},
			[]string{"applied: index=3 added_or_updated=2", "next"}},
		{"several lines in one write", []string{"a\nb\nc"}, []string{"a", "b"}},
		{"empty lines", []string{"\n\n"}, []string{"", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			var lines []string
			w := &lineWriter{out: &out, line: func(l string) { lines = append(lines, l) }}
			all := ""
			for _, s := range tc.writes {
				n, err := w.Write([]byte(s))
				require.NoError(t, err)
				require.Equal(t, len(s), n)
				all += s
			}
			require.Equal(t, tc.lines, lines)
			require.Equal(t, all, out.String())
		})
	}
}

// TestParseApplied reads the counts of an applied line.
func TestParseApplied(t *testing.T) {
	ev := parseApplied("level=DEBUG msg=applied: index=7 added_or_updated=3 removed=2", time.Time{})
	require.Equal(t, 3, ev.Added)
	require.Equal(t, 2, ev.Removed)
}
