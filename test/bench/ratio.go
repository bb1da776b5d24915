package main

import (
	"fmt"
	"slices"
)

// ratioStats summarizes the per-round ratios of ours to an anchor measured
// in the same round: on a machine shared with other work, a round's two
// runs see about the same load, so their ratio is steadier than either
// figure, and the range says how steady.
type ratioStats struct {
	Rounds int       `json:"rounds"`
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Ratios []float64 `json:"per_round"`
}

// pairedRatios divides ours[i] by anchor[i], round by round. The slices
// have one figure per round each, in the same order; a round whose anchor
// is zero is left out.
func pairedRatios(ours, anchor []float64) ratioStats {
	var s ratioStats
	for i := range min(len(ours), len(anchor)) {
		if anchor[i] == 0 {
			continue
		}
		s.Ratios = append(s.Ratios, ours[i]/anchor[i])
	}
	s.Rounds = len(s.Ratios)
	if s.Rounds == 0 {
		return s
	}
	s.Median = median(s.Ratios)
	s.Min, s.Max = slices.Min(s.Ratios), slices.Max(s.Ratios)
	return s
}

// String is "median (min–max, n rounds)".
func (s ratioStats) String() string {
	if s.Rounds == 0 {
		return "no rounds"
	}
	if s.Rounds == 1 {
		return fmt.Sprintf("%.2f (1 round)", s.Median)
	}
	return fmt.Sprintf("%.2f (%.2f–%.2f, %d rounds)", s.Median, s.Min, s.Max, s.Rounds)
}

// A ratioGoal bounds a ratio: every round's ratio must be at least (or,
// with AtMost, at most) Bound, and the median too must meet MedianBound
// when it is set (non-zero).
type ratioGoal struct {
	Bound       float64
	AtMost      bool
	MedianBound float64
}

// String is the goal as the table shows it.
func (g ratioGoal) String() string {
	op := "≥"
	if g.AtMost {
		op = "≤"
	}
	s := fmt.Sprintf("%s %.2g in every round", op, g.Bound)
	if g.MedianBound != 0 {
		s += fmt.Sprintf(", median %s %.2g", op, g.MedianBound)
	}
	return s
}

// meets reports whether x is on the goal's side of bound.
func (g ratioGoal) meets(x, bound float64) bool {
	if g.AtMost {
		return x <= bound
	}
	return x >= bound
}

// verdict is "met" when the whole range (and the median) meets the goal;
// otherwise "MISSED", saying when the median alone would have passed, so
// that a goal met only in some rounds is never counted as met.
func (g ratioGoal) verdict(s ratioStats) string {
	if s.Rounds == 0 {
		return "MISSED (no rounds)"
	}
	medianOK := g.meets(s.Median, g.Bound) && (g.MedianBound == 0 || g.meets(s.Median, g.MedianBound))
	worst := s.Min
	if g.AtMost {
		worst = s.Max
	}
	switch {
	case medianOK && g.meets(worst, g.Bound):
		return "met"
	case medianOK:
		return "MISSED (median meets it, not every round)"
	case g.meets(s.Median, g.Bound):
		return "MISSED (every round meets the bound, not the median goal)"
	}
	return "MISSED"
}

// spread summarizes figures of one kind over rounds (a time, say) as
// pairedRatios summarizes ratios: median, min and max.
func spread(xs []float64) ratioStats { return pairedRatios(xs, ones(len(xs))) }

// ones is n ones.
func ones(n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = 1
	}
	return xs
}
