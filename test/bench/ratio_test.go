package main

import (
	"math"
	"testing"
)

func TestPairedRatios(t *testing.T) {
	s := pairedRatios([]float64{90, 110, 100, 50}, []float64{100, 100, 100, 0})
	if s.Rounds != 3 {
		t.Fatalf("rounds %d, want 3 (the round with a zero anchor is left out)", s.Rounds)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"median", s.Median, 1.0}, {"min", s.Min, 0.9}, {"max", s.Max, 1.1}} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s %v, want %v", c.name, c.got, c.want)
		}
	}
	if got, want := s.String(), "1.00 (0.90–1.10, 3 rounds)"; got != want {
		t.Errorf("String %q, want %q", got, want)
	}
	// The ratio of medians is not the median of the ratios: rounds where
	// both engines slowed together must not hide a round we lost.
	s = pairedRatios([]float64{100, 60, 200}, []float64{90, 70, 150})
	if math.Abs(s.Min-60.0/70) > 1e-9 || math.Abs(s.Median-100.0/90) > 1e-9 {
		t.Errorf("got %+v", s)
	}
	if s := pairedRatios(nil, nil); s.Rounds != 0 || s.String() != "no rounds" {
		t.Errorf("empty: %+v %q", s, s.String())
	}
}

func TestRatioGoalVerdict(t *testing.T) {
	atLeast := ratioGoal{Bound: 1.0, MedianBound: 1.2}
	atMost := ratioGoal{Bound: 1.2, AtMost: true}
	for _, c := range []struct {
		name   string
		goal   ratioGoal
		ratios []float64
		want   string
	}{
		{"all rounds above, median above", atLeast, []float64{1.1, 1.3, 1.25}, "met"},
		{"one round below", atLeast, []float64{0.97, 1.3, 1.25}, "MISSED (median meets it, not every round)"},
		{"every round ≥ 1 but median < 1.2", atLeast, []float64{1.05, 1.1, 1.15}, "MISSED (every round meets the bound, not the median goal)"},
		{"median below", atLeast, []float64{0.7, 0.8, 1.3}, "MISSED"},
		{"exactly on the bound", ratioGoal{Bound: 1.0}, []float64{1.0, 1.0}, "met"},
		{"at most: all below", atMost, []float64{1.0, 1.1, 1.19}, "met"},
		{"at most: one above", atMost, []float64{1.0, 1.1, 1.3}, "MISSED (median meets it, not every round)"},
		{"at most: median above", atMost, []float64{1.3, 2.0, 1.1}, "MISSED"},
		{"no rounds", atMost, nil, "MISSED (no rounds)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := pairedRatios(c.ratios, ones(len(c.ratios)))
			if got := c.goal.verdict(s); got != c.want {
				t.Errorf("verdict %q, want %q (%v)", got, c.want, s)
			}
		})
	}
	if got, want := atLeast.String(), "≥ 1 in every round, median ≥ 1.2"; got != want {
		t.Errorf("goal %q, want %q", got, want)
	}
}
