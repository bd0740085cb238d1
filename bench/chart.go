//go:build linux

package main

import (
	"errors"
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// chart draws, for every metric with ratios, one bar per mode: the median
// over rounds of its ratio to kernel VXLAN, with kernel VXLAN at the dashed
// line 1. It saves the chart as a PNG at path.
func (rep *report) chart(path string) error {
	ms, modes := rep.charted()
	if len(ms) == 0 || len(modes) == 0 {
		return errors.New("chart: no ratios to kernel VXLAN to draw")
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("weft vs kernel VXLAN (= 1): median of per-round ratios, %d round%s", rep.Config.Rounds, plural(rep.Config.Rounds))
	p.Y.Label.Text = "ratio to kernel VXLAN"
	p.Y.Min, p.Y.Max = 0, 1.15*max(1, maxRatio(ms)) // room for the labels
	p.Legend.Top = true
	p.Legend.Left = true
	width := vg.Points(min(18, 80/float64(len(modes))))
	for i, mode := range modes {
		bars, labels, err := modeBars(ms, mode, width)
		if err != nil {
			return err
		}
		offset := (vg.Length(i) - vg.Length(len(modes)-1)/2) * width
		bars.Offset, labels.Offset.X = offset, offset
		bars.Color = plotutil.Color(i)
		p.Add(bars, labels)
		p.Legend.Add(mode, bars)
	}
	one, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 1}, {X: float64(len(ms)) - 0.5, Y: 1}})
	if err != nil {
		return err
	}
	one.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	one.Color = color.Gray{Y: 80}
	p.Add(one)
	var names []string
	for _, m := range ms {
		names = append(names, chartLabel(m.metric))
	}
	p.NominalX(names...)
	return p.Save(vg.Length(2+1.4*float64(len(ms)))*vg.Inch, 5*vg.Inch, path)
}

// charted returns the metrics that have a ratio for some mode, and the
// modes other than the baseline.
func (rep *report) charted() ([]metricSummary, []string) {
	var ms []metricSummary
	for _, m := range rep.Metrics {
		for _, x := range m.Modes {
			if len(x.Ratios) > 0 {
				ms = append(ms, m)
				break
			}
		}
	}
	var modes []string
	for _, mode := range rep.Config.Modes {
		if mode != baseline {
			modes = append(modes, mode)
		}
	}
	return ms, modes
}

// maxRatio is the largest median ratio of any mode.
func maxRatio(ms []metricSummary) float64 {
	var m float64
	for _, s := range ms {
		for _, x := range s.Modes {
			m = max(m, x.RatioMedian)
		}
	}
	return m
}

// modeBars makes mode's bars, 0 where it has no ratio, and their values as
// labels above them.
func modeBars(ms []metricSummary, mode string, width vg.Length) (*plotter.BarChart, *plotter.Labels, error) {
	vals := make(plotter.Values, len(ms))
	xy := plotter.XYLabels{XYs: make(plotter.XYs, len(ms)), Labels: make([]string, len(ms))}
	for i, m := range ms {
		xy.XYs[i].X = float64(i)
		for _, x := range m.Modes {
			if x.Mode == mode && len(x.Ratios) > 0 {
				vals[i], xy.XYs[i].Y, xy.Labels[i] = x.RatioMedian, x.RatioMedian, fmt.Sprintf("%.2f", x.RatioMedian)
			}
		}
	}
	bars, err := plotter.NewBarChart(vals, width)
	if err != nil {
		return nil, nil, err
	}
	bars.LineStyle.Width = 0
	labels, err := plotter.NewLabels(xy)
	if err != nil {
		return nil, nil, err
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].Font.Size = vg.Points(6)
		labels.TextStyle[i].XAlign = draw.XCenter
		labels.TextStyle[i].YAlign = text.YBottom
	}
	return bars, labels, nil
}

// chartLabel is a metric's name under its bars.
func chartLabel(m metric) string {
	if m.Lower {
		return m.short + "\n(lower is better)"
	}
	return m.short
}
