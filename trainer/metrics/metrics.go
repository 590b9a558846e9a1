// Package metrics turns predictions into the numbers a training run reports:
// accuracy, per-class precision, recall and F1, and the confusion matrix.
package metrics

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Confusion counts predictions: M[true][predicted].
type Confusion struct {
	Classes []string
	M       [][]int
}

// NewConfusion returns an empty matrix for the named classes.
func NewConfusion(classes []string) *Confusion {
	m := make([][]int, len(classes))
	for i := range m {
		m[i] = make([]int, len(classes))
	}
	return &Confusion{Classes: classes, M: m}
}

// Add counts one batch of labels and predictions.
func (c *Confusion) Add(labels []uint8, preds []int) {
	for i, l := range labels {
		c.M[l][preds[i]]++
	}
}

// Total is the number of counted examples.
func (c *Confusion) Total() int {
	n := 0
	for _, row := range c.M {
		for _, v := range row {
			n += v
		}
	}
	return n
}

// Accuracy is the fraction of correct predictions.
func (c *Confusion) Accuracy() float64 {
	correct := 0
	for i := range c.M {
		correct += c.M[i][i]
	}
	if t := c.Total(); t > 0 {
		return float64(correct) / float64(t)
	}
	return 0
}

// ClassScore is precision, recall and F1 of one class.
type ClassScore struct {
	Class     string  `json:"class"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

// PerClass returns the scores of every class (0 where undefined).
func (c *Confusion) PerClass() []ClassScore {
	out := make([]ClassScore, len(c.M))
	for k := range c.M {
		tp, predicted, actual := c.M[k][k], 0, 0
		for i := range c.M {
			predicted += c.M[i][k]
			actual += c.M[k][i]
		}
		s := ClassScore{Class: c.Classes[k], Support: actual}
		if predicted > 0 {
			s.Precision = float64(tp) / float64(predicted)
		}
		if actual > 0 {
			s.Recall = float64(tp) / float64(actual)
		}
		if s.Precision+s.Recall > 0 {
			s.F1 = 2 * s.Precision * s.Recall / (s.Precision + s.Recall)
		}
		out[k] = s
	}
	return out
}

// Report is the JSON form of an evaluation.
type Report struct {
	Accuracy  float64      `json:"accuracy"`
	Examples  int          `json:"examples"`
	PerClass  []ClassScore `json:"per_class"`
	Confusion [][]int      `json:"confusion"`
}

// Report returns the JSON form.
func (c *Confusion) Report() Report {
	return Report{Accuracy: c.Accuracy(), Examples: c.Total(), PerClass: c.PerClass(), Confusion: c.M}
}

// Print writes the per-class table and the confusion matrix.
func (c *Confusion) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tprecision\trecall\tf1\tsupport\t")
	for _, s := range c.PerClass() {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%d\t\n", s.Class, s.Precision, s.Recall, s.F1, s.Support)
	}
	tw.Flush()
	fmt.Fprintln(w, "confusion matrix (rows: true class, columns: predicted):")
	tw = tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\t%s\t\n", strings.Join(c.Classes, "\t"))
	for i, row := range c.M {
		cells := make([]string, len(row))
		for j, v := range row {
			cells[j] = fmt.Sprint(v)
		}
		fmt.Fprintf(tw, "%s\t%s\t\n", c.Classes[i], strings.Join(cells, "\t"))
	}
	tw.Flush()
}
