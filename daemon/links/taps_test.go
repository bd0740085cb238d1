package links

import (
	"errors"
	"slices"
	"testing"

	"github.com/weftnet/weft/tap"
	"github.com/weftnet/weft/tap/taptest"
)

// TestOpenOffloaded: a TAP is opened with its offloads, or without where
// the kernel refuses them, which is reported once the TAP is open; a TAP
// that cannot be opened at all is an error, and no refusal.
func TestOpenOffloaded(t *testing.T) {
	refusal := errors.New("TUNSETOFFLOAD: invalid argument")
	for _, tc := range []struct {
		name          string
		withErr       error // opening with offloads
		plainErr      error // opening without
		wantAsked     []bool
		wantRefusals  int
		wantOpenError bool
	}{
		{"granted", nil, nil, []bool{true}, 0, false},
		{"refused", refusal, nil, []bool{true, false}, 1, false},
		{"cannot open at all", refusal, errors.New("TUNSETIFF: device or resource busy"), []bool{true, false}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var asked []bool
			var refused []error
			devs, err := openOffloaded("wt-42", func(offload bool) ([]tap.Device, error) {
				asked = append(asked, offload)
				if offload && tc.withErr != nil {
					return nil, tc.withErr
				}
				if !offload && tc.plainErr != nil {
					return nil, tc.plainErr
				}
				return []tap.Device{taptest.New("wt-42", 8)}, nil
			}, func(name string, err error) {
				if name != "wt-42" {
					t.Errorf("refusal reported for %q; want wt-42", name)
				}
				refused = append(refused, err)
			})
			if (err != nil) != tc.wantOpenError || err == nil && len(devs) != 1 {
				t.Fatalf("got %v, %v; want its device, or an error: %v", devs, err, tc.wantOpenError)
			}
			if !slices.Equal(asked, tc.wantAsked) {
				t.Errorf("opened with offloads: %v; want %v", asked, tc.wantAsked)
			}
			if len(refused) != tc.wantRefusals || len(refused) == 1 && !errors.Is(refused[0], refusal) {
				t.Errorf("refusals reported: %v; want %d of %v", refused, tc.wantRefusals, refusal)
			}
		})
	}
}
