package metrics

import (
	"runtime"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weftnet/weft/internal/version"
)

// Version returns the version of the running weft binary (see
// version.Build).
func Version() string { return version.Current().Version }

// BuildInfo returns a collector of weft_build_info, a gauge of 1 whose
// labels say which weft and which Go the daemon was built with.
func BuildInfo() prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "weft_build_info",
		Help:        "Always 1; the labels say which weft version and Go release built the daemon.",
		ConstLabels: prometheus.Labels{"version": Version(), "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}
