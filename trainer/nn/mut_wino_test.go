package nn

import "testing"

// Each worker's transformed input and output buffers of a Winograd layer
// stay within winoBudget floats (one image per group when a single image
// needs more), and the images are still grouped when the budget holds
// several.
func TestWinogradGroupsWithinBudget(t *testing.T) {
	defer func(b int) { winoBudget = b }(winoBudget)
	for _, tc := range []struct {
		in, out, n, h, w, pad, budget int
	}{
		{4, 6, 40, 10, 10, 1, 1 << 14}, // 25 tiles, 4000 floats an image
		{8, 8, 64, 6, 7, 0, 1 << 12},
		{4, 4, 9, 5, 5, 1, 1 << 18},
		{4, 4, 9, 12, 12, 1, 1}, // more than the budget for one image
	} {
		winoBudget = tc.budget
		c := winoLayer(t, testRNG(48), tc.in, tc.out, tc.pad)
		x := randTensor(testRNG(49), false, tc.n, tc.in, tc.h, tc.w)
		c.Forward(x, false)
		if !c.winoOn() {
			t.Fatalf("%+v: not on the Winograd path", tc)
		}
		tiles := c.ws.th * c.ws.tw
		per := 16 * (tc.in + tc.out) * tiles
		if got := per * c.group; c.group > 1 && got > tc.budget {
			t.Errorf("%+v: %d images a group, %d floats of transformed buffers > %d", tc, c.group, got, tc.budget)
		}
		if c.groups != (tc.n+c.group-1)/c.group {
			t.Errorf("%+v: %d groups of %d for %d images", tc, c.groups, c.group, tc.n)
		}
		if tc.budget >= 4*per && c.group < 2 {
			t.Errorf("%+v: one image a group with room for %d", tc, tc.budget/per)
		}
	}
}
