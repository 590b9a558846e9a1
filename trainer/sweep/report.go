package sweep

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// PrintTable writes the report of a ranked record: one row per trial,
// best val accuracy first (its swept values, val loss and accuracy, epochs
// run, training seconds, status), then the trial chosen on val and its test
// result.
func PrintTable(w io.Writer, dir string, rec *Record) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := []string{"trial"}
	for _, p := range rec.Space.Params {
		head = append(head, p.Name)
	}
	head = append(head, "val loss", "val acc", "epochs", "seconds", "status")
	fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
	for _, t := range rec.Trials {
		mark := ""
		if t.ID == rec.Chosen {
			mark = "*"
		}
		row := []string{fmt.Sprintf("%s%d", mark, t.ID)}
		for _, v := range t.Values {
			row = append(row, v.Value)
		}
		row = append(row, fmt.Sprintf("%.4f", t.ValLoss), fmt.Sprintf("%.4f", t.ValAcc), fmt.Sprint(t.Epochs),
			fmt.Sprintf("%.1f", t.Seconds), t.Status)
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	epochs := 0
	for _, t := range rec.Trials {
		epochs += t.Epochs
	}
	fmt.Fprintf(w, "%d trials, %d epochs trained of %d without halving; sorted by val accuracy\n",
		len(rec.Trials), epochs, len(rec.Trials)*rec.Epochs)
	if rec.Chosen < 0 {
		return nil
	}
	var chosen *TrialRecord
	for i := range rec.Trials {
		if rec.Trials[i].ID == rec.Chosen {
			chosen = &rec.Trials[i]
		}
	}
	fmt.Fprintf(w, "chosen on val: *%d  %s  (run %s)\n", chosen.ID, strings.Join(Args(chosen.Values), " "), filepath.Join(dir, chosen.Dir))
	if rec.Test == nil {
		fmt.Fprintln(w, "the dataset has no test split: no test accuracy")
		return nil
	}
	fmt.Fprintf(w, "test accuracy %.4f  loss %.4f  (the test split was read once, for the chosen trial only)\n", rec.Test.Accuracy, rec.Test.Loss)
	return nil
}
