package optim

import "testing"

type halfAtZero struct{}

func (halfAtZero) Factor(step int64) float64 { return 0.5 + float64(step) }

// The schedules at their edges: degenerate sizes mean a constant rate (not
// a division by zero), warm-up hands over to its successor exactly at
// Steps (whose own count starts there at 0), and the config's ranges are
// inclusive where the messages say so.
func TestScheduleEdges(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Schedule
		step int64
		want float64
	}{
		{"step size 0", StepDecay{StepSize: 0, Gamma: 0.5}, 7, 1},
		{"cosine of 0 steps", Cosine{Total: 0, MinFactor: 0.1}, 3, 1},
		{"cosine at its end", Cosine{Total: 10, MinFactor: 0.1}, 10, 0.1},
		{"warm-up before the hand-over", Warmup{Steps: 4, Start: 0, Then: halfAtZero{}}, 3, 0.75},
		{"warm-up at the hand-over", Warmup{Steps: 4, Start: 0, Then: halfAtZero{}}, 4, 0.5},
		{"warm-up after the hand-over", Warmup{Steps: 4, Start: 0, Then: halfAtZero{}}, 6, 2.5},
	} {
		if got := tc.s.Factor(tc.step); got != tc.want {
			t.Errorf("%s: factor at %d = %v, want %v", tc.name, tc.step, got, tc.want)
		}
	}
	for _, tc := range []struct {
		cfg ScheduleConfig
		ok  bool
	}{
		{ScheduleConfig{Kind: "step", StepSize: 0, Gamma: 0.5}, false},
		{ScheduleConfig{Kind: "step", StepSize: 1, Gamma: 0}, false},
		{ScheduleConfig{Kind: "step", StepSize: 1, Gamma: 1e-9}, true},
		{ScheduleConfig{Kind: "cosine", TotalSteps: 0}, false},
		{ScheduleConfig{Kind: "cosine", TotalSteps: 1, MinFactor: 1}, true},
		{ScheduleConfig{Kind: "cosine", TotalSteps: 1, MinFactor: 0}, true},
		{ScheduleConfig{WarmupSteps: 3, WarmupStart: 1}, true},
		{ScheduleConfig{WarmupSteps: 3, WarmupStart: 0}, true},
		{ScheduleConfig{WarmupSteps: 3, WarmupStart: -0.1}, false},
		{ScheduleConfig{WarmupSteps: 3, WarmupStart: 1.1}, false},
	} {
		if _, err := tc.cfg.Schedule(); (err == nil) != tc.ok {
			t.Errorf("%+v: err = %v, want ok = %v", tc.cfg, err, tc.ok)
		}
	}
}
