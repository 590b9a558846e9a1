package normalize

import (
	"strings"
	"testing"
)

// A grayscale dataset has no channels to name: the error for constant
// pixels does not speak of "channel 0".
func TestConstantGrayscaleErrorNamesNoChannel(t *testing.T) {
	h := NewHistograms(1)
	h.Add([]uint8{5, 5, 5, 5})
	_, _, err := h.MeanStd()
	if err == nil {
		t.Fatal("constant pixels accepted")
	}
	if strings.Contains(err.Error(), "channel") {
		t.Fatalf("grayscale error names a channel: %v", err)
	}
}
