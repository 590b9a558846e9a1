// Package curves plots a run's loss and accuracy per epoch as a PNG, so a
// user can see at a glance whether training converged or overfit.
package curves

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Point is one epoch's values.
type Point struct {
	Epoch              int
	TrainLoss, ValLoss float64
	TrainAcc, ValAcc   float64
	HasVal             bool
}

// WritePNG writes a two-panel figure (loss, accuracy) to path.
func WritePNG(path, title string, pts []Point) error {
	if len(pts) == 0 {
		return fmt.Errorf("curves: no epochs to plot")
	}
	loss := plot.New()
	loss.Title.Text = title + " — loss"
	loss.X.Label.Text, loss.Y.Label.Text = "epoch", "cross-entropy"
	acc := plot.New()
	acc.Title.Text = title + " — accuracy"
	acc.X.Label.Text, acc.Y.Label.Text = "epoch", "accuracy"
	series := func(get func(Point) float64, val bool) plotter.XYs {
		var xy plotter.XYs
		for _, p := range pts {
			if val && !p.HasVal {
				continue
			}
			xy = append(xy, plotter.XY{X: float64(p.Epoch), Y: get(p)})
		}
		return xy
	}
	blue, orange := color.RGBA{31, 119, 180, 255}, color.RGBA{255, 127, 14, 255}
	add := func(p *plot.Plot, name string, xy plotter.XYs, c color.Color) error {
		if len(xy) == 0 {
			return nil
		}
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return err
		}
		l.Color, s.Color = c, c
		p.Add(l, s)
		p.Legend.Add(name, l, s)
		return nil
	}
	for _, e := range []error{
		add(loss, "train", series(func(p Point) float64 { return p.TrainLoss }, false), blue),
		add(loss, "val", series(func(p Point) float64 { return p.ValLoss }, true), orange),
		add(acc, "train", series(func(p Point) float64 { return p.TrainAcc }, false), blue),
		add(acc, "val", series(func(p Point) float64 { return p.ValAcc }, true), orange),
	} {
		if e != nil {
			return e
		}
	}
	loss.Legend.Top, acc.Legend.Top = true, false
	img := vgimg.New(10*vg.Inch, 4*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 2, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{{loss, acc}}, tiles, dc)
	loss.Draw(canvases[0][0])
	acc.Draw(canvases[0][1])
	return writePNG(path, img)
}
