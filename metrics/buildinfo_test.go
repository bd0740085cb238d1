package metrics

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfo(t *testing.T) {
	want := `
# HELP weft_build_info Always 1; the labels say which weft version and Go release built the daemon.
# TYPE weft_build_info gauge
weft_build_info{goversion="` + runtime.Version() + `",version="` + Version() + `"} 1
`
	if err := testutil.CollectAndCompare(BuildInfo(), strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
