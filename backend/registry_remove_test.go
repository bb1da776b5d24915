package backend

import (
	"fmt"
	"slices"
	"testing"
)

// Taking one serial out of an identity's list of thousands allocates
// nothing: a mass revocation of one identity's certificates is not
// quadratic in garbage.
func TestRemoveSerialInPlace(t *testing.T) {
	m := map[string][]string{}
	for i := range 5000 {
		m["id"] = append(m["id"], fmt.Sprintf("s%d", i))
	}
	next := 0
	allocs := testing.AllocsPerRun(1000, func() {
		removeSerial(m, "id", fmt.Sprint("s", next))
		next++
	})
	// fmt.Sprint's string is the one allocation a run makes.
	if allocs > 1 {
		t.Errorf("removeSerial allocated %.0f times per call on a list of thousands", allocs)
	}
	if got, want := len(m["id"]), 5000-1001; got != want {
		t.Errorf("%d serials left, want %d", got, want)
	}
	if m["id"][0] != "s1001" {
		t.Errorf("first serial %s, want s1001 (order kept)", m["id"][0])
	}
	removeSerial(m, "id", "absent")
	for _, s := range slices.Clone(m["id"]) {
		removeSerial(m, "id", s)
	}
	if _, ok := m["id"]; ok {
		t.Error("an empty list is kept")
	}
}
