package sweep

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/shardsmith/shardsmith/internal/durable"
)

// curvesShown is how many of the best trials get their curves drawn.
const curvesShown = 5

// WritePlot writes sweep.png for a ranked record: for each swept
// parameter, the final val accuracy of every trial against its value
// (finished trials filled, trials halving stopped hollow, the chosen one
// ringed), and the val accuracy per epoch of the best trials.
func WritePlot(path string, rec *Record) error {
	if len(rec.Trials) == 0 {
		return fmt.Errorf("sweep plot: no trials")
	}
	var plots []*plot.Plot
	for _, p := range rec.Space.Params {
		pl, err := paramPlot(rec, p)
		if err != nil {
			return err
		}
		plots = append(plots, pl)
	}
	cp, err := curvesPlot(rec)
	if err != nil {
		return err
	}
	plots = append(plots, cp)
	cols := min(3, len(plots))
	rows := (len(plots) + cols - 1) / cols
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
	}
	for i, p := range plots {
		grid[i/cols][i%cols] = p
	}
	img := vgimg.New(vg.Length(cols)*4.5*vg.Inch, vg.Length(rows)*3.6*vg.Inch)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 6,
		PadTop: vg.Millimeter * 3, PadBottom: vg.Millimeter * 3, PadLeft: vg.Millimeter * 3, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(grid, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[i/cols][i%cols])
	}
	return durable.Write(path, 0o644, func(w io.Writer) error {
		_, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w)
		return err
	})
}

var (
	blue   = color.RGBA{31, 119, 180, 255}
	grey   = color.RGBA{150, 150, 150, 255}
	red    = color.RGBA{214, 39, 40, 255}
	series = []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {148, 103, 189, 255}, {140, 86, 75, 255}}
)

// paramPlot is val accuracy against one parameter. A numeric parameter
// is plotted at its values (on a log axis when loguniform, or when its
// positive values span a factor of 8 or more); any other is plotted at
// the index of its value, with the values as tick labels.
func paramPlot(rec *Record, p Param) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = "val accuracy vs " + p.Name
	pl.X.Label.Text, pl.Y.Label.Text = p.Name, "val accuracy"
	x := map[string]float64{}
	var labels []string
	numeric, positive := true, true
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, t := range rec.Trials {
		v := valueOf(t.Values, p.Name)
		if _, ok := x[v]; ok || t.Epochs == 0 {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			numeric = false
		}
		positive = positive && f > 0
		lo, hi = min(lo, f), max(hi, f)
		x[v] = f
		labels = append(labels, v)
	}
	if !numeric {
		for i, v := range labels {
			x[v] = float64(i)
		}
		pl.NominalX(labels...)
	} else if positive && hi > lo && (p.Kind == LogUniform || hi/lo >= 8) {
		pl.X.Scale = plot.LogScale{}
		pl.X.Tick.Marker = plot.LogTicks{Prec: -1}
		pl.X.Min, pl.X.Max = lo/1.5, hi*1.5 // a margin, in the log scale's terms
	}
	if numeric && p.Kind == Grid {
		// A grid has few values: mark exactly those.
		ticks := make(plot.ConstantTicks, len(labels))
		for i, v := range labels {
			ticks[i] = plot.Tick{Value: x[v], Label: v}
		}
		pl.X.Tick.Marker = ticks
	}
	var done, stopped, chosen plotter.XYs
	for _, t := range rec.Trials {
		if t.Epochs == 0 {
			continue
		}
		pt := plotter.XY{X: x[valueOf(t.Values, p.Name)], Y: t.ValAcc}
		switch {
		case t.ID == rec.Chosen:
			chosen = append(chosen, pt)
			done = append(done, pt)
		case finished(&t):
			done = append(done, pt)
		default:
			stopped = append(stopped, pt)
		}
	}
	add := func(xy plotter.XYs, shape draw.GlyphDrawer, c color.Color, radius vg.Length, name string) error {
		if len(xy) == 0 {
			return nil
		}
		s, err := plotter.NewScatter(xy)
		if err != nil {
			return err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: c, Radius: radius, Shape: shape}
		pl.Add(s)
		pl.Legend.Add(name, s)
		return nil
	}
	for _, e := range []error{
		add(done, draw.CircleGlyph{}, blue, vg.Points(3), "finished"),
		add(stopped, draw.RingGlyph{}, grey, vg.Points(3), "stopped by halving"),
		add(chosen, draw.RingGlyph{}, red, vg.Points(6), "chosen on val"),
	} {
		if e != nil {
			return nil, e
		}
	}
	legendRoom(pl)
	pl.Add(plotter.NewGrid())
	return pl, nil
}

// legendRoom puts the legend at the top right, above the data: the y axis
// is extended by 40% so that no point hides behind it.
func legendRoom(pl *plot.Plot) {
	lo, hi := pl.Y.Min, pl.Y.Max
	pl.Y.Max = hi + max(0.4*(hi-lo), 0.01)
	pl.Legend.Top, pl.Legend.Left = true, false
}

func valueOf(vals []Value, name string) string {
	for _, v := range vals {
		if v.Name == name {
			return v.Value
		}
	}
	return ""
}

// curvesPlot is the val accuracy per epoch of the best trials (rec is
// ranked).
func curvesPlot(rec *Record) (*plot.Plot, error) {
	pl := plot.New()
	pl.Title.Text = fmt.Sprintf("val accuracy per epoch, best %d trials", min(curvesShown, len(rec.Trials)))
	pl.X.Label.Text, pl.Y.Label.Text = "epoch", "val accuracy"
	shown := 0
	for _, t := range rec.Trials {
		if shown == curvesShown {
			break
		}
		if len(t.History) == 0 {
			continue
		}
		xy := make(plotter.XYs, len(t.History))
		for i, h := range t.History {
			xy[i] = plotter.XY{X: float64(h.Epoch), Y: h.ValAcc}
		}
		l, s, err := plotter.NewLinePoints(xy)
		if err != nil {
			return nil, err
		}
		c := series[shown%len(series)]
		l.Color, s.Color = c, c
		pl.Add(l, s)
		pl.Legend.Add(fmt.Sprintf("trial %d", t.ID), l, s)
		shown++
	}
	legendRoom(pl)
	pl.X.Tick.Marker = plot.TickerFunc(integerTicks)
	pl.Add(plotter.NewGrid())
	return pl, nil
}

// integerTicks marks whole epochs only.
func integerTicks(lo, hi float64) []plot.Tick {
	var t []plot.Tick
	step := math.Max(1, math.Ceil((hi-lo)/8))
	for e := math.Ceil(lo); e <= hi; e += step {
		t = append(t, plot.Tick{Value: e, Label: strconv.Itoa(int(e))})
	}
	return t
}
