//go:build linux

package main

import (
	"fmt"
	"slices"
	"strings"
)

// busyWarn is the share of CPU time busy before a topology's tests, with
// the topology idle, above which the report warns of other load.
const busyWarn = 0.15

// markdown renders the medians per metric and mode, with each mode's median
// ratio to kernel VXLAN, then the notes and whatever went wrong.
func (rep *report) markdown() string {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "## weft vs kernel VXLAN: medians of %d round%s\n\n", rep.Config.Rounds, plural(rep.Config.Rounds))
	about := []string{rep.Date, rep.Commit, fmt.Sprintf("%d CPUs (%s)", m.NProc, m.CPUModel), "Linux " + m.Kernel, m.Iperf3,
		fmt.Sprintf("run took %.0f s", rep.Elapsed)}
	fmt.Fprintf(&b, "%s\n\n", strings.Join(slices.DeleteFunc(about, func(s string) bool { return s == "" }), ", "))
	rep.table(&b)
	fmt.Fprintf(&b, "\nIn parentheses: the median over rounds of the ratio to %s in the same round.\n", baseline)
	if mtus := rep.mtus(); mtus != "" {
		fmt.Fprintf(&b, "Container MTU: %s.\n", mtus)
	}
	b.WriteString("\n")
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	rep.problems(&b)
	return b.String()
}

// table writes the metrics × modes table.
func (rep *report) table(b *strings.Builder) {
	b.WriteString("| metric | unit |")
	for _, mode := range rep.Config.Modes {
		fmt.Fprintf(b, " %s |", mode)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---:|", len(rep.Config.Modes)) + "\n")
	for _, ms := range rep.Metrics {
		fmt.Fprintf(b, "| %s | %s |", ms.Label, ms.Unit)
		for _, x := range ms.Modes {
			fmt.Fprintf(b, " %s |", ms.cell(x))
		}
		b.WriteString("\n")
	}
}

// cell shows a mode's median and its median ratio to the baseline.
func (ms metricSummary) cell(x modeSummary) string {
	if len(x.Values) == 0 {
		return "—"
	}
	s := ms.show(x.Median)
	if x.Mode != baseline && len(x.Ratios) > 0 {
		s += fmt.Sprintf(" (%.2f×)", x.RatioMedian)
	}
	return s
}

// mtus lists each mode's container MTU, as its first topology had it.
func (rep *report) mtus() string {
	var parts []string
	for _, mode := range rep.Config.Modes {
		for _, t := range rep.Topologies {
			if t.Mode == mode && t.MTU > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", mode, t.MTU))
				break
			}
		}
	}
	return strings.Join(parts, ", ")
}

// problems lists the topologies and tests that failed, and those that
// started on a busy machine.
func (rep *report) problems(b *strings.Builder) {
	for _, t := range rep.Topologies {
		if t.Error != "" {
			fmt.Fprintf(b, "\nround %d %s: no topology: %s\n", t.Round, t.Mode, t.Error)
		}
		if t.BusyBefore > busyWarn {
			fmt.Fprintf(b, "\nwarning: round %d %s: the CPUs were %.0f%% busy just before the tests; something else is loading the machine\n",
				t.Round, t.Mode, 100*t.BusyBefore)
		}
	}
	for _, s := range rep.Samples {
		if s.Error != "" {
			fmt.Fprintf(b, "\nround %d %s: %s\n", s.Round, s.Mode, s.brief())
		}
	}
}
