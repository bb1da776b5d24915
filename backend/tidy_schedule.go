package backend

import (
	"context"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// A tidySchedule says when the periodic tidy is next due, in storage at
// tidyScheduleKey: so a plugin restart or a leader change keeps the hourly
// rhythm instead of tidying at its first periodic call. At 200,000 records
// a tidy lists every loose entry and deletes the loose copies of the packed
// ones: a minute of storage work, which every start used to add to the
// busiest moment of a new active node.
type tidySchedule struct {
	Due time.Time `json:"due"`
}

// tidyDue reports whether the periodic tidy is due at now. A mount without
// a schedule (new, or written before schedules) gets one, tidyInterval
// from now, and is not due: a new mount has nothing to tidy, and one from
// before is tidied an interval after its first periodic call, whatever
// restarts come between.
func tidyDue(ctx context.Context, s logical.Storage, now time.Time) (bool, error) {
	var sched tidySchedule
	found, err := getJSON(ctx, s, tidyScheduleKey, &sched)
	if err != nil {
		return false, err
	}
	if !found {
		return false, scheduleTidy(ctx, s, now)
	}
	return !now.Before(sched.Due), nil
}

// scheduleTidy stores the next periodic tidy tidyInterval after now, the
// end of a tidy.
func scheduleTidy(ctx context.Context, s logical.Storage, now time.Time) error {
	return putJSON(ctx, s, tidyScheduleKey, &tidySchedule{Due: now.Add(tidyInterval).UTC()})
}
